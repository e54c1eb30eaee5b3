"""Gradient sync under torchrun: the loop's one flat all-reduce vs DistributedDataParallel, 2 gloo ranks, CPU.

    OMP_NUM_THREADS=1 python bench/ddp_allreduce.py --steps 12 --json bench/results/ddp_allreduce_cpu.json

Both sides run the same optimizer steps from the same weights and data (gradient accumulation over
``--accum`` micro-batches, each with its own ACT carry, as hrm_pipeline.train.loop does):

- explicit: hrm_pipeline.train.distributed.all_reduce_grads after the last backward (one collective, the
  gradients copied into and out of one flat buffer);
- ddp: ``DistributedDataParallel(broadcast_buffers=False, gradient_as_bucket_view=True)`` with a SUM comm
  hook (the loss is already divided by the global batch) and ``no_sync()`` on all but the last micro-batch,
  so its bucketed all-reduces start during the last backward.

Reported per step: wall and process CPU time (median over the timed steps; both ranks' CPU time, since on a
shared machine wall time is mostly other people's load), collectives and bytes all-reduced, and the largest
gradient difference between the two (the two must compute the same update).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from hrm_pipeline.model import HRMConfig, compute_loss
from hrm_pipeline.train import distributed
from hrm_pipeline.train.loop import build_model

WORLD = 2
DDP_BUCKET_MB = 25  # torch's default bucket_cap_mb


def _model_cfg(args: argparse.Namespace) -> HRMConfig:
    return HRMConfig(
        vocab_size=11,
        seq_len=81,
        num_puzzle_identifiers=1,
        hidden_size=args.hidden,
        num_heads=args.hidden // 64 if args.hidden >= 128 else 2,
        H_layers=args.layers,
        L_layers=args.layers,
        puzzle_emb_ndim=0,
        halt_max_steps=4,
        halt_exploration_prob=0.0,
    )


def _batch(cfg: HRMConfig, rows: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "inputs": torch.randint(1, cfg.vocab_size, (rows, cfg.seq_len), generator=g),
        "labels": torch.randint(1, cfg.vocab_size, (rows, cfg.seq_len), generator=g),
        "puzzle_identifiers": torch.zeros(rows, dtype=torch.long),
    }


class _Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.bytes = 0

    def add(self, tensor: torch.Tensor) -> None:
        self.calls += 1
        self.bytes += tensor.numel() * tensor.element_size()


def _sum_hook(counter: _Counter):
    """DDP comm hook that sums (the default averages over ranks) and counts what it sends."""

    def hook(_state, bucket):
        buf = bucket.buffer()
        counter.add(buf)
        return dist.all_reduce(buf, async_op=True).get_future().then(lambda fut: fut.value()[0])

    return hook


def _run_mode(mode: str, args: argparse.Namespace, rank: int) -> dict:
    cfg = _model_cfg(args)
    model = build_model(cfg, seed=0, device=torch.device("cpu"))
    params = [p for p in model.parameters() if p.requires_grad]
    info = distributed.DistInfo(rank=rank, world_size=WORLD)
    counter = _Counter()
    if mode == "ddp":
        net = DistributedDataParallel(model, broadcast_buffers=False, gradient_as_bucket_view=True)
        net.register_comm_hook(None, _sum_hook(counter))
    else:
        net = model
        plain = distributed.dist.all_reduce

        def counting(tensor, *a, **kw):
            counter.add(tensor)
            return plain(tensor, *a, **kw)

        distributed.dist.all_reduce = counting  # only this process, only this mode
    opt = torch.optim.SGD(params, lr=1e-3)
    micro_rows = args.rows // args.accum
    global_batch = args.rows * WORLD
    carries = None
    wall, cpu, calls, sent = [], [], [], []
    first_grads = None
    gen = torch.Generator().manual_seed(1 + rank)
    for step in range(args.warmup + args.steps):
        batch = _batch(cfg, args.rows, seed=1000 * step + rank)
        micro = [
            {k: v[i : i + micro_rows] for k, v in batch.items()} for i in range(0, args.rows, micro_rows)
        ]
        if carries is None:
            carries = [model.initial_carry(m) for m in micro]
        c0, b0, t0 = counter.calls, counter.bytes, time.perf_counter()
        p0 = time.process_time()
        for i, mb in enumerate(micro):
            last = i == len(micro) - 1
            with net.no_sync() if mode == "ddp" and not last else nullcontext():
                carries[i], out = net(carries[i], mb, generator=gen)
                loss, _ = compute_loss(carries[i], out)
                (loss / global_batch).backward()
        if mode == "explicit":
            distributed.all_reduce_grads(params, info)
        if first_grads is None:
            first_grads = torch.cat([p.grad.reshape(-1).clone() for p in params])
        opt.step()
        opt.zero_grad(set_to_none=mode == "explicit")  # DDP's bucket views must stay allocated
        if step >= args.warmup:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - p0)
            calls.append(counter.calls - c0)
            sent.append(counter.bytes - b0)
    if mode == "explicit":
        distributed.dist.all_reduce = plain
    return {
        "wall_s_per_step": statistics.median(wall),
        "cpu_s_per_step": statistics.median(cpu),
        "collectives_per_step": statistics.median(calls),
        "bytes_per_step": statistics.median(sent),
        "params": sum(p.numel() for p in params),
        "_first_grads": first_grads,
    }


def _worker(rank: int, port: int, args: argparse.Namespace, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    results = {}
    order = ("explicit", "ddp") if args.first == "explicit" else ("ddp", "explicit")
    for mode in order:
        dist.barrier()
        results[mode] = _run_mode(mode, args, rank)
    diff = (results["explicit"].pop("_first_grads") - results["ddp"].pop("_first_grads")).abs().max().item()
    cpu = torch.tensor([[results[m]["cpu_s_per_step"] for m in ("explicit", "ddp")]], dtype=torch.float64)
    gathered = [torch.zeros_like(cpu) for _ in range(WORLD)]
    dist.all_gather(gathered, cpu)
    if rank == 0:
        both = torch.cat(gathered).sum(0).tolist()
        for mode, total in zip(("explicit", "ddp"), both, strict=True):
            results[mode]["cpu_s_per_step_all_ranks"] = total
        record = {
            "world_size": WORLD,
            "backend": "gloo",
            "model": {"hidden": args.hidden, "layers": args.layers, "seq": 82},
            "rows_per_rank": args.rows,
            "grad_accum": args.accum,
            "steps": args.steps,
            "first_mode": args.first,
            "max_grad_difference": diff,
            **results,
        }
        Path(out).write_text(json.dumps(record, indent=2))
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_ddp_buckets(num_params: int, bytes_per_grad: int = 4, cap_mb: int = DDP_BUCKET_MB) -> int:
    """DDP's first bucket is 1 MB, the rest ``cap_mb``: a lower bound on its all-reduces per step."""
    total = num_params * bytes_per_grad
    first = 1 << 20
    return 1 + max(0, -(-(total - first) // (cap_mb << 20)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2, help="H and L layers each")
    p.add_argument("--rows", type=int, default=8, help="rows per rank per step")
    p.add_argument("--accum", type=int, default=2, help="micro-batches per step")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--first", choices=["explicit", "ddp"], default="explicit", help="which mode runs first")
    p.add_argument("--json", default="", help="also write the result here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.json or os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ddp_allreduce_{os.getpid()}.json")
    mp.spawn(_worker, args=(_free_port(), args, out), nprocs=WORLD, join=True)
    rec = json.loads(Path(out).read_text())
    rec["paper_model_ddp_buckets_per_step"] = expected_ddp_buckets(27_275_266)
    Path(out).write_text(json.dumps(rec, indent=2) + "\n")
    print(
        f"{WORLD} gloo ranks, hidden {args.hidden}, {args.layers}+{args.layers} layers, {args.rows} rows/rank"
    )
    diff = rec["max_grad_difference"]
    print(f"params {rec['explicit']['params']:,}; max |grad explicit - grad ddp| = {diff:.2e}")
    for mode in ("explicit", "ddp"):
        r = rec[mode]
        print(
            f"{mode:>9}: wall {1e3 * r['wall_s_per_step']:7.1f} ms/step, CPU (both ranks) "
            f"{1e3 * r['cpu_s_per_step_all_ranks']:7.1f} ms/step, "
            f"{r['collectives_per_step']:.0f} all-reduce(s), "
            f"{r['bytes_per_step'] / 2**20:.2f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
