"""Time the sudoku rating-mix generator: puzzles/s per core, bucket shares, mean rating, givens, diversity.

Usage: .venv/bin/python bench/sudoku_generate.py [--count N] [--warmup N] [--seed S ...] [--mix MIX]
Run it with OMP_NUM_THREADS=1: the generator is single-threaded; CPU time is what one core spends.
The warm-up run (numba compilation and the one-off bootstrap of a hard seed pool from random puzzles) is
timed and reported separately from the steady-state run. Several seeds show the run-to-run spread (the
steady-state rate depends on the lineage the pool settles on). The lead's bench/data_throughput.py calls
``measure``.

--mix official: the five official buckets 0 / 1-2 / 3-10 / 11-50 / >=51 at 14/10/14/51/11 %.
--mix default:  the dataset's default finer split (11-50 split like the official train sample).
--grid-orbits:  every puzzle on its own solution grid up to symmetry (the paper profile's rule).
--realism:      also print the variety / orientation-independent difficulty table, ours beside the official
                train sample (../shared/data; the official TEST sample stays evaluation-only).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from hrm_pipeline.data.sudoku import SHAPE_9, MixGenerator, SearchParams, analyse, canonical_key, read_csv
from hrm_pipeline.data.sudoku.dataset import DEFAULT_EDGES, DEFAULT_SHARES
from hrm_pipeline.data.sudoku.generate import (
    OFFICIAL_BUCKET_EDGES,
    OFFICIAL_BUCKET_SHARES,
    bucket_of,
    orbit_rating,
)

OFFICIAL_TRAIN = Path(__file__).resolve().parents[1] / "../shared/data/sudoku/sudoku_extreme_train_1k.csv.gz"

MIXES = {
    "official": (OFFICIAL_BUCKET_EDGES, OFFICIAL_BUCKET_SHARES),
    "default": (DEFAULT_EDGES, DEFAULT_SHARES),
}


def realism(puzzles: np.ndarray, solutions: np.ndarray, ratings: np.ndarray) -> dict[str, float]:
    """Variety (solution grids, grids up to symmetry, largest class) and stored vs orbit-mean difficulty."""
    orbit_of: dict[str, int] = {}
    for g in solutions:
        k = canonical_key(g, SHAPE_9)
        orbit_of[k] = orbit_of.get(k, 0) + 1
    orbit = np.array([orbit_rating(p, SHAPE_9) for p in puzzles])
    top = ratings >= OFFICIAL_BUCKET_EDGES[-1]
    givens = (puzzles > 0).sum(axis=1)
    return {
        "puzzles": float(len(puzzles)),
        "grids": float(len({g.tobytes() for g in solutions})),
        "grid_orbits": float(len(orbit_of)),
        "largest_orbit_class": float(max(orbit_of.values())),
        "stored_mean": float(ratings.mean()),
        "orbit_mean": float(orbit.mean()),
        "top_stored_mean": float(ratings[top].mean()) if top.any() else float("nan"),
        "top_orbit_mean": float(orbit[top].mean()) if top.any() else float("nan"),
        "orbit_bucket_shares": (
            np.bincount([bucket_of(int(r), OFFICIAL_BUCKET_EDGES) for r in orbit], minlength=5) / len(orbit)
        )
        .round(3)
        .tolist(),
        "givens_mean": float(givens.mean()),
        "givens_min": float(givens.min()),
        "givens_max": float(givens.max()),
    }


def print_realism(name: str, r: dict) -> None:
    print(
        f"  {name:9s} {r['puzzles']:.0f} puzzles: grids {r['grids']:.0f}, "
        f"up to symmetry {r['grid_orbits']:.0f} "
        f"(largest class {r['largest_orbit_class']:.0f}); rating stored/orbit mean {r['stored_mean']:.1f}/"
        f"{r['orbit_mean']:.1f}; >=51 stored/orbit {r['top_stored_mean']:.1f}/{r['top_orbit_mean']:.1f}; "
        f"orbit buckets {r['orbit_bucket_shares']}; givens {r['givens_mean']:.1f} "
        f"({r['givens_min']:.0f}-{r['givens_max']:.0f})"
    )


def measure(
    count: int = 50, warmup: int = 5, seed: int = 0, mix: str = "official", grid_orbits: bool = False
) -> dict[str, float | list[float]]:
    """Generate ``warmup`` then ``count`` puzzles at ``mix``; return timings and the mix reached."""
    edges, shares = MIXES[mix]
    params = SearchParams(grid_orbits=grid_orbits)
    gen = MixGenerator(SHAPE_9, np.random.default_rng(seed), edges=list(edges), params=params)
    t0, c0 = time.perf_counter(), time.process_time()
    list(gen.generate(warmup, shares))
    boot_wall, boot_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    puzzles = list(gen.generate(count, shares))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ratings = np.array([p.rating for p in puzzles])
    givens = np.array([np.count_nonzero(p.puzzle) for p in puzzles])
    unique = all(analyse(p.puzzle, SHAPE_9).solutions == 1 for p in puzzles)
    coarse = np.bincount([bucket_of(int(r), OFFICIAL_BUCKET_EDGES) for r in ratings], minlength=5) / count
    return {
        "warmup_wall_s": boot_wall,
        "warmup_cpu_s": boot_cpu,
        "puzzles_per_s_wall": count / wall,
        "puzzles_per_cpu_s": count / cpu,
        "cpu_ms_per_puzzle": 1e3 * cpu / count,
        "bucket_shares": coarse.round(3).tolist(),
        "mean_rating": float(ratings.mean()),
        "mean_givens": float(givens.mean()),
        "solution_grids": float(len({p.solution.tobytes() for p in puzzles})),
        "all_unique": float(unique),
        "_puzzles": np.stack([p.puzzle for p in puzzles]),
        "_solutions": np.stack([p.solution for p in puzzles]),
        "_ratings": ratings,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=50, help="puzzles in the timed steady-state run")
    p.add_argument("--warmup", type=int, default=100, help="puzzles in the warm-up run (compile + bootstrap)")
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="one run per seed")
    p.add_argument("--mix", choices=sorted(MIXES), default="official")
    p.add_argument("--grid-orbits", action="store_true", help="one puzzle per solution grid up to symmetry")
    p.add_argument("--realism", action="store_true", help="print the variety / orbit-difficulty table")
    a = p.parse_args()
    if a.realism and OFFICIAL_TRAIN.is_file():
        off = read_csv(str(OFFICIAL_TRAIN), SHAPE_9)
        print_realism("official", realism(off.puzzles, off.solutions, np.asarray(off.ratings)))
    rates = []
    for seed in a.seed:
        m = measure(a.count, a.warmup, seed, a.mix, a.grid_orbits)
        rates.append(m["puzzles_per_cpu_s"])
        print(
            f"seed {seed}: warm-up ({a.warmup} puzzles, incl. numba compile + bootstrap) "
            f"{m['warmup_cpu_s']:.1f} s CPU; steady state {m['puzzles_per_cpu_s']:.0f} puzzles/CPU-s "
            f"({m['cpu_ms_per_puzzle']:.1f} ms), {m['puzzles_per_s_wall']:.0f}/s wall"
        )
        print(
            f"  buckets 0/1-2/3-10/11-50/>=51: {m['bucket_shares']} (official {OFFICIAL_BUCKET_SHARES}); "
            f"mean rating {m['mean_rating']:.1f} (official test ~22.4, train 20.8); "
            f"mean givens {m['mean_givens']:.1f} (official ~25); "
            f"{m['solution_grids']:.0f} distinct solution grids; all unique: {bool(m['all_unique'])}"
        )
        if a.realism:
            print_realism(f"seed {seed}", realism(m["_puzzles"], m["_solutions"], m["_ratings"]))
    if len(rates) > 1:
        print(f"steady state over seeds: median {np.median(rates):.0f}, min {min(rates):.0f} puzzles/CPU-s")


if __name__ == "__main__":
    main()
