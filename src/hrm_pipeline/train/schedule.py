"""Learning-rate schedule: linear warmup, then cosine decay to ``lr_min_ratio`` of the base rate."""

from __future__ import annotations

import math


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier on the base lr for optimizer step ``step`` (0-based).

    With ``s = step + 1`` (the reference counts steps from 1 and increments before computing the lr):
    warmup gives ``s / warmup_steps`` for ``s < warmup_steps``, so the first step already moves (1/warmup)
    instead of wasting a step at lr 0; after that half a cosine over ``progress = (s - warmup_steps) /
    max(1, total_steps - warmup_steps)`` (clipped at 1) from 1.0 to ``min_ratio``, reached at the last step
    (``s = total_steps``). ``min_ratio`` 1.0 makes it constant.
    """
    s = step + 1
    if s < warmup_steps:
        return s / warmup_steps
    progress = min(1.0, (s - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
