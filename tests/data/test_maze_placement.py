"""S and G of generated mazes sit where the official ones do (free-neighbour counts, border share)."""

import numpy as np

from hrm_pipeline.data.maze.dataset import MazeConfig
from hrm_pipeline.data.maze.generate import (
    OFFICIAL_ECC_SHARES,
    EndpointSampler,
    eccentricity_bins,
    endpoint_classes,
    endpoint_targets,
    generate_split,
)
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


def test_eccentricity_factor_moves_kept_pairs_toward_the_official_mix():
    # Candidates alike in class, 80 % at the extreme (bin 0: eccentricity = path) and 20 % in bin 4 (1.1-1.2):
    # the official mix wants fewer extremes (17.5 %) and more of bin 4 (14.3 %) than uniform gives.
    bins = np.r_[np.zeros(80, dtype=np.int64), np.full(20, 4)]
    cls = np.zeros(100, dtype=np.int64)
    rng = np.random.default_rng(0)

    def kept_share(ecc_target):
        sampler = EndpointSampler(np.eye(8)[0], ecc_target=ecc_target)  # every candidate in the one class
        picks = [sampler.draw(cls, cls, rng, bins, bins) for _ in range(3000)]
        kept = np.asarray([p for p in picks if p >= 0])
        return np.mean(bins[kept] == 4)

    assert kept_share(None) < 0.3  # uniform: ~0.2
    assert kept_share(np.asarray(OFFICIAL_ECC_SHARES)) > 0.5


def test_eccentricity_bins_are_ratios_to_the_path():
    got = eccentricity_bins(np.asarray([100, 102, 105, 108, 115, 130]), np.full(6, 100))
    assert got.tolist() == [0, 1, 2, 3, 4, 5]
