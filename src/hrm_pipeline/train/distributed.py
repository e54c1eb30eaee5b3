"""Data parallelism under ``torchrun``: gloo on CPU, NCCL on GPU, gradients averaged by hand.

Why not ``DistributedDataParallel`` (measured: bench/ddp_allreduce.py, results in bench/results/): DDP
(SUM comm hook, ``no_sync`` on all but the last micro-batch, ``broadcast_buffers=False``) computes the same
gradients bit for bit and sends the same bytes (13.0 MiB/step at 3.4M params, 2 gloo ranks) in 2 bucketed
all-reduces instead of 1; CPU time per step differed by under 1% (854 vs 861 and 876 vs 868 ms, either
order). Its one gain is overlap, and only the backward of the last L- and H-update (~9 of ~37 GFLOP per
example-segment) can hide it: at the paper model (27.3M params, 109 MB of fp32 gradients, ~6 DDP buckets)
one NVLink all-reduce is ~0.5-1 ms against a ~12 ms step at seq 82 / 96 rows per GPU (<10%, at most ~3 ms
hideable) and <1% at seq 901; it matters only over PCIe (~4-8 ms). The explicit sum keeps the loop free of a
wrapper, ``no_sync`` and ``_orig_mod``/``module.`` prefixes, syncs exactly once per step, and the sparse
puzzle embedding needs its own gather either way. Switch if a multi-GPU profile shows the all-reduce above
~5% of the step.

The loss is already divided by the GLOBAL batch size, so SUMMING the per-rank gradients gives the gradient of
the union batch (the "average" over examples).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from hrm_pipeline.model import PuzzleEmbedding
from hrm_pipeline.model_io import resolve_device

log = logging.getLogger(__name__)


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # we initialised the process group, so we tear it down

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device_name: str = "auto") -> DistInfo:
    """Join the process group that ``torchrun`` (or a test harness) describes; a no-op for one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size <= 1 and not dist.is_initialized():
        return DistInfo(device=resolve_device(device_name))
    device = resolve_device(device_name, local_rank)
    owns = False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    # The record that a run was parallel (hrm_pipeline.train.launch shows it on stderr).
    log.info("rank %d of %d (%s on %s)", dist.get_rank(), dist.get_world_size(), dist.get_backend(), device)
    return DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        device=device,
        owns_group=owns,
    )


def teardown(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_grads(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """Sum dense gradients over ranks in one flat buffer (one collective per step, not one per tensor)."""
    if not info.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def sync_puzzle_embedding_grads(embedding: PuzzleEmbedding, info: DistInfo) -> None:
    """Make every rank's pending sparse gradient the union over ranks, so all tables get the same update.

    Each rank touched different puzzle ids; sign-SGD needs the sign of the gradient summed over the global
    batch. The (ids, grads) of every rank are all-gathered (padded to the largest count) and re-recorded as
    one pending entry; ``SparseSignSGD.step`` then sums duplicates per id as usual.
    """
    if not info.enabled:
        return
    pending = embedding.pop_pending_grads()
    dim = embedding.weight.shape[1]
    device = embedding.weight.device
    if pending is None:
        ids = torch.zeros(0, dtype=torch.long, device=device)
        grads = torch.zeros(0, dim, dtype=embedding.weight.dtype, device=device)
    else:
        ids, grads = pending
    count = torch.tensor([ids.shape[0]], device=device)
    counts = [torch.zeros_like(count) for _ in range(info.world_size)]
    dist.all_gather(counts, count)
    max_count = int(max(int(c) for c in counts))
    if max_count == 0:
        return
    pad = max_count - ids.shape[0]
    ids_p = torch.cat([ids, ids.new_zeros(pad)])
    grads_p = torch.cat([grads, grads.new_zeros(pad, dim)])
    all_ids = [torch.empty_like(ids_p) for _ in range(info.world_size)]
    all_grads = [torch.empty_like(grads_p) for _ in range(info.world_size)]
    dist.all_gather(all_ids, ids_p)
    dist.all_gather(all_grads, grads_p)
    keep_ids = torch.cat([a[: int(c)] for a, c in zip(all_ids, counts, strict=True)])
    keep_grads = torch.cat([a[: int(c)] for a, c in zip(all_grads, counts, strict=True)])
    # NOTE: PuzzleEmbedding has no public "record a gradient" call; a leaf whose .grad is the gathered sum is
    # exactly what its own training forward would have recorded (see the report's request to the model owner).
    leaf = torch.zeros_like(keep_grads)
    leaf.grad = keep_grads
    embedding._pending.append((keep_ids, leaf))


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(tensor)
    return tensor
