"""The ``evaluate`` section of ``params.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvaluateConfig:
    """Every field has a default, so a missing section still evaluates the whole test split."""

    split: str = "test"
    # Rows to evaluate: 0 = the whole split; > 0 = a seeded sample of whole groups (an ARC task keeps all its
    # variants and test inputs, so its vote stays complete) holding at least this many rows.
    max_examples: int = 0
    seed: int = 0
    batch_size: int = 256
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    # Inference-time scaling: segments = factor x the trained halt_max_steps; 1 (the headline) is required.
    scaling_factors: list[int] = field(default_factory=lambda: [1, 2, 4])
    # ARC: a test input counts as passed at k when one of the k most voted answers is right.
    pass_k: list[int] = field(default_factory=lambda: [1, 2])
    # Participation ratio: at most this many puzzles' final states are kept (each is seq_len x hidden floats;
    # 512 maze puzzles at the paper's size hold ~1 GB per state).
    participation_max_puzzles: int = 512
    gallery_size: int = 6  # report pictures: up to this many right and this many wrong test puzzles

    def __post_init__(self) -> None:
        if self.split not in ("train", "test"):
            raise ValueError(f"evaluate.split must be 'train' or 'test', got {self.split!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"evaluate.device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.max_examples < 0 or self.participation_max_puzzles < 0 or self.gallery_size < 0:
            raise ValueError("evaluate.max_examples, participation_max_puzzles and gallery_size must be >= 0")
        if self.batch_size < 1:
            raise ValueError(f"evaluate.batch_size must be >= 1, got {self.batch_size}")
        if 1 not in self.scaling_factors or any(f < 1 for f in self.scaling_factors):
            raise ValueError(
                f"evaluate.scaling_factors must be >= 1 and include 1, got {self.scaling_factors}"
            )
        if not self.pass_k or any(k < 1 for k in self.pass_k):
            raise ValueError(f"evaluate.pass_k must be a non-empty list of k >= 1, got {self.pass_k}")
