"""S and G of generated mazes sit where the official ones do (free-neighbour counts, border share)."""

import numpy as np

from hrm_pipeline.data.maze.dataset import MazeConfig
from hrm_pipeline.data.maze.generate import endpoint_classes, endpoint_targets, generate_split
from hrm_pipeline.data.maze.grid import GOAL, START, WALL


def _classes(n: int, size: int, min_moves: int, edges: list[int], weights: list[float]) -> np.ndarray:
    cfg = MazeConfig()
    gen = generate_split(
        n,
        np.random.default_rng(1),
        size=size,
        min_path_moves=min_moves,
        wall_prob_min=cfg.wall_prob_min,
        wall_prob_max=cfg.wall_prob_max,
        bin_edges=edges,
        bin_weights=weights,
        taken=set(),
    )
    out = []
    for row in gen.inputs:
        cls = endpoint_classes((row == WALL).reshape(size, size))
        out += [cls[np.flatnonzero(row == START)[0]], cls[np.flatnonzero(row == GOAL)[0]]]
    return np.asarray(out)


def test_endpoint_degrees_match_official_mix():
    cfg = MazeConfig()
    cls = _classes(120, 30, cfg.min_path_moves, list(cfg.length_bin_edges), list(cfg.length_bin_weights))
    degree = cls % 4 + 1
    target = endpoint_targets(30)
    want = target.reshape(2, 4).sum(axis=0)  # degree shares, border and inner pooled
    got = np.bincount(degree - 1, minlength=4) / degree.size
    assert abs(got[0] - want[0]) < 0.08, (got, want)  # dead ends: 19 % officially, 51 % uniform
    assert abs(degree.mean() - (np.arange(1, 5) * want).sum()) < 0.2
    assert abs(np.mean(cls >= 4) - target[4:].sum()) < 0.08  # border share


def test_small_grids_still_place_endpoints():
    cls = _classes(40, 12, 30, [], [])
    assert np.mean(cls % 4 == 0) < 0.4  # dead-end share stays near the target at other sizes too
