"""Generated Maze-Hard mazes beside the official train split: S/G placement figures and a classifier check.

    PYTHONPATH=src python bench/maze_realism.py [--n 1000] [--seed 0] [--uniform]

Prints, ours beside official: dead-end share, mean free-neighbour count and border share of S and G, their BFS
eccentricity relative to the path length (1 = the other end is the farthest reachable cell), mean path length,
wall density; then the cross-validated ROC AUC of a gradient-boosted classifier telling ours from
official (0.5 = indistinguishable), with and without the S/G placement features, and an official-vs-official
control. CPU time (time.process_time) of the generation.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_score

from hrm_pipeline.data.maze.dataset import MazeConfig
from hrm_pipeline.data.maze.generate import generate_split
from hrm_pipeline.data.maze.grid import GOAL, START, WALL, endpoint_eccentricity

OFFICIAL = Path(__file__).resolve().parents[1] / "../shared/data/maze/maze_hard_train_1k/all__inputs.npy"
PLACEMENT = 8  # the first features are S/G placement


def features(inputs: np.ndarray, path_moves: np.ndarray) -> np.ndarray:
    n = int(round(inputs.shape[1] ** 0.5))
    g = inputs.reshape(-1, n, n)
    free = np.pad(g != WALL, ((0, 0), (1, 1), (1, 1)))
    deg = free[:, :-2, 1:-1].astype(int) + free[:, 2:, 1:-1] + free[:, 1:-1, :-2] + free[:, 1:-1, 2:]
    ecc = endpoint_eccentricity(inputs)
    rows = []
    for i in range(g.shape[0]):
        f = []
        for tok in (START, GOAL):
            r, c = np.argwhere(g[i] == tok)[0]
            f += [deg[i, r, c], min(r, c, n - 1 - r, n - 1 - c) == 0, min(r, c, n - 1 - r, n - 1 - c)]
        f += [ecc[i, 1] / ecc[i, 0], ecc[i, 2] / ecc[i, 0]]  # how peripheral S and G are, given the path
        walls = g[i] == WALL
        f += [path_moves[i], walls.mean(), int(((deg[i] == 1) & ~walls).sum())]
        rows.append(f)
    return np.asarray(rows, dtype=np.float64)


def official_moves(inputs: np.ndarray) -> np.ndarray:
    from hrm_pipeline.data.maze.grid import label_tokens

    labels, _ = label_tokens(inputs)
    return (labels == 5).sum(axis=1) + 1  # path cells between S and G, plus one move


def auc(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    x = np.concatenate([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    clf = HistGradientBoostingClassifier(max_iter=200, random_state=seed)
    return float(cross_val_score(clf, x, y, cv=5, scoring="roc_auc").mean())


def table(name: str, f: np.ndarray) -> str:
    return (
        f"{name:10s} S dead-end {np.mean(f[:, 0] == 1):.3f}  G dead-end {np.mean(f[:, 3] == 1):.3f}  "
        f"deg S/G {f[:, 0].mean():.2f}/{f[:, 3].mean():.2f}  border S/G {f[:, 1].mean():.2f}/"
        f"{f[:, 4].mean():.2f}  ecc/path S/G {f[:, 6].mean():.3f}/{f[:, 7].mean():.3f} (median "
        f"{np.median(f[:, 6]):.3f}, >1.1: {np.mean(f[:, 6] > 1.1):.2f})  path {f[:, 8].mean():.1f}  "
        f"walls {f[:, 9].mean():.3f}  dead ends {f[:, 10].mean():.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--uniform", action="store_true", help="uniform S/G among the bin's pairs")
    ap.add_argument("--no-ecc", action="store_true", help="degree/border placement only, not eccentricity")
    args = ap.parse_args()
    cfg = MazeConfig()
    off_in = np.load(OFFICIAL)
    off = features(off_in, official_moves(off_in))
    t0 = time.process_time()
    gen = generate_split(
        args.n,
        np.random.default_rng(args.seed),
        size=cfg.size,
        min_path_moves=cfg.min_path_moves,
        wall_prob_min=cfg.wall_prob_min,
        wall_prob_max=cfg.wall_prob_max,
        bin_edges=list(cfg.length_bin_edges),
        bin_weights=list(cfg.length_bin_weights),
        taken=set(),
        place_endpoints=not args.uniform,
        place_eccentricity=not args.uniform and not args.no_ecc,
    )
    cpu = time.process_time() - t0
    ours = features(gen.inputs, gen.path_moves)
    print(table("ours", ours))
    print(table("official", off))
    print(f"generation: {args.n} mazes in {cpu:.1f} CPU s ({args.n / cpu:.1f} mazes per CPU-second)")
    print(f"AUC ours vs official, all features:        {auc(ours, off, args.seed):.3f}")
    print(f"AUC ours vs official, without S/G placement: {auc(ours[:, PLACEMENT:], off[:, PLACEMENT:]):.3f}")
    half = np.random.default_rng(args.seed).permutation(len(off))
    print(f"AUC control official vs official:           {auc(off[half[:500]], off[half[500:]]):.3f}")


if __name__ == "__main__":
    main()
