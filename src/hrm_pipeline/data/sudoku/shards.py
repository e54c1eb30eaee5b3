"""Sharded generation on a process pool, deterministic for a seed and shard size whatever the worker count.

Shard i always draws from the i-th child of one seed and shards are joined in order, so ``workers`` only
changes how fast the same puzzles come. Shards cannot see each other: a puzzle (or, with grid orbits, a
grid) that repeats one of an earlier shard or of ``seen`` / ``avoid`` is dropped at the join, and top-up
shards from the next child seeds replace it (for 9x9 a repeat practically never happens).

A split may come in strata (:class:`Stratum`): givens counts, each with its own bucket shares and share of the
split (a givens mix, see ``SudokuConfig.givens_mix``). Every shard belongs to one stratum, a top-up stays in
the stratum it replaces, and the joined split is shuffled (a seeded shuffle) so that its order says nothing
of the strata.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from hrm_pipeline.data.sudoku.generate import (
    MixGenerator,
    Puzzle,
    SearchParams,
    bucket_quota,
    placed_bucket,
)
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
class Stratum:
    """Part of a split: its search settings (its givens: ``params.min_givens..max_givens``), its bucket
    shares, and its weight (share of the split)."""

    params: SearchParams
    shares: list[float]
    weight: float = 1.0


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
    strata: list[Stratum] | None = None,
) -> Sharded:
    """``count`` puzzles from shards of ``shard_size`` (the last one shorter), ``workers`` at a time.

    ``strata``: the split's parts (their counts by largest remainder of the weights); default one stratum of
    ``params`` and ``shares``. A stratum's bucket counts are fixed once and dealt over its shards, so the
    split holds them exactly (rounding per shard would be off by up to one puzzle per bucket per shard)."""
    root = np.random.SeedSequence(int(rng.integers(2**63)))
    strata = strata or [Stratum(params, list(shares))]
    seen, avoid = set(seen or ()), set(avoid or ())
    out = Sharded([])
    per_stratum = np.bincount(bucket_quota(count, [s.weight for s in strata]), minlength=len(strata))
    want = np.stack(
        [
            np.bincount(bucket_quota(n, s.shares), minlength=len(edges))
            for n, s in zip(per_stratum, strata, strict=True)
        ]
    )
    sizes = _deal(want, shard_size)
    pool = (
        ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else None
    )
    try:
        while sizes:
            jobs = [
                ShardJob(
                    shape,
                    list(edges),
                    [float(c) for c in counts],
                    strata[k].params,
                    int(counts.sum()),
                    s,
                    frozenset(seen),
                    frozenset(avoid),
                )
                for (k, counts), s in zip(sizes, root.spawn(len(sizes)), strict=True)
            ]
            results = list(pool.map(run_shard, jobs)) if pool else [run_shard(j) for j in jobs]
            missing = np.zeros_like(want)
            for (k, _), r in zip(sizes, results, strict=True):
                out.cpu_s += r.cpu_s
                for p, g in zip(r.puzzles, r.grid_keys, strict=True):
                    if p.key in seen or g in avoid or (params.grid_orbits and g in out.grid_keys):
                        missing[k, placed_bucket(p, edges, strata[k].params)] += 1
                        continue
                    seen.add(p.key)
                    out.puzzles.append(p)
                    out.keys.add(p.key)
                    out.grid_keys.add(g)
            out.dropped += int(missing.sum())
            sizes = _deal(missing, shard_size)
            if params.grid_orbits:
                avoid |= out.grid_keys
    finally:
        if pool:
            pool.shutdown()
    if len(strata) > 1:  # joined stratum after stratum: shuffle, seeded by the same root
        order = np.random.default_rng(root.spawn(1)[0]).permutation(len(out.puzzles))
        out.puzzles = [out.puzzles[i] for i in order]
    return out


def _deal(counts: np.ndarray, shard_size: int) -> list[tuple[int, np.ndarray]]:
    """(stratum, bucket counts) per shard: each stratum's ``counts`` (strata x buckets) dealt into shards of
    ``shard_size`` puzzles (the last one shorter), every bucket spread evenly over the shards."""
    out = []
    for k, row in enumerate(counts):
        buckets = np.repeat(np.arange(len(row)), row)
        rank = np.arange(len(buckets)) - np.repeat(np.cumsum(row) - row, row)  # place within its bucket
        dealt = buckets[np.argsort((rank + 0.5) / row[buckets], kind="stable")]
        out += [
            (k, np.bincount(dealt[i : i + shard_size], minlength=len(row)))
            for i in range(0, len(dealt), shard_size)
        ]
    return out
