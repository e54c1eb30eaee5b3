"""Time the sudoku rating-mix generator: puzzles/s (wall and CPU), bucket shares, mean rating, givens.

Usage: .venv/bin/python bench/sudoku_generate.py [--count N] [--warmup N] [--seed S]
The warm-up run (numba compilation and the one-off seed-pool bootstrap from random puzzles) is timed and
reported separately from the steady-state run. The lead's bench/data_throughput.py calls ``measure``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hrm_pipeline.data.sudoku import SHAPE_9, MixGenerator, analyse
from hrm_pipeline.data.sudoku.generate import OFFICIAL_BUCKET_EDGES, OFFICIAL_BUCKET_SHARES, bucket_of


def measure(count: int = 50, warmup: int = 5, seed: int = 0) -> dict[str, float | list[float]]:
    """Generate ``warmup`` then ``count`` puzzles at the official mix; return timings and the mix reached."""
    gen = MixGenerator(SHAPE_9, np.random.default_rng(seed), edges=list(OFFICIAL_BUCKET_EDGES))
    t0, c0 = time.perf_counter(), time.process_time()
    list(gen.generate(warmup, OFFICIAL_BUCKET_SHARES))
    boot_wall, boot_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    puzzles = list(gen.generate(count, OFFICIAL_BUCKET_SHARES))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ratings = np.array([p.rating for p in puzzles])
    givens = np.array([np.count_nonzero(p.puzzle) for p in puzzles])
    unique = all(analyse(p.puzzle, SHAPE_9).solutions == 1 for p in puzzles)
    shares = np.bincount([bucket_of(int(r), OFFICIAL_BUCKET_EDGES) for r in ratings], minlength=5) / count
    return {
        "warmup_wall_s": boot_wall,
        "warmup_cpu_s": boot_cpu,
        "puzzles_per_s_wall": count / wall,
        "cpu_ms_per_puzzle": 1e3 * cpu / count,
        "bucket_shares": shares.round(3).tolist(),
        "mean_rating": float(ratings.mean()),
        "mean_givens": float(givens.mean()),
        "all_unique": float(unique),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=50, help="puzzles in the timed steady-state run")
    p.add_argument("--warmup", type=int, default=5, help="puzzles in the untimed-for-throughput warm-up run")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    m = measure(a.count, a.warmup, a.seed)
    print(
        f"warm-up ({a.warmup} puzzles, incl. numba compile + bootstrap): "
        f"{m['warmup_wall_s']:.1f} s wall, {m['warmup_cpu_s']:.1f} s CPU"
    )
    print(
        f"steady state: {m['puzzles_per_s_wall']:.2f} puzzles/s wall, "
        f"{m['cpu_ms_per_puzzle']:.1f} ms CPU/puzzle"
    )
    print(
        f"bucket shares (0 / 1-2 / 3-10 / 11-50 / >=51): {m['bucket_shares']} "
        f"(official {OFFICIAL_BUCKET_SHARES})"
    )
    print(
        f"mean rating {m['mean_rating']:.1f} (official ~22), "
        f"mean givens {m['mean_givens']:.1f} (official ~25), "
        f"all unique: {bool(m['all_unique'])}"
    )


if __name__ == "__main__":
    main()
