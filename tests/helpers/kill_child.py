"""A tiny training run for the kill tests, as a process the test can SIGKILL.

    python -m helpers.kill_child OUT_DIR [--pause-before-publish N]

Prints ``step N`` after every optimizer step and appends each step's record as one JSON line to
OUT_DIR/steps.jsonl, so the test can tell the last step a killed process logged and compare every step's
loss with an uninterrupted run. ``--pause-before-publish N`` stops the Nth checkpoint save in the window
between its two renames (previous checkpoint moved aside, new one not yet in place) and prints ``paused``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from helpers.train import short_train_config, tiny_model_config
from hrm_pipeline.data.toy import ToySudokuConfig, build_toy
from hrm_pipeline.train import TrainConfig, train
from hrm_pipeline.train import checkpoint as ckpt

STEPS = 30
LOG_NAME = "steps.jsonl"


def model_config():
    # Puzzle embedding and exploration on: their optimiser and generator state must survive a kill too.
    return tiny_model_config(puzzle_emb_ndim=32, halt_exploration_prob=0.5)


def train_config() -> TrainConfig:
    return short_train_config(max_steps=STEPS, checkpoint_interval=2)


def toy_train_data():
    return build_toy(ToySudokuConfig(seed=0, test_grids=48, puzzles_per_grid=4))[0]


def _pause_before_publish(nth: int) -> None:
    real_replace = os.replace
    seen = 0

    def replace(src, dst):
        nonlocal seen
        if Path(dst).name == ckpt.CHECKPOINT_NAME and str(src).endswith(".tmp"):
            seen += 1
            if seen == nth:
                print("paused", flush=True)
                time.sleep(600)
        real_replace(src, dst)

    ckpt.os.replace = replace  # the child process only: it is killed in the pause


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--pause-before-publish", type=int, default=0)
    args = parser.parse_args()
    if args.pause_before_publish:
        _pause_before_publish(args.pause_before_publish)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    log = open(args.out_dir / LOG_NAME, "a")  # noqa: SIM115 - open for the process's whole life

    def record(step: int, metrics: dict[str, float]) -> None:
        if "train/loss" in metrics:
            log.write(json.dumps({"step": step, **metrics}) + "\n")
            log.flush()
            print(f"step {step}", flush=True)

    result = train(model_config(), train_config(), toy_train_data(), None, args.out_dir, callbacks=[record])
    print(f"done {result.start_step} {result.steps_done}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
