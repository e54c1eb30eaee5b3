"""Sharded generation on a process pool, deterministic for a seed and shard size whatever the worker count.

Shard i always draws from the i-th child of one seed and shards are joined in order, so ``workers`` only
changes how fast the same puzzles come. Shards cannot see each other: a puzzle (or, with grid orbits, a
grid) that repeats one of an earlier shard or of ``seen`` / ``avoid`` is dropped at the join, and top-up
shards from the next child seeds replace it (for 9x9 a repeat practically never happens).
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from hrm_pipeline.data.sudoku.generate import MixGenerator, Puzzle, SearchParams
from hrm_pipeline.data.sudoku.solver import Shape
from hrm_pipeline.data.sudoku.symmetry import canonical_key


@dataclass
class ShardJob:
    shape: Shape
    edges: list[int]
    shares: list[float]
    params: SearchParams
    count: int
    seed: np.random.SeedSequence
    seen: frozenset[str] = frozenset()
    avoid: frozenset[bytes] = frozenset()


@dataclass
class ShardResult:
    puzzles: list[Puzzle]
    grid_keys: list[bytes]  # per puzzle, the key its solution grid is compared by (MixGenerator.grid_key)
    cpu_s: float  # CPU seconds the shard took (for throughput reports)


@dataclass
class Sharded:
    puzzles: list[Puzzle]
    keys: set[str] = field(default_factory=set)  # canonical keys of the puzzles
    grid_keys: set[bytes] = field(default_factory=set)
    cpu_s: float = 0.0  # CPU seconds over all shards
    dropped: int = 0  # puzzles dropped at the join as repeats of earlier ones


def run_shard(job: ShardJob) -> ShardResult:
    c0 = time.process_time()
    gen = MixGenerator(
        job.shape,
        np.random.default_rng(job.seed),
        edges=list(job.edges),
        params=job.params,
        seen=set(job.seen),
        avoid_solutions=set(job.avoid),
    )
    puzzles = list(gen.generate(job.count, job.shares))
    for p in puzzles:
        p.key = p.key or canonical_key(p.puzzle, job.shape)
    grid_keys = [p.grid.encode() if p.grid else gen.grid_key(p.solution) for p in puzzles]
    return ShardResult(puzzles, grid_keys, time.process_time() - c0)


def generate_sharded(
    shape: Shape,
    rng: np.random.Generator,
    count: int,
    shares: list[float],
    edges: list[int],
    params: SearchParams,
    shard_size: int,
    workers: int = 1,
    seen: set[str] | None = None,
    avoid: set[bytes] | None = None,
) -> Sharded:
    """``count`` puzzles from shards of ``shard_size`` (the last one shorter), ``workers`` at a time."""
    root = np.random.SeedSequence(int(rng.integers(2**63)))
    seen, avoid = set(seen or ()), set(avoid or ())
    out = Sharded([])
    sizes = [min(shard_size, count - i) for i in range(0, count, shard_size)]
    pool = (
        ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else None
    )
    try:
        while sizes:
            jobs = [
                ShardJob(shape, list(edges), list(shares), params, n, s, frozenset(seen), frozenset(avoid))
                for n, s in zip(sizes, root.spawn(len(sizes)), strict=True)
            ]
            results = list(pool.map(run_shard, jobs)) if pool else [run_shard(j) for j in jobs]
            missing = 0
            for r in results:
                out.cpu_s += r.cpu_s
                for p, g in zip(r.puzzles, r.grid_keys, strict=True):
                    if p.key in seen or g in avoid or (params.grid_orbits and g in out.grid_keys):
                        missing += 1
                        continue
                    seen.add(p.key)
                    out.puzzles.append(p)
                    out.keys.add(p.key)
                    out.grid_keys.add(g)
            out.dropped += missing
            sizes = [min(shard_size, missing - i) for i in range(0, missing, shard_size)]
            if params.grid_orbits:
                avoid |= out.grid_keys
    finally:
        if pool:
            pool.shutdown()
    return out
