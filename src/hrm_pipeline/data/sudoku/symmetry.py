"""The sudoku symmetry group: augmentation (random group elements) and a canonical form (orbit minimum).

Group: digit relabelling, transpose (square boxes only), band and stack permutations, row-in-band and
column-in-stack permutations. The canonical form is the lexicographic minimum of the puzzle string over the
whole group, digits relabelled in order of first appearance (blank = 0 stays 0): two puzzles share it iff
they are equivalent.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numba as nb
import numpy as np

from hrm_pipeline.data.sudoku.solver import Shape

SENTINEL = 127  # larger than any label: "no best row yet"


@dataclass(frozen=True)
class Transform:
    """One group element: out[r, c] = digit_map[in'[row_map[r], col_map[c]]], in' = in transposed if set."""

    transpose: bool
    row_map: np.ndarray  # (n,) source row of each output row
    col_map: np.ndarray  # (n,) source column of each output column
    digit_map: np.ndarray  # (n+1,) new digit of each old digit; 0 -> 0


def _line_perm(rng: np.random.Generator, groups: int, size: int) -> np.ndarray:
    """A random permutation of groups*size lines that keeps lines of a group (band or stack) together."""
    order = rng.permutation(groups)
    return np.concatenate([g * size + rng.permutation(size) for g in order])


def random_transform(shape: Shape, rng: np.random.Generator, *, transpose_p: float = 0.5) -> Transform:
    n, br, bc = shape.n, shape.box_rows, shape.box_cols
    # transposing swaps box_rows and box_cols, so it is a symmetry only for square boxes
    transpose = bool(br == bc and rng.random() < transpose_p)
    row_map = _line_perm(rng, bc, br)  # bc bands of br rows
    col_map = _line_perm(rng, br, bc)  # br stacks of bc columns
    digit_map = np.concatenate([[0], 1 + rng.permutation(n)])
    return Transform(transpose, row_map, col_map, digit_map)


def apply_transform(grids: np.ndarray, t: Transform, shape: Shape) -> np.ndarray:
    """Apply ``t`` to (N, n*n) or (n*n,) digit grids (0 = blank)."""
    n = shape.n
    g = np.asarray(grids).reshape(-1, n, n)
    if t.transpose:
        g = g.transpose(0, 2, 1)
    g = g[:, t.row_map][:, :, t.col_map]
    out = t.digit_map[g].astype(np.asarray(grids).dtype)
    return out.reshape(np.asarray(grids).shape)


@cache
def _col_perms(shape: Shape) -> np.ndarray:
    """Every column arrangement: stack permutations x column permutations within each stack."""
    br, bc = shape.box_rows, shape.box_cols
    perms = []
    for stacks in itertools.permutations(range(br)):
        for inner in itertools.product(itertools.permutations(range(bc)), repeat=br):
            perms.append([s * bc + inner[i][j] for i, s in enumerate(stacks) for j in range(bc)])
    return np.array(perms, dtype=np.int64)


@nb.njit(cache=True)
def _best_rows(h, n, br, best, labels, cur, used, level_choice, level_labels, level_next, row):
    """DFS over row arrangements of the column-permuted grid ``h``, lowering ``best`` in place.

    We only descend while the prefix equals best's prefix (a smaller row first overwrites best from that
    row on), so every comparison is against ``best`` at the current row.
    """
    level = 0
    level_choice[0] = -1
    level_next[0] = 1
    level_labels[0, :] = 0
    while level >= 0:
        band_start = (level % br) == 0
        c = level_choice[level] + 1
        found = -1
        while c < n:
            if not used[c]:
                if band_start:
                    b0 = (c // br) * br  # a new band slot: a row of a wholly unused band
                    ok = True
                    for r in range(b0, b0 + br):
                        if used[r]:
                            ok = False
                    if ok:
                        found = c
                        break
                elif cur[level - 1] // br == c // br:
                    found = c
                    break
            c += 1
        if found < 0:  # this level is exhausted: free the row chosen above and go up
            level -= 1
            if level >= 0:
                used[cur[level]] = False
            continue
        level_choice[level] = found
        labels[:] = level_labels[level]
        nxt = level_next[level]
        cmp = 0
        for j in range(n):
            d = h[found * n + j]
            v = 0
            if d != 0:
                if labels[d] == 0:
                    labels[d] = nxt
                    nxt += 1
                v = labels[d]
            row[j] = v
            if cmp == 0:
                bv = best[level * n + j]
                if v < bv:
                    cmp = -1
                elif v > bv:
                    cmp = 1
        if cmp > 0:
            continue
        if cmp < 0:
            for k in range(level * n, n * n):
                best[k] = SENTINEL
            for j in range(n):
                best[level * n + j] = row[j]
        if level == n - 1:
            continue  # a full arrangement: best now holds it; try the remaining last rows
        cur[level] = found
        used[found] = True
        level += 1
        level_labels[level, :] = labels
        level_next[level] = nxt
        level_choice[level] = -1
    return best


@nb.njit(cache=True)
def _canonical(grid, n, br, col_perms, allow_transpose):
    best = np.full(n * n, SENTINEL, dtype=np.int64)
    labels = np.zeros(n + 1, dtype=np.int64)
    cur = np.zeros(n, dtype=np.int64)
    used = np.zeros(n, dtype=np.bool_)
    level_choice = np.zeros(n + 1, dtype=np.int64)
    level_labels = np.zeros((n + 1, n + 1), dtype=np.int64)
    level_next = np.zeros(n + 1, dtype=np.int64)
    h = np.empty(n * n, dtype=np.int64)
    row = np.empty(n, dtype=np.int64)
    for t in range(2 if allow_transpose else 1):
        for p in range(col_perms.shape[0]):
            for r in range(n):
                for c in range(n):
                    src = col_perms[p, c]
                    h[r * n + c] = grid[src * n + r] if t else grid[r * n + src]
            used[:] = False
            _best_rows(h, n, br, best, labels, cur, used, level_choice, level_labels, level_next, row)
    return best


def canonical_form(grid: np.ndarray, shape: Shape) -> np.ndarray:
    """The orbit minimum of a (n*n,) digit grid (0 = blank) as a (n*n,) array of labels."""
    g = np.ascontiguousarray(grid, dtype=np.int64).reshape(-1)
    return _canonical(g, shape.n, shape.box_rows, _col_perms(shape), shape.box_rows == shape.box_cols)


def canonical_key(grid: np.ndarray, shape: Shape) -> str:
    return "".join(str(int(v)) for v in canonical_form(grid, shape))


# ---- orbit set: invariant hash prefilter, exact canonical form only on a hash match ---------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64 finaliser constants (a well-mixing 64-bit bijection)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_SALT_LINE, _SALT_CELL = np.uint64(0x9E3779B97F4A7C15), np.uint64(0x632BE59BD9B4E019)
_SALT_PEERS = np.uint64(7)


@nb.njit(cache=True, inline="always")
def _mix(x):
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@nb.njit(cache=True)
def _invariant(grid, n, br, bc):
    """A 64-bit hash that is constant on orbits: two rounds of colour refinement over the clue cells.

    Round 0 colours a clue by symmetric-group-invariant counts (clues in its row and band, column and stack
    (summed, so transposing does not change it), box, and of its digit); round 1 adds the colour sums of its
    row, column, box and same-digit peers. Sums are order-free, so the hash ignores every permutation.
    """
    m = n * n
    rowc = np.zeros(n, dtype=np.uint64)
    colc = np.zeros(n, dtype=np.uint64)
    boxc = np.zeros(n, dtype=np.uint64)
    bandc = np.zeros(n, dtype=np.uint64)
    stackc = np.zeros(n, dtype=np.uint64)
    digc = np.zeros(n + 1, dtype=np.uint64)
    for c in range(m):
        d = grid[c]
        if d:
            r, k = c // n, c % n
            rowc[r] += 1
            colc[k] += 1
            boxc[(r // br) * br + k // bc] += 1
            bandc[r // br] += 1
            stackc[k // bc] += 1
            digc[d] += 1
    f0 = np.zeros(m, dtype=np.uint64)
    for c in range(m):
        d = grid[c]
        if d:
            r, k = c // n, c % n
            a = _mix(rowc[r] * np.uint64(64) + bandc[r // br] + _SALT_LINE)
            b = _mix(colc[k] * np.uint64(64) + stackc[k // bc] + _SALT_LINE)
            cell = _mix(boxc[(r // br) * br + k // bc] * np.uint64(128) + digc[d] + _SALT_CELL)
            f0[c] = _mix(a + b + cell)
    rows = np.zeros(n, dtype=np.uint64)
    cols = np.zeros(n, dtype=np.uint64)
    boxes = np.zeros(n, dtype=np.uint64)
    digits = np.zeros(n + 1, dtype=np.uint64)
    for c in range(m):
        d = grid[c]
        if d:
            r, k = c // n, c % n
            rows[r] += f0[c]
            cols[k] += f0[c]
            boxes[(r // br) * br + k // bc] += f0[c]
            digits[d] += f0[c]
    h = _mix(np.uint64(0) + digc.sum())
    for c in range(m):
        d = grid[c]
        if d:
            r, k = c // n, c % n
            lines = _mix(rows[r] - f0[c]) + _mix(cols[k] - f0[c])
            peers = _mix(boxes[(r // br) * br + k // bc] - f0[c] + _SALT_PEERS) ^ _mix(digits[d] - f0[c])
            h += _mix(f0[c] + _mix(lines + _mix(peers)))
    return h


def invariant_hash(grid: np.ndarray, shape: Shape) -> int:
    """Equal for equivalent puzzles (different hashes prove puzzles inequivalent; equal ones may not be)."""
    g = np.ascontiguousarray(grid, dtype=np.int64).reshape(-1)
    return int(_invariant(g, shape.n, shape.box_rows, shape.box_cols))


class OrbitSet:
    """Puzzles up to symmetry: ``add`` refuses a puzzle equivalent to one already held.

    The invariant hash decides almost every case in microseconds; only on a hash match do we compare
    exact canonical forms (computed lazily, ~1 ms each for 9x9).
    """

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self._by_hash: dict[int, list[int]] = {}
        self._grids: list[np.ndarray] = []
        self._keys: list[str | None] = []

    def __len__(self) -> int:
        return len(self._grids)

    def _key(self, i: int) -> str:
        if self._keys[i] is None:
            self._keys[i] = canonical_key(self._grids[i], self.shape)
        return self._keys[i]  # type: ignore[return-value]

    def add(self, grid: np.ndarray, key: str | None = None) -> bool:
        """Hold ``grid`` unless an equivalent puzzle is already held; True when added."""
        h = invariant_hash(grid, self.shape)
        same = self._by_hash.get(h)
        if same:
            key = key or canonical_key(grid, self.shape)
            if any(self._key(i) == key for i in same):
                return False
        self._by_hash.setdefault(h, []).append(len(self._grids))
        self._grids.append(np.array(grid, dtype=np.int64).reshape(-1))
        self._keys.append(key)
        return True

    def keys(self) -> set[str]:
        """Canonical keys of every held puzzle (computes the missing ones)."""
        return {self._key(i) for i in range(len(self._grids))}

    def copy(self) -> OrbitSet:
        other = OrbitSet(self.shape)
        other._by_hash = {h: list(v) for h, v in self._by_hash.items()}
        other._grids = list(self._grids)
        other._keys = list(self._keys)
        return other
