"""Variety measures: near-duplicate puzzles up to symmetry and solution grids up to symmetry.

Near-duplicate (``k`` clues): two puzzles are near-duplicates when, after the best symmetry alignment, each
has at most ``k`` clues outside the clues they share (same cell, same digit). With k = 2 this covers every
pair within 2 cells of each other (a clue swap, one or two added clues, one or two changed digits) and
pairs two swaps apart. Found by hashing every sub-puzzle left after deleting up to ``k`` clues with the
orbit-invariant hash (a shared sub-puzzle is a shared hash), then confirming hash matches by canonical form.
"""

from __future__ import annotations

import itertools

import numba as nb
import numpy as np

from hrm_pipeline.data.sudoku.solver import Shape
from hrm_pipeline.data.sudoku.symmetry import _invariant, canonical_key


def near_duplicate_rows(puzzle: np.ndarray, others: np.ndarray, k: int) -> np.ndarray:
    """Per row of ``others`` (same frame, no alignment): is it a near-duplicate of ``puzzle``?"""
    p = np.asarray(puzzle).reshape(1, -1)
    shared = ((others == p) & (p > 0)).sum(axis=1)
    return ((p > 0).sum() - shared <= k) & ((others > 0).sum(axis=1) - shared <= k)


@nb.njit(cache=True)
def _deletion_hashes(grid, n, br, bc, k):
    """Invariant hashes of ``grid`` minus every set of at most ``k`` (<= 2) of its clues."""
    clues = np.flatnonzero(grid)
    c = len(clues)
    total = 1 + c + (c * (c - 1) // 2 if k >= 2 else 0)
    out = np.empty(total, dtype=np.uint64)
    g = grid.copy()
    out[0] = _invariant(g, n, br, bc)
    i = 1
    if k >= 1:
        for a in range(c):
            da = g[clues[a]]
            g[clues[a]] = 0
            out[i] = _invariant(g, n, br, bc)
            i += 1
            if k >= 2:
                for b in range(a + 1, c):
                    db = g[clues[b]]
                    g[clues[b]] = 0
                    out[i] = _invariant(g, n, br, bc)
                    i += 1
                    g[clues[b]] = db
            g[clues[a]] = da
    return out[:i]


def deletion_hashes(puzzle: np.ndarray, shape: Shape, k: int) -> np.ndarray:
    """Orbit-invariant hashes of every sub-puzzle of ``puzzle`` left after deleting up to ``k`` clues: two
    puzzles share one iff (up to hash collisions) they are near-duplicates."""
    g = np.ascontiguousarray(puzzle, dtype=np.int64).reshape(-1)
    return _deletion_hashes(g, shape.n, shape.box_rows, shape.box_cols, k)


def _deletions(grid: np.ndarray, k: int) -> list[np.ndarray]:
    """The sub-puzzles hashed by _deletion_hashes, in the same order."""
    clues = np.flatnonzero(grid)
    subs = [grid]
    for a in range(len(clues)) if k >= 1 else ():
        g = grid.copy()
        g[clues[a]] = 0
        subs.append(g)
        for b in range(a + 1, len(clues)) if k >= 2 else ():
            h = g.copy()
            h[clues[b]] = 0
            subs.append(h)
    return subs


def near_duplicate_pairs(puzzles: np.ndarray, shape: Shape, k: int = 2) -> list[tuple[int, int]]:
    """Index pairs (i < j) of near-duplicate puzzles (``k`` clues, see the module doc), confirmed exactly."""
    if not 0 <= k <= 2:
        raise ValueError("near-duplicates are measured for k = 0, 1 or 2 clues")
    grids = np.ascontiguousarray(puzzles, dtype=np.int64).reshape(len(puzzles), -1)
    hashes, owner, which = [], [], []
    for i, g in enumerate(grids):
        h = _deletion_hashes(g, shape.n, shape.box_rows, shape.box_cols, k)
        hashes.append(h)
        owner.append(np.full(len(h), i))
        which.append(np.arange(len(h)))
    if not hashes:
        return []
    h, o, w = np.concatenate(hashes), np.concatenate(owner), np.concatenate(which)
    order = np.argsort(h, kind="stable")
    h, o, w = h[order], o[order], w[order]
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    ends = np.r_[starts[1:], len(h)]
    candidates: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for s, e in zip(starts, ends, strict=True):
        if e - s < 2 or (o[s:e] == o[s]).all():
            continue
        for x, y in itertools.combinations(range(s, e), 2):
            if o[x] != o[y]:
                i, j = sorted((int(o[x]), int(o[y])))
                wi, wj = (w[x], w[y]) if o[x] == i else (w[y], w[x])
                candidates.setdefault((i, j), []).append((int(wi), int(wj)))
    subs: dict[int, list[np.ndarray]] = {}
    pairs = []
    for (i, j), matches in sorted(candidates.items()):
        si = subs.setdefault(i, _deletions(grids[i], k))
        sj = subs.setdefault(j, _deletions(grids[j], k))
        if any(canonical_key(si[a], shape) == canonical_key(sj[b], shape) for a, b in matches[:8]):
            pairs.append((i, j))
    return pairs


def near_duplicate_count(puzzles: np.ndarray, shape: Shape, k: int = 2) -> int:
    """Puzzles that have a near-duplicate among the others."""
    return len({i for pair in near_duplicate_pairs(puzzles, shape, k) for i in pair})


def grid_orbit_classes(solutions: np.ndarray, shape: Shape) -> dict[str, int]:
    """Canonical key of each solution grid -> how many of ``solutions`` lie in that orbit."""
    counts: dict[str, int] = {}
    for g in solutions:
        key = canonical_key(g, shape)
        counts[key] = counts.get(key, 0) + 1
    return counts
