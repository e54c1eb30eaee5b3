"""Per-example scores and their summaries: exact and token accuracy, ACT steps, Sudoku buckets, Maze paths."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrm_pipeline.data.maze.grid import valid_optimal_path
from hrm_pipeline.data.storage import IGNORE_LABEL_ID


@dataclass
class Scores:
    """Per-example verdicts of one prediction run."""

    exact: np.ndarray  # (N,) bool: every labelled token right (the paper's metric)
    token: np.ndarray  # (N,) float: fraction of labelled tokens right

    @property
    def exact_accuracy(self) -> float:
        return _mean(self.exact)

    @property
    def token_accuracy(self) -> float:
        return _mean(self.token)


def score(predictions: np.ndarray, labels: np.ndarray) -> Scores:
    """Compare (N, S) predicted tokens with (N, S) labels; label 0 marks a position that is not scored."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"prediction and label shapes differ: {predictions.shape} vs {labels.shape}")
    scored = labels != IGNORE_LABEL_ID
    right = (predictions == labels) & scored
    counts = scored.sum(axis=1)
    # A row with nothing to score counts as wrong, so it cannot inflate the accuracy.
    token = np.divide(right.sum(axis=1), counts, out=np.zeros(len(labels)), where=counts > 0)
    exact = (right.sum(axis=1) == counts) & (counts > 0)
    return Scores(exact=exact, token=token)


def steps_histogram(steps: np.ndarray, max_steps: int) -> list[tuple[int, int]]:
    """(steps, rows) for every step count 1..max_steps, zeros included (a stable x axis for plots)."""
    counts = np.bincount(np.asarray(steps, dtype=np.int64), minlength=max_steps + 1)
    return [(s, int(counts[s])) for s in range(1, max(max_steps, len(counts) - 1) + 1)]


@dataclass
class Bucket:
    label: str  # e.g. "0", "1-2", "51+"
    lo: int  # inclusive
    hi: int | None  # exclusive; None = no upper bound
    count: int
    exact_accuracy: float
    token_accuracy: float


def bucket_labels(edges: list[int]) -> list[tuple[str, int, int | None]]:
    """Half-open rating ranges from ascending lower edges: [0, 1, 3] -> "0", "1-2", "3+"."""
    if list(edges) != sorted(set(edges)):
        raise ValueError(f"bucket edges must be strictly ascending, got {edges}")
    out: list[tuple[str, int, int | None]] = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        if hi is None:
            label = f"{lo}+"  # no ">=": MLflow metric names refuse it
        elif hi - lo == 1:
            label = str(lo)
        else:
            label = f"{lo}-{hi - 1}"
        out.append((label, lo, hi))
    return out


def rating_buckets(ratings: np.ndarray, scores: Scores, edges: list[int]) -> list[Bucket]:
    """Accuracy per rating bucket (Sudoku: the rating is the backtracking solver's guess count).

    Ratings below the first edge fall into the first bucket, so every example is counted exactly once.
    """
    ratings = np.asarray(ratings)
    buckets = []
    ranges = bucket_labels(list(edges))
    for i, (label, lo, hi) in enumerate(ranges):
        mask = ratings < hi if hi is not None else np.ones(len(ratings), dtype=bool)
        if i > 0:
            mask &= ratings >= lo
        buckets.append(
            Bucket(
                label=label,
                lo=lo,
                hi=hi,
                count=int(mask.sum()),
                exact_accuracy=_mean(scores.exact[mask]),
                token_accuracy=_mean(scores.token[mask]),
            )
        )
    return buckets


def maze_valid_optimal(inputs: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Per maze: the predicted path is connected, runs over free cells from S to G and is a shortest one.

    Looser than exact match: a shortest path other than the labeller's tie-break choice also counts.
    """
    if len(inputs) == 0:
        return np.zeros(0, dtype=bool)
    return valid_optimal_path(np.asarray(inputs, dtype=np.uint8), np.asarray(predictions, dtype=np.uint8))


def _mean(values: np.ndarray) -> float:
    """Mean as a float; NaN for no values (JSON writers turn it into null)."""
    return float(np.mean(values)) if len(values) else float("nan")
