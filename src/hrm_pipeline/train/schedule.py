"""Learning-rate schedule: linear warmup, then cosine decay to ``lr_min_ratio`` of the base rate."""

from __future__ import annotations

import math


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier on the base lr for optimizer step ``step`` (0-based).

    Warmup reaches 1.0 at step ``warmup_steps - 1``: the first step already moves (1/warmup) instead of
    wasting a step at lr 0. After warmup the factor follows half a cosine from 1.0 to ``min_ratio`` at
    ``total_steps``; ``min_ratio`` 1.0 makes it constant.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
