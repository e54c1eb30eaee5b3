"""Checkpoint integrity cost: save (digest, fsync, keep-previous) and verified load vs plain torch.save/load.

    .venv/bin/python bench/checkpoint_io.py            # the paper's Sudoku model (27M params) + Adam state
    .venv/bin/python bench/checkpoint_io.py --quick    # the CPU profile's model
    .venv/bin/python bench/checkpoint_io.py --json out.json

Each figure is the median of --repeats runs in a temp folder on the same disk as the system temp dir.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hrm_pipeline.model import HRMConfig, build_optimizers
from hrm_pipeline.train import checkpoint as ckpt
from hrm_pipeline.train.loop import build_model

PAPER_SUDOKU = dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
CPU_PROFILE = dict(PAPER_SUDOKU, hidden_size=64, num_heads=4, H_layers=1, L_layers=1, puzzle_emb_ndim=0)


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CPU profile's small model")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    cfg = HRMConfig(**(CPU_PROFILE if args.quick else PAPER_SUDOKU))
    model = build_model(cfg, seed=0, device=torch.device("cpu"))
    optimizers = build_optimizers(model, lr=1e-4)
    for p in model.parameters():  # give Adam its moment buffers, as in a real checkpoint
        p.grad = torch.zeros_like(p)
    for opt in optimizers:
        opt.step()
    state = {"step": 1, "sampler": {"epoch": 0}, "rng": ckpt.rng_state(torch.Generator())}
    payload = {
        "model": model.state_dict(),
        "optimizers": [o.state_dict() for o in optimizers],
        "train_state": state,
    }

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ckpt.CHECKPOINT_NAME
        plain = Path(tmp) / "plain.pt"
        figures = {
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "plain_save_s": _median_s(lambda: torch.save(payload, plain), args.repeats),
            "verified_save_s": _median_s(
                lambda: ckpt.save_checkpoint(path, model, optimizers, state), args.repeats
            ),
            "plain_load_s": _median_s(lambda: torch.load(plain, weights_only=True), args.repeats),
            "verified_load_s": _median_s(lambda: ckpt.load(path), args.repeats),
            "digest_s": _median_s(lambda: ckpt.payload_digest(payload), args.repeats),
        }
        figures["file_mb"] = path.stat().st_size / 1e6
    for key, value in figures.items():
        print(f"{key:>16}: {value:.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
