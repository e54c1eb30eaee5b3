"""A tiny HRM and random puzzle batches for the model tests."""

from __future__ import annotations

import dataclasses

import torch

from hrm_pipeline.model import HRM, HRMConfig

TINY = dict(
    vocab_size=11,
    seq_len=16,
    num_puzzle_identifiers=6,
    hidden_size=32,
    num_heads=2,
    H_layers=1,
    L_layers=1,
    halt_max_steps=4,
)


def tiny_config(**overrides) -> HRMConfig:
    return HRMConfig(**{**TINY, **overrides})


def make_batch(cfg: HRMConfig, size: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "inputs": torch.randint(0, cfg.vocab_size, (size, cfg.seq_len), generator=g),
        "labels": torch.randint(0, cfg.vocab_size, (size, cfg.seq_len), generator=g),
        "puzzle_identifiers": torch.randint(0, cfg.num_puzzle_identifiers, (size,), generator=g),
    }


def make_model(cfg: HRMConfig, seed: int = 0) -> HRM:
    return HRM(cfg, generator=torch.Generator().manual_seed(seed))


def with_cycles(cfg: HRMConfig, h: int, l_cycles: int) -> HRMConfig:
    return dataclasses.replace(cfg, H_cycles=h, L_cycles=l_cycles)


def tiny_config_for(meta, halt_max_steps: int) -> HRMConfig:
    """The smallest HRM that fits a dataset's metadata (ARC needs puzzle identities, the others none)."""
    return HRMConfig(
        vocab_size=meta.vocab_size,
        seq_len=meta.seq_len,
        num_puzzle_identifiers=meta.num_puzzle_identifiers,
        hidden_size=16,
        num_heads=2,
        H_layers=1,
        L_layers=1,
        H_cycles=1,
        L_cycles=1,
        puzzle_emb_ndim=16 if meta.dataset == "arc" else 0,
        pos_encodings="learned",
        halt_max_steps=halt_max_steps,
    )


def deep_supervision_losses(model, batch, optimizers, steps: int) -> list[float]:
    """Per-row answer loss of ``steps`` ACT segments, one optimizer step each, the carry kept between them."""
    from hrm_pipeline.model import compute_loss

    carry, g = model.initial_carry(batch), torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        carry, out = model(carry, batch, generator=g)
        loss, metrics = compute_loss(carry, out)
        loss.backward()
        for opt in optimizers:
            opt.step()
            opt.zero_grad()
        losses.append(metrics["lm_loss"].item() / batch["inputs"].shape[0])
    return losses
