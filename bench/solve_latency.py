"""`hrm solve` / serving speed: model load, parse+check cost, puzzles/s at 1x/2x/4x the trained ACT budget.

    .venv/bin/python bench/solve_latency.py --checkpoint runs/sudoku/model.pt --data data/sudoku
    .venv/bin/python bench/solve_latency.py --checkpoint M --data D --count 50 --json out.json

Puzzles are the dataset's test split (their inputs as user text), so parsing (with the uniqueness search),
the model and the validity check are all timed as a user meets them. One torch thread unless --threads.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from hrm_pipeline.data.storage import read_split
from hrm_pipeline.serving import HRMPuzzleModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="model.pt written by `hrm train`")
    ap.add_argument("--data", required=True, help="its dataset folder (metadata.json, test.parquet)")
    ap.add_argument("--count", type=int, default=200, help="test puzzles to solve")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    model = HRMPuzzleModel.from_files(args.checkpoint, f"{args.data}/metadata.json")
    load_s = time.perf_counter() - start
    table = read_split(args.data, "test").head(args.count)
    texts = [model.codec.answer_text(row) for row in table["inputs"].to_numpy()]
    if model.family == "arc":  # the user's form of an ARC puzzle is a task file
        texts = [json.dumps({"test": [{"input": json.loads(t)}]}) for t in texts]

    model.parse(texts[0])  # warm the numba solver
    start = time.perf_counter()
    puzzles = [p for t in texts for p in model.parse(t)]
    parse_s = time.perf_counter() - start
    model.solve(puzzles[:2])  # warm torch
    figures = {
        "family": model.family,
        "puzzles": len(puzzles),
        "load_s": round(load_s, 3),
        "parse_ms_per_puzzle": round(1000 * parse_s / len(puzzles), 3),
    }
    trained = model.trained_steps
    for factor in (1, 2, 4):
        for halt in ("q", "max"):
            start = time.perf_counter()
            answers = model.solve(puzzles, max_steps=factor * trained, halt=halt)
            wall = time.perf_counter() - start
            figures[f"{factor}x_{halt}"] = {
                "puzzles_per_s": round(len(puzzles) / wall, 1),
                "mean_steps": round(float(np.mean([a.steps for a in answers])), 2),
                "valid_rate": round(float(np.mean([bool(a.valid) for a in answers])), 4),
            }
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
