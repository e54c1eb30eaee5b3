"""A tiny model config and a short training config for the training and fault tests."""

from __future__ import annotations

from hrm_pipeline.model import HRMConfig
from hrm_pipeline.train import TrainConfig


def tiny_model_config(num_puzzle_identifiers: int = 1, **overrides) -> HRMConfig:
    fields = dict(
        vocab_size=6,
        seq_len=16,
        num_puzzle_identifiers=num_puzzle_identifiers,
        hidden_size=32,
        num_heads=2,
        H_layers=1,
        L_layers=1,
        H_cycles=2,
        L_cycles=2,
        puzzle_emb_ndim=0,
        halt_max_steps=3,
    )
    fields.update(overrides)
    return HRMConfig(**fields)


def short_train_config(**overrides) -> TrainConfig:
    """A few optimizer steps on the toy data, one thread (extra threads only spin on a loaded CPU)."""
    fields = dict(
        global_batch_size=16,
        lr=3e-3,
        lr_warmup_steps=2,
        lr_min_ratio=0.1,
        weight_decay=0.1,
        epochs=1000,
        max_steps=8,
        eval_interval=0,
        checkpoint_interval=3,
        log_interval=1,
        progress=False,
        seed=11,
        num_threads=1,
    )
    fields.update(overrides)
    return TrainConfig(**fields)
