"""Maze CPU calibration: generate a maze set, train the params.yaml model single-threaded, score the held-out
test split (valid shortest path rate vs copying the input). Figures in CPU-seconds (time.process_time).

    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/maze_calibration.py /tmp/maze6 \
        families.maze.train.max_steps=2000
(extra arguments are params overrides; train keys go in families.maze.train, which wins over train)
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hrm_pipeline import stages
from hrm_pipeline.config import load_params
from hrm_pipeline.data.storage import load_split, read_meta, read_split
from hrm_pipeline.evaluation.metrics import maze_valid_optimal
from hrm_pipeline.evaluation.run import run_evaluation
from hrm_pipeline.train import train


def main(root: Path, extra: list[str]) -> None:
    torch.set_num_threads(1)
    where = [f"paths.{k}_dir={root / k}" for k in ("data", "runs", "reports")]
    fixed = [
        "train.num_threads=1",
        "train.progress=false",
        "evaluate.device=cpu",
        "evaluate.scaling_factors=[1]",
    ]
    p = load_params("params.yaml", [*where, *fixed, *extra]).for_family("maze")
    t0 = time.process_time()
    stages.generate(p, "maze", progress=False)
    print(f"generate: {time.process_time() - t0:.1f} CPU-s", flush=True)
    data = p.dataset_dir("maze")
    meta = read_meta(data)
    inputs = read_split(data, "test")["inputs"].to_numpy()
    labels = read_split(data, "test")["labels"].to_numpy()
    print(
        f"copy-input baseline valid-optimal: {np.mean(maze_valid_optimal(inputs, inputs)):.3f}, "
        f"token accuracy {np.mean(inputs == labels):.3f}",
        flush=True,
    )
    cfg = p.model_config(
        vocab_size=meta.vocab_size, seq_len=meta.seq_len, num_puzzle_identifiers=meta.num_puzzle_identifiers
    )

    def report(step: int, metrics: dict[str, float]) -> None:
        if "eval/exact_accuracy" in metrics:
            cpu = time.process_time() - t0
            print(
                f"step {step}: eval exact {metrics['eval/exact_accuracy']:.3f} ({cpu:.0f} CPU-s)", flush=True
            )

    t1 = time.process_time()
    out = Path(p.paths.runs_dir) / "maze"
    result = train(cfg, p.train, load_split(data, "train"), load_split(data, "test"), out, callbacks=[report])
    cpu = time.process_time() - t1
    print(f"train: {result.steps_done} steps, {cpu:.0f} CPU-s, {cpu / max(1, result.steps_done):.3f} s/step")
    metrics = run_evaluation(p, progress=False).metrics
    print(
        json.dumps(
            {
                k: v
                for k, v in metrics.items()
                if "maze" in k or k in ("exact_accuracy", "token_accuracy", "num_examples")
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
