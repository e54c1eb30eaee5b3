"""Per-example scores and their summaries: token/exact accuracy, Sudoku rating buckets, Maze valid paths."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_pipeline.data.maze.grid import encode, label
from hrm_pipeline.evaluation.metrics import (
    bucket_labels,
    maze_valid_optimal,
    rating_buckets,
    score,
    steps_histogram,
)


def test_exact_and_token_accuracy_ignore_unlabelled_positions():
    labels = np.array([[2, 3, 0, 0], [2, 3, 4, 5], [0, 0, 0, 0]])
    preds = np.array([[2, 3, 9, 9], [2, 3, 4, 1], [1, 1, 1, 1]])
    s = score(preds, labels)
    assert s.exact.tolist() == [True, False, False]  # nothing labelled never counts as solved
    assert s.token.tolist() == [1.0, 0.75, 0.0]
    assert s.exact_accuracy == pytest.approx(1 / 3)


def test_bucket_labels_read_as_the_official_report():
    assert [lbl for lbl, _, _ in bucket_labels([0, 1, 3, 11, 51])] == ["0", "1-2", "3-10", "11-50", "51+"]
    with pytest.raises(ValueError):
        bucket_labels([0, 3, 1])


def test_every_sudoku_lands_in_exactly_one_rating_bucket():
    ratings = np.array([0, 0, 1, 2, 3, 10, 11, 50, 51, 400])
    exact = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
    s = score(np.where(exact[:, None], 2, 3), np.full((10, 1), 2))
    buckets = rating_buckets(ratings, s, [0, 1, 3, 11, 51])
    got = {b.label: (b.count, b.exact_accuracy) for b in buckets}
    assert got == {"0": (2, 0.5), "1-2": (2, 1.0), "3-10": (2, 0.0), "11-50": (2, 0.5), "51+": (2, 0.0)}
    assert sum(b.count for b in buckets) == len(ratings)


def test_an_empty_bucket_has_no_accuracy_rather_than_zero():
    s = score(np.full((2, 1), 2), np.full((2, 1), 2))
    buckets = rating_buckets(np.array([0, 0]), s, [0, 1])
    assert (buckets[1].count, np.isnan(buckets[1].exact_accuracy)) == (0, True)


MAZE = ["S    ", " ### ", " ### ", " ### ", "    G"]  # two shortest paths of 8 moves: left and top


def test_maze_counts_any_shortest_path_and_nothing_else():
    grid = "".join(MAZE)
    official = label(grid)  # the labeller's tie-break: down the left side
    other = "".join(["Soooo", " ###o", " ###o", " ###o", "    G"])  # the other shortest path
    detour = official[:4] + "o" + official[5:]  # one extra cell beside the path
    broken = official.replace("o", " ", 1)  # one path cell missing
    both = "".join(a if a == "o" else b for a, b in zip(official, other, strict=True))
    preds = [official, other, detour, broken, both]
    valid = maze_valid_optimal(encode([grid] * len(preds)), encode(preds))
    assert valid.tolist() == [True, True, False, False, False]
    assert valid.sum() == 2


def test_steps_histogram_covers_every_step_count():
    assert steps_histogram(np.array([1, 4, 4]), max_steps=4) == [(1, 1), (2, 0), (3, 0), (4, 2)]
