"""Evaluate-stage speed: the whole stage on a trained model, and ARC voting rows/s at the paper's scale.

    .venv/bin/python bench/evaluate_speed.py -S paths.runs_dir=/tmp/x/runs ...   # stage wall time
    .venv/bin/python bench/evaluate_speed.py --vote-rows 40000                  # ARC voting only
    .venv/bin/python bench/evaluate_speed.py --json out.json

Target (CPU default profile: 6x6 sudoku, 200 test puzzles, tiny model, 2 cores): the stage under 60 s with
scaling to 4x the trained segments. ARC-AGI-1 at the paper's 1000 variants has ~420k test rows; voting visits
each once per scaling factor, so rows/s tells how long that part takes there.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import polars as pl

from hrm_pipeline.data.arc.augment import random_augmentation
from hrm_pipeline.data.arc.encode import NUM_COLOURS, SEQ_LEN, encode
from hrm_pipeline.data.storage import token_array
from hrm_pipeline.evaluation.arc_vote import score_arc

VARIANTS_PER_INPUT = 1000  # the paper's augmentation count


def bench_stage(params_path: str, overrides: list[str]) -> dict:
    from hrm_pipeline.config import load_params
    from hrm_pipeline.evaluation.run import run_evaluation

    params = load_params(params_path, overrides)
    start = time.perf_counter()
    result = run_evaluation(params, progress=False)
    wall = time.perf_counter() - start
    return {
        "stage_wall_s": round(wall, 2),
        "examples": int(result.metrics["num_examples"]),
        "exact_accuracy": result.metrics["exact_accuracy"],
    }


def bench_vote(rows: int, seed: int = 0) -> dict:
    """Synthetic ARC test rows: one 10x10 answer per input, seen through random augmentations."""
    rng = np.random.default_rng(seed)
    inputs = max(1, rows // VARIANTS_PER_INPUT)
    augs = [random_augmentation(rng) for _ in range(rows)]
    grids = rng.integers(0, NUM_COLOURS, size=(inputs, 10, 10), dtype=np.uint8)
    owner = np.arange(rows) % inputs
    canvases = np.stack([encode(a.apply(grids[o])) for a, o in zip(augs, owner, strict=True)])
    table = pl.DataFrame(
        {
            "task_id": [f"t{o}" for o in owner],
            "pair_index": pl.Series(np.zeros(rows), dtype=pl.Int16),
            "dihedral": pl.Series([a.dihedral for a in augs], dtype=pl.Int8),
            "colour_perm": pl.Series(
                np.array([a.colour_perm for a in augs], dtype=np.uint8), dtype=pl.Array(pl.UInt8, NUM_COLOURS)
            ),
            "offset_row": pl.Series(np.zeros(rows), dtype=pl.Int8),
            "offset_col": pl.Series(np.zeros(rows), dtype=pl.Int8),
            "labels": token_array(canvases, SEQ_LEN),
        }
    )
    start = time.perf_counter()
    scores = score_arc(table, canvases, rng.normal(size=rows))
    wall = time.perf_counter() - start
    assert scores.per_task(1) == 1.0  # every variant answered right: inversion is exact
    return {"vote_rows": rows, "vote_s": round(wall, 2), "vote_rows_per_s": round(rows / wall)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--vote-rows", type=int, default=20000, help="synthetic ARC rows to vote over")
    parser.add_argument("--no-stage", action="store_true", help="skip the stage run (no trained model)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    figures = {} if args.no_stage else bench_stage(args.params, args.overrides)
    figures.update(bench_vote(args.vote_rows))
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
