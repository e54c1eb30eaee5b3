"""Time the sudoku rating-mix generator and compare its data with the official train sample.

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/sudoku_generate.py [--profile paper-sudoku] [--count N]
           [--warmup N] [--seed S ...] [--workers N --shard-size K] [--realism]
The generator is single-threaded; CPU time is what one core spends. Without --shard-size the warm-up run
(numba compilation and the one-off bootstrap of a hard seed pool from random puzzles) is timed apart from
the steady-state run. With --shard-size every shard bootstraps its own pool (that is the price of output
that does not depend on the worker count), so the sharded figure includes it. A profile with a givens
mix (paper-sudoku) is always sharded: one stratum per givens count. Several seeds show the run-to-run spread.

--profile P:    the sudoku section of profiles/P.yaml (-S KEY=VALUE changes one of its keys, e.g. the
                strict realism of -S minimal=true -S start_givens=25; paper-sudoku: orbit-bucketed official
                train mix, one puzzle per grid orbit, no near-duplicates in a lineage); else --mix with
                today's rules:
--mix official: the five official buckets 0 / 1-2 / 3-10 / 11-50 / >=51 at 14/10/14/51/11 % (as stored).
--mix default:  the dataset's default finer split (11-50 split like the official train sample).
--realism:      print the variety / orientation-independent difficulty table, ours beside the official
                train sample (../shared/data; the official TEST sample stays evaluation-only).
--dataset DIR:  no generation: the same table for a dataset `hrm generate sudoku` wrote (its train and
                test puzzles as generated, augmentations left out), and the grid orbits the two splits share.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from hrm_pipeline.data.sudoku import SHAPE_9, MixGenerator, SearchParams, SudokuConfig, analyse, read_csv
from hrm_pipeline.data.sudoku.api import spare_clues
from hrm_pipeline.data.sudoku.dataset import DEFAULT_EDGES, DEFAULT_SHARES, search_params, strata
from hrm_pipeline.data.sudoku.generate import (
    OFFICIAL_BUCKET_EDGES,
    OFFICIAL_BUCKET_SHARES,
    Puzzle,
    orbit_bucket,
    orbit_rating,
)
from hrm_pipeline.data.sudoku.shards import generate_sharded
from hrm_pipeline.data.sudoku.variety import grid_orbit_classes, near_duplicate_count

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL_TRAIN = ROOT / "../shared/data/sudoku/sudoku_extreme_train_1k.csv.gz"
NEAR_CLUES = 2  # the near-duplicate measure (sudoku/variety.py): within 2 clues each after alignment

MIXES = {
    "official": (OFFICIAL_BUCKET_EDGES, OFFICIAL_BUCKET_SHARES),
    "default": (DEFAULT_EDGES, DEFAULT_SHARES),
}


# The official train sample's givens: a peak at 22-28 (mode 26), a 17-clue tail, a 33-35 tail of easy puzzles.
GIVENS_BINS = ((17, 21), (22, 24), (25, 26), (27, 28), (29, 32), (33, 35))


def profile_config(name: str, overrides: list[str] = ()) -> SudokuConfig:
    """The sudoku section of profiles/NAME.yaml, with ``KEY=VALUE`` overrides of its keys."""
    raw = OmegaConf.load(ROOT / "profiles" / f"{name}.yaml")["sudoku"]
    merged = OmegaConf.merge(OmegaConf.structured(SudokuConfig), raw, OmegaConf.from_dotlist(list(overrides)))
    return OmegaConf.to_object(merged)


def realism(puzzles: np.ndarray, solutions: np.ndarray, ratings: np.ndarray, orbit=None) -> dict:
    """Variety (grids, grid orbits, near-duplicates) and stored vs orbit-mean difficulty."""
    classes = grid_orbit_classes(solutions, SHAPE_9)
    if orbit is None or (np.asarray(orbit) < 0).any():
        orbit = np.array([orbit_rating(p, SHAPE_9) for p in puzzles])
    top = ratings >= OFFICIAL_BUCKET_EDGES[-1]
    givens = (puzzles > 0).sum(axis=1)
    shares = np.bincount([orbit_bucket(r, OFFICIAL_BUCKET_EDGES) for r in orbit], minlength=5) / len(orbit)
    return {
        "puzzles": len(puzzles),
        "grids": len({g.tobytes() for g in solutions}),
        "grid_orbits": f"{len(classes)} ({max(classes.values())})",
        "near_duplicates": near_duplicate_count(puzzles, SHAPE_9, NEAR_CLUES),
        "rating stored / orbit": f"{ratings.mean():.1f} / {np.mean(orbit):.1f}",
        ">=51 stored / orbit": f"{ratings[top].mean():.1f} / {np.asarray(orbit)[top].mean():.1f}"
        if top.any()
        else "-",
        "orbit buckets %": "/".join(f"{100 * s:.0f}" for s in shares),
        "minimal %": f"{100 * np.mean([len(spare_clues(p, SHAPE_9)) == 0 for p in puzzles]):.0f}",
        "givens mean (min-max)": f"{givens.mean():.1f} ({givens.min()}-{givens.max()})",
        "givens histogram %": "/".join(
            f"{100 * np.mean((givens >= lo) & (givens <= hi)):.0f}" for lo, hi in GIVENS_BINS
        ),
    }


def print_table(columns: dict[str, dict]) -> None:
    rows = list(next(iter(columns.values())))
    labels = {
        "puzzles": "puzzles",
        "grids": "distinct solution grids",
        "grid_orbits": "grids up to symmetry (largest class)",
        "near_duplicates": f"near-duplicate puzzles (<= {NEAR_CLUES} clues each)",
        "rating stored / orbit": "mean rating stored / orbit",
        ">=51 stored / orbit": ">=51 (stored) bucket: stored / orbit mean",
        "orbit buckets %": "orbit buckets 0/1-2/3-10/11-50/>=51 %",
        "minimal %": "minimal puzzles (no spare clue) %",
        "givens mean (min-max)": "givens mean (min-max)",
        "givens histogram %": "givens " + "/".join(f"{lo}-{hi}" for lo, hi in GIVENS_BINS) + " %",
        "puzzles_per_cpu_s": "puzzles per CPU-second",
    }
    width = max(len(v) for v in labels.values())
    print(f"| {'':{width}s} | " + " | ".join(f"{c:>16s}" for c in columns) + " |")
    for r in rows:
        print(
            f"| {labels.get(r, r):{width}s} | "
            + " | ".join(f"{str(v[r]):>16s}" for v in columns.values())
            + " |"
        )


def measure(
    count: int = 50,
    warmup: int = 5,
    seed: int = 0,
    mix: str = "official",
    grid_orbits: bool = False,
    cfg: SudokuConfig | None = None,
    workers: int = 1,
    shard_size: int = 0,
) -> dict:
    """Generate ``warmup`` then ``count`` puzzles (``cfg``'s rules, else ``mix``); timings and the puzzles."""
    if cfg is None:
        edges, shares = MIXES[mix]
        params = SearchParams(grid_orbits=grid_orbits)
    else:
        edges, shares, params = cfg.bucket_edges, cfg.bucket_shares, search_params(cfg)
        if cfg.givens_mix:  # generated per givens count: sharded, as `hrm generate` does it
            shard_size = shard_size or cfg.shard_size
    rng = np.random.default_rng(seed)
    boot_cpu = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    if shard_size:
        out = generate_sharded(
            SHAPE_9, rng, count, list(shares), list(edges), params, shard_size, workers,
            strata=strata(cfg, params) if cfg else None,
        )  # fmt: skip
        puzzles: list[Puzzle] = out.puzzles
        wall, cpu = time.perf_counter() - t0, out.cpu_s
    else:
        gen = MixGenerator(SHAPE_9, rng, edges=list(edges), params=params)
        list(gen.generate(warmup, shares))
        boot_cpu = time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        puzzles = list(gen.generate(count, shares))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ratings = np.array([p.rating for p in puzzles])
    return {
        "warmup_cpu_s": boot_cpu,
        "wall_s": wall,
        "cpu_s": cpu,
        "puzzles_per_s_wall": count / wall,
        "puzzles_per_cpu_s": count / cpu,
        "all_unique": all(analyse(p.puzzle, SHAPE_9).solutions == 1 for p in puzzles),
        "_puzzles": np.stack([p.puzzle for p in puzzles]),
        "_solutions": np.stack([p.solution for p in puzzles]),
        "_ratings": ratings,
        "_orbit": np.array([p.orbit for p in puzzles]),
    }


def dataset_splits(data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(puzzles, solutions, stored ratings) of each split's original puzzles, digits 0 = blank."""
    import polars as pl

    from hrm_pipeline.data.sudoku.dataset import _digits  # the token decoding validate uses

    out = {}
    for split in ("train", "test"):
        df = pl.read_parquet(data_dir / f"{split}.parquet").filter(~pl.col("augmented"))
        out[split] = (_digits(df, "inputs"), _digits(df, "labels"), df["rating"].to_numpy())
    return out


def audit_dataset(data_dir: Path, table: dict) -> None:
    splits = dataset_splits(data_dir)
    orbits = {}
    for split, (puzzles, solutions, ratings) in splits.items():
        t0 = time.process_time()
        table[f"ours {split}"] = realism(puzzles, solutions, ratings) | {"puzzles_per_cpu_s": "-"}
        orbits[split] = set(grid_orbit_classes(solutions, SHAPE_9))
        print(f"{split}: {len(puzzles)} puzzles audited in {time.process_time() - t0:.0f} CPU-s", flush=True)
    print(f"solution-grid orbits shared by train and test: {len(orbits['train'] & orbits['test'])}")
    print_table(table)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=50, help="puzzles in the timed run")
    p.add_argument("--warmup", type=int, default=100, help="puzzles in the warm-up run (compile + bootstrap)")
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="one run per seed")
    p.add_argument("--profile", default="", help="take the sudoku rules from profiles/PROFILE.yaml")
    p.add_argument(
        "-S", "--set", action="append", default=[], metavar="KEY=VALUE",
        help="with --profile: change one key of its sudoku section, e.g. -S minimal=true",
    )  # fmt: skip
    p.add_argument("--mix", choices=sorted(MIXES), default="official")
    p.add_argument("--grid-orbits", action="store_true", help="one puzzle per solution grid up to symmetry")
    p.add_argument("--workers", type=int, default=1, help="processes (with --shard-size)")
    p.add_argument("--shard-size", type=int, default=0, help="puzzles per shard (0 = one stream)")
    p.add_argument("--realism", action="store_true", help="print the variety / orbit-difficulty table")
    p.add_argument("--dataset", type=Path, help="audit this generated sudoku dataset instead of generating")
    a = p.parse_args()
    cfg = profile_config(a.profile, a.set) if a.profile else None
    table = {}
    if (a.realism or a.dataset) and OFFICIAL_TRAIN.is_file():
        off = read_csv(str(OFFICIAL_TRAIN), SHAPE_9)
        table["official train"] = realism(off.puzzles, off.solutions, np.asarray(off.ratings)) | {
            "puzzles_per_cpu_s": "-"
        }
    if a.dataset:
        audit_dataset(a.dataset, table)
        return
    rates = []
    for seed in a.seed:
        m = measure(a.count, a.warmup, seed, a.mix, a.grid_orbits, cfg, a.workers, a.shard_size)
        rates.append(m["puzzles_per_cpu_s"])
        print(
            f"seed {seed}: warm-up {m['warmup_cpu_s']:.1f} CPU-s; "
            f"{a.count} puzzles in {m['cpu_s']:.1f} CPU-s = "
            f"{m['puzzles_per_cpu_s']:.1f} puzzles/CPU-s, {m['wall_s']:.1f} s wall "
            f"({m['puzzles_per_s_wall']:.1f}/s, {a.workers} worker(s)); all unique: {m['all_unique']}",
            flush=True,
        )
        if a.realism:
            r = realism(m["_puzzles"], m["_solutions"], m["_ratings"], m["_orbit"])
            table[f"ours seed {seed}"] = r | {"puzzles_per_cpu_s": f"{m['puzzles_per_cpu_s']:.1f}"}
    if len(rates) > 1:
        print(f"over seeds: median {np.median(rates):.1f}, min {min(rates):.1f} puzzles/CPU-s")
    if table:
        print_table(table)


if __name__ == "__main__":
    main()
