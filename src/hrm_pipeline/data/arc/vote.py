"""The ARC voting rule: answers of a task's augmented variants, mapped back to the task's frame, pooled.

It lives with the ARC data (below both users): `hrm solve arc` (puzzles.ArcCodec) and the evaluation
(evaluation.arc_vote, which adds pass@k scoring) apply the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hrm_pipeline.data.arc.augment import Augmentation, invert
from hrm_pipeline.data.arc.encode import DecodeError


@dataclass
class Candidate:
    grid: np.ndarray  # answer in the original task's frame
    votes: int
    mean_q: float  # mean halting logit of the variants that gave it


def grid_key(grid: np.ndarray) -> bytes:
    """Identity of a grid: its shape and colours (two grids with the same cells but other shapes differ)."""
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return np.asarray(grid.shape, dtype=np.int16).tobytes() + grid.tobytes()


def vote(answers: Sequence[np.ndarray | None], q_halt: Sequence[float]) -> list[Candidate]:
    """Pool identical answers (None = no answer) and rank them: most votes first, ties by higher mean Q.

    Candidates equal on both keep the order of their first appearance, so the ranking is deterministic.
    """
    pooled: dict[bytes, list] = {}  # key -> [grid, votes, q sum]
    for grid, q in zip(answers, q_halt, strict=True):
        if grid is None:
            continue
        entry = pooled.setdefault(grid_key(grid), [grid, 0, 0.0])
        entry[1] += 1
        entry[2] += float(q)
    candidates = [Candidate(grid=g, votes=n, mean_q=s / n) for g, n, s in pooled.values()]
    # sorted() is stable: equal keys stay in first-appearance order.
    return sorted(candidates, key=lambda c: (-c.votes, -c.mean_q))


def answer_in_task_frame(tokens: np.ndarray, aug: Augmentation) -> np.ndarray | None:
    """A predicted token canvas as a grid of the original task, or None when it holds no grid."""
    try:
        return invert(np.asarray(tokens), aug)
    except DecodeError:
        return None
