"""Training configuration: the ``train`` section of ``params.yaml`` as a plain dataclass."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    """Every field has a default so a partial YAML section (or none) still gives a runnable config.

    Defaults are the paper's Sudoku-Extreme 1k recipe where one exists (hrm.md, "Optimisation").
    """

    # Batch: global over all ranks; each rank takes global_batch_size / world_size rows, split again into
    # grad_accum_steps micro-batches (each with its own ACT carry).
    global_batch_size: int = 768
    grad_accum_steps: int = 1
    # Optimiser (Adam-atan2 for the network, sign-SGD for the puzzle embedding; see hrm_pipeline.model).
    lr: float = 1e-4
    lr_min_ratio: float = 1.0  # cosine floor as a fraction of lr; 1.0 = constant after warmup
    lr_warmup_steps: int = 2000
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.95
    puzzle_emb_lr: float = 1e-4
    puzzle_emb_weight_decay: float = 1.0
    adam_atan2: str = "reference"  # "reference" (m's bias correction outside the atan2) | "inside"
    # EMA of the trainable weights (TRM: 0.999); 0 = off. When on, evaluations and model.pt use the EMA
    # weights; the checkpoint holds both the live weights and the EMA.
    ema_decay: float = 0.0
    # Length: one epoch = one pass over the groups, one augmented puzzle per group, all its examples.
    epochs: int = 20000
    max_steps: int = 0  # cap on optimizer steps; 0 = none
    loss_type: str = "stablemax"  # "stablemax" | "softmax"
    grad_clip: float = 0.0  # global grad-norm clip; 0 = off
    seed: int = 0
    # Hardware.
    precision: str = "fp32"  # "fp32" | "bf16" (autocast); GPU runs want bf16
    compile: bool = False
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    # Processes the train stage runs under torchrun, one per GPU (gloo ranks on a CPU); 1 = this process.
    nproc_per_node: int = 1
    num_threads: int = 0  # torch intra-op threads; 0 = torch default
    # Bookkeeping.
    eval_interval: int = 2000  # steps; 0 = only at the end
    eval_max_examples: int = 0  # periodic eval on a fixed seeded subsample; 0 = all
    eval_batch_size: int = 0  # rows per eval batch; 0 = the per-rank training batch
    checkpoint_interval: int = 2000  # steps; 0 = only at the end
    log_interval: int = 10  # steps between host fetches of metrics and skip flags (the loop's only syncs)
    progress: bool = True
    # Non-finite guard: a step whose loss or gradient is NaN/inf is skipped (no update, counted); after
    # nonfinite_patience skips in a row the run goes back to its last good checkpoint with the lr scaled by
    # nonfinite_lr_factor, at most nonfinite_max_restores times before it stops with an error.
    # 0 patience = guard off. No host sync per step: the skip masks the update on the device; the count
    # and the restore happen at the next fetch (log_interval).
    nonfinite_patience: int = 3
    nonfinite_lr_factor: float = 0.5
    nonfinite_max_restores: int = 3

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if self.adam_atan2 not in ("reference", "inside"):
            raise ValueError(f"adam_atan2 must be 'reference' or 'inside', got {self.adam_atan2!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.global_batch_size <= 0 or self.grad_accum_steps <= 0:
            raise ValueError("global_batch_size and grad_accum_steps must be positive")
        if self.nproc_per_node < 1:
            raise ValueError(f"nproc_per_node must be >= 1, got {self.nproc_per_node}")
        if self.nonfinite_patience < 0 or self.nonfinite_max_restores < 0:
            raise ValueError("nonfinite_patience and nonfinite_max_restores must be >= 0")
        if not 0.0 < self.nonfinite_lr_factor < 1.0:
            raise ValueError(f"nonfinite_lr_factor must be in (0, 1), got {self.nonfinite_lr_factor}")
