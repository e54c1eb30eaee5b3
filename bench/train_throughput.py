"""Training throughput of HRM: examples/s, ACT segments/s, peak memory and model FLOPs utilisation.

One timed step = one optimizer step = one ACT segment for every row of the batch (forward, the no-grad
Q-target segment, backward of the 1-step gradient, optimiser update), as in hrm_pipeline.train.

    python bench/train_throughput.py --config tiny --steps 20
    python bench/train_throughput.py --config paper --seq-len 81 --batch 8 --steps 3 --json out.json
    python bench/train_throughput.py --config paper --seq-len 900 --device cuda --precision bf16 --compile
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import asdict

import torch

from hrm_pipeline.model import HRM, HRMConfig, build_optimizers, compute_loss

# Dense bf16 peak of an H100 SXM (no sparsity); the MFU denominator when a GPU is used and none is given.
H100_BF16_PEAK = 989e12
CONFIGS = {
    # The paper's Sudoku / Maze / ARC model (hrm.md): vocab 12 covers the ARC tokens, 11 Sudoku's.
    "paper": dict(
        hidden_size=512, num_heads=8, H_layers=4, L_layers=4, H_cycles=2, L_cycles=2, vocab_size=12
    ),
    # A model the toy task trains on a laptop CPU.
    "tiny": dict(hidden_size=64, num_heads=4, H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, vocab_size=12),
}


def flops_per_example_segment(cfg: HRMConfig, training: bool = True) -> float:
    """Analytic matmul FLOPs (2 per MAC) of one row through one ACT segment.

    Forward: (N*T L-updates + N H-updates) x layers blocks; per token per block the qkv+o projections (4 D^2),
    the SwiGLU (3 D I) and attention scores/values (2 S D); plus the lm head. Training adds the Q-target
    segment (one more forward) and the backward (2x forward) of the last L- and H-update only.
    """
    d, s = cfg.hidden_size, cfg.total_len
    inner = -(-round(cfg.expansion * d * 2 / 3) // 256) * 256  # the SwiGLU width rule (hrm.md)
    block = s * (4 * d * d + 3 * d * inner + 2 * s * d)  # MACs per block application
    module_calls = cfg.H_cycles * cfg.L_cycles * cfg.L_layers + cfg.H_cycles * cfg.H_layers
    forward = module_calls * block + cfg.seq_len * d * cfg.vocab_size
    if not training:
        return 2.0 * forward
    backward = 2 * (cfg.L_layers + cfg.H_layers) * block + 2 * cfg.seq_len * d * cfg.vocab_size
    return 2.0 * (2 * forward + backward)


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run(args: argparse.Namespace) -> dict:
    device = torch.device(
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = HRMConfig(
        seq_len=args.seq_len,
        num_puzzle_identifiers=args.puzzles,
        halt_max_steps=args.halt_max_steps,
        attention_backend=args.attention,
        **CONFIGS[args.config],
    )
    gen = torch.Generator(device=device).manual_seed(args.seed)
    model = HRM(cfg, generator=torch.Generator().manual_seed(args.seed)).to(device)
    forward = torch.compile(model) if args.compile else model
    optimizers = build_optimizers(model, lr=1e-4, weight_decay=0.1)
    batch = {
        "inputs": torch.randint(1, cfg.vocab_size, (args.batch, cfg.seq_len), generator=gen, device=device),
        "labels": torch.randint(1, cfg.vocab_size, (args.batch, cfg.seq_len), generator=gen, device=device),
        "puzzle_identifiers": torch.randint(
            0, cfg.num_puzzle_identifiers, (args.batch,), generator=gen, device=device
        ),
    }
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    carry = model.initial_carry(batch)

    def step() -> None:
        nonlocal carry
        with autocast:
            carry, out = forward(carry, batch, generator=gen)
        loss, _ = compute_loss(carry, out)
        (loss / args.batch).backward()
        for opt in optimizers:
            opt.step()
            opt.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start

    flops = flops_per_example_segment(cfg)
    segments_per_s = args.steps / elapsed
    examples_per_s = segments_per_s * args.batch
    peak = args.peak_flops or (H100_BF16_PEAK if device.type == "cuda" else 0.0)
    return {
        "config": args.config,
        "seq_len": cfg.seq_len,
        "batch": args.batch,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu x{torch.get_num_threads()}",
        "precision": args.precision,
        "compile": args.compile,
        "attention": args.attention,
        "params": sum(p.numel() for p in model.parameters()),
        "steps": args.steps,
        "seconds": elapsed,
        "examples_per_s": examples_per_s,  # example-segments: rows x ACT segments per second
        "segments_per_s": segments_per_s,  # batch-wide ACT segments (= optimizer steps) per second
        "gflop_per_example_segment": flops / 1e9,
        "achieved_tflops": examples_per_s * flops / 1e12,
        "mfu": examples_per_s * flops / peak if peak else None,
        "peak_memory_gib": peak_memory_bytes(device) / 2**30,
        "model_config": asdict(cfg),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    p.add_argument("--seq-len", type=int, default=81, help="tokens per example (81 sudoku, 900 maze/ARC)")
    p.add_argument("--batch", type=int, default=32, help="rows per step")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (allocator, compile)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--attention", choices=["auto", "sdpa", "flash"], default="auto", help="attention backend")
    p.add_argument("--halt-max-steps", type=int, default=16)
    p.add_argument("--puzzles", type=int, default=1, help="puzzle-embedding rows")
    peak_help = f"device peak FLOP/s for MFU (default: {H100_BF16_PEAK:.3g} on CUDA, none on CPU)"
    p.add_argument("--peak-flops", type=float, default=0.0, help=peak_help)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="", help="also write the result here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    res = run(args)
    rows = [
        (
            "config",
            f"{res['config']} (seq {res['seq_len']}, batch {res['batch']}, {res['params'] / 1e6:.2f}M)",
        ),
        ("device", f"{res['device']}, {res['precision']}, compile={res['compile']}, attn={res['attention']}"),
        ("examples/s", f"{res['examples_per_s']:.1f}  (rows x ACT segments)"),
        ("ACT segments/s", f"{res['segments_per_s']:.3f}  (optimizer steps)"),
        ("GFLOP/example-seg", f"{res['gflop_per_example_segment']:.2f}"),
        ("achieved TFLOP/s", f"{res['achieved_tflops']:.4f}"),
        ("MFU", "n/a (pass --peak-flops)" if res["mfu"] is None else f"{100 * res['mfu']:.2f}%"),
        ("peak memory", f"{res['peak_memory_gib']:.2f} GiB"),
    ]
    for name, value in rows:
        print(f"{name:>18}  {value}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
