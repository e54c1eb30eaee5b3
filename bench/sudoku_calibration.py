"""Calibrate our sudoku rater against the official (tdoku) ratings, and time the mix generator.

Usage: .venv/bin/python bench/sudoku_calibration.py [--limit N] [--generate N]
Reads ../shared/data/sudoku (never the evaluation-only sudoku_extreme_test_1k). Prints per file: exact
agreement, Spearman correlation (numpy ranks, ties averaged), mean ratings, solve time; then the
monotone quantile mapping ours -> official fitted on the train sample; then, with --generate, the
generator's throughput and bucket mix for the official test shares.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import time
from pathlib import Path

import numpy as np

from hrm_pipeline.data.sudoku import SHAPE_9, MixGenerator, analyse, parse
from hrm_pipeline.data.sudoku.generate import OFFICIAL_BUCKET_EDGES, OFFICIAL_BUCKET_SHARES, bucket_of

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sudoku"
FILES = ["sudoku_extreme_train_1k", "magictour_top1465", "forum_hardest_1106", "seventeen_clue"]
QUANTILES = [0.1, 0.25, 0.5, 0.75, 0.9, 0.99]


def ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x), dtype=float)
    for v in np.unique(x):  # average ranks over ties
        m = x == v
        r[m] = r[m].mean()
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=2000, help="puzzles per file (17-clue list is 49k)")
    ap.add_argument("--generate", type=int, default=0, help="also generate this many puzzles (official mix)")
    args = ap.parse_args()
    analyse(parse("." * 81), SHAPE_9)  # compile before timing
    train_pairs = None
    for name in FILES:
        path = DATA / f"{name}.csv.gz"
        if not path.exists():
            print(f"{name}: absent, skipped")
            continue
        with gzip.open(path, "rt") as fh:
            rows = [r for _, r in zip(range(args.limit), csv.DictReader(fh), strict=False)]
        t0 = time.perf_counter()
        mine = np.array([analyse(parse(r["question"]), SHAPE_9).rating for r in rows])
        dt = (time.perf_counter() - t0) / len(rows)
        off = np.array([int(r["rating"]) for r in rows])
        print(
            f"{name:26s} n={len(rows):5d} exact={np.mean(mine == off):.3f} "
            f"spearman={spearman(mine, off):.4f} "
            f"mean ours/official={mine.mean():.2f}/{off.mean():.2f} solve+unique={dt * 1e6:.0f} us"
        )
        if name == FILES[0]:
            train_pairs = (mine, off)
    if train_pairs is not None:
        mine, off = train_pairs
        print("quantile mapping ours -> official (train sample):")
        for q in QUANTILES:
            print(f"  q={q:.2f}: ours {np.quantile(mine, q):6.1f} -> official {np.quantile(off, q):6.1f}")
    if args.generate:
        gen = MixGenerator(SHAPE_9, np.random.default_rng(0), edges=list(OFFICIAL_BUCKET_EDGES))
        t0 = time.perf_counter()
        out = list(gen.generate(args.generate, OFFICIAL_BUCKET_SHARES))
        dt = time.perf_counter() - t0
        r = np.array([p.rating for p in out])
        share = np.bincount([bucket_of(x, OFFICIAL_BUCKET_EDGES) for x in r], minlength=5) / len(r)
        givens = np.array([np.count_nonzero(p.puzzle) for p in out])
        print(
            f"generated {len(out)} in {dt:.1f} s = {len(out) / dt:.2f} puzzles/s (1 core), "
            f"{gen.solves} searches; "
            f"buckets {np.round(share * 100, 1).tolist()} %, mean rating {r.mean():.1f}, "
            f"givens mean {givens.mean():.1f} [{givens.min()}, {givens.max()}]"
        )


if __name__ == "__main__":
    main()
