"""Sudoku solver and rater: a numba DPLL over cells, minirow/minicol "triads" and band configurations.

The rating is the number of guesses until the FIRST solution, the definition used by Sudoku-Extreme (it was
computed with tdoku). We reproduce tdoku's search in our own code from its published description:

- State: cell candidates; per box minirow (minicol) the set of values that may be ABSENT from it
  (a "negative triad"); per band (stack) and value, the still-possible "configurations" (which
  minirow of each box of the band holds the value: a permutation).
- Propagation to a fixpoint (naked and hidden singles, locked candidates, the minirow rule "a minirow holds
  exactly box_cols values", and band configuration matching). Every rule only eliminates, so the fixpoint is
  unique: the order we apply the rules in does not change the state a guess is taken from.
- Branching: the unfixed band (horizontal bands first, then stacks) with the fewest configurations, then the
  value with the fewest (>= 2) configurations in it; first try its lowest configuration, then its negation.

Box shapes are general (box_rows x box_cols; 3x3 for 9x9, 2x3 for 6x6, 2x2 for 4x4) through the same code.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numba as nb
import numpy as np

# tdoku's order of the 6 configurations of a 3-box band (elem per box); the first-tried configuration is
# the lowest, so this order is part of the rating's definition.
TDOKU_PERMS3 = ((0, 1, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0), (0, 2, 1), (1, 0, 2))


@dataclass(frozen=True)
class Shape:
    """Grid geometry: n = box_rows * box_cols digits, n*n cells."""

    box_rows: int = 3
    box_cols: int = 3

    @property
    def n(self) -> int:
        return self.box_rows * self.box_cols

    @property
    def cells(self) -> int:
        return self.n * self.n


SHAPE_9 = Shape(3, 3)


def _perms(k: int) -> list[tuple[int, ...]]:
    return list(TDOKU_PERMS3) if k == 3 else list(itertools.permutations(range(k)))


@dataclass(frozen=True)
class Tables:
    """Index tables for one shape (numpy arrays handed to the numba kernels)."""

    n: int
    br: int
    bc: int
    box_cells: np.ndarray  # (n, n) cell index of element i*bc+j of box b
    h_perm: np.ndarray  # (H configs, br) minirow of each box of a band
    v_perm: np.ndarray  # (V configs, bc) minicol of each box of a stack
    peers: np.ndarray  # (n*n, 3*(n-1)) peer cells (with repeats removed: padded with -1)


@cache
def tables_for(shape: Shape) -> Tables:
    n, br, bc = shape.n, shape.box_rows, shape.box_cols
    box_cells = np.zeros((n, n), dtype=np.int64)
    for b in range(n):
        bi, bj = divmod(b, br)  # br boxes across a band, bc bands down
        for k in range(n):
            i, j = divmod(k, bc)
            box_cells[b, k] = (bi * br + i) * n + bj * bc + j
    peer_lists = []
    for c in range(n * n):
        r, col = divmod(c, n)
        b = (r // br) * br + col // bc
        ps = {r * n + x for x in range(n)} | {x * n + col for x in range(n)} | set(box_cells[b].tolist())
        ps.discard(c)
        peer_lists.append(sorted(ps))
    width = max(len(p) for p in peer_lists)
    peers = np.full((n * n, width), -1, dtype=np.int64)
    for c, p in enumerate(peer_lists):
        peers[c, : len(p)] = p
    return Tables(
        n=n,
        br=br,
        bc=bc,
        box_cells=box_cells,
        h_perm=np.array(_perms(br), dtype=np.int64),
        v_perm=np.array(_perms(bc), dtype=np.int64),
        peers=peers,
    )


# State layout (one int64 vector, so a guess copies one row):
#   [0, n*n)            cell candidate bitmasks
#   hneg  n*br          per (box, minirow): values that may be absent from it
#   vneg  n*bc          per (box, minicol)
#   hcfg  bc*HC         per (band, configuration): values for which it is still possible
#   vcfg  br*VC         per (stack, configuration)
@nb.njit(cache=True, inline="always")
def _popcount(x: int) -> int:
    c = 0
    while x:
        x &= x - 1
        c += 1
    return c


@nb.njit(cache=True, inline="always")
def _lowbit_index(x: int) -> int:
    i = 0
    while not (x >> i) & 1:
        i += 1
    return i


@nb.njit(cache=True)
def _layout(n, br, bc, hc, vc):
    o_h = n * n
    o_v = o_h + n * br
    o_hc = o_v + n * bc
    o_vc = o_hc + bc * hc
    return o_h, o_v, o_hc, o_vc, o_vc + br * vc


@nb.njit(cache=True)
def _propagate_lines(s, box_cells, n, br, bc, o_neg, across, full) -> int:
    """Box-local rules for minirows (across=True) or minicols; returns -1 conflict, 1 changed, 0 stable."""
    changed = 0
    lines = br if across else bc
    length = bc if across else br
    need_absent = n - length  # a line of `length` cells holds exactly `length` values
    for b in range(n):
        for li in range(lines):
            ni = o_neg + b * lines + li
            neg = s[ni]
            once = 0
            twice = 0
            singles = 0
            for t in range(length):
                k = li * bc + t if across else t * bc + li
                x = s[box_cells[b, k]]
                twice |= once & x
                once |= x
                if x & (x - 1) == 0:
                    singles |= x
            # values placed in the line are not absent from it
            if neg & singles:
                neg &= ~singles
            # a value neither in any cell nor allowed absent: contradiction
            if full & ~once & ~neg:
                return -1
            cnt = _popcount(neg)
            if cnt < need_absent:
                return -1
            must_in = full & ~neg
            drop = 0
            if cnt == need_absent:
                drop = neg  # exactly the allowed-absent values are absent: cells can hold only the others
            hidden = once & ~twice & must_in  # a value that must be in the line and has one cell left
            for t in range(length):
                k = li * bc + t if across else t * bc + li
                c = box_cells[b, k]
                x = s[c]
                y = x & ~drop
                h = y & hidden
                if h:
                    if h & (h - 1):
                        return -1
                    y = h
                if y != x:
                    if y == 0:
                        return -1
                    s[c] = y
                    changed = 1
            if neg != s[ni]:
                s[ni] = neg
                changed = 1
    return changed


@nb.njit(cache=True)
def _propagate_bands(s, box_cells, perm, n, br, bc, o_neg, o_cfg, across, full) -> int:
    """Band (across) or stack configuration matching; -1 conflict, 1 changed, 0 stable."""
    changed = 0
    nbands = bc if across else br
    nbox = br if across else bc  # boxes in one band = lines per box
    lines = nbox
    length = bc if across else br
    need_absent = n - length
    ncfg = perm.shape[0]
    pos = np.empty((nbox, nbox), dtype=np.int64)  # values whose triad (box J, line e) may be present
    for band in range(nbands):
        for bj in range(nbox):
            b = band * br + bj if across else bj * br + band
            for e in range(lines):
                u = 0
                for t in range(length):
                    k = e * bc + t if across else t * bc + e
                    u |= s[box_cells[b, k]]
                neg = s[o_neg + b * lines + e]
                if _popcount(neg) == need_absent:
                    u &= ~neg
                pos[bj, e] = u
        cover = 0
        for k in range(ncfg):
            ci = o_cfg + band * ncfg + k
            m = s[ci]
            for bj in range(nbox):
                m &= pos[bj, perm[k, bj]]
            if m != s[ci]:
                s[ci] = m
                changed = 1
            cover |= m
        if cover != full:
            return -1
        # positives still reachable by a configuration
        for bj in range(nbox):
            for e in range(lines):
                pos[bj, e] = 0
        for k in range(ncfg):
            m = s[o_cfg + band * ncfg + k]
            for bj in range(nbox):
                pos[bj, perm[k, bj]] |= m
        # a line holds exactly `length` values: if only that many can reach it, they are all in it
        for bj in range(nbox):
            for e in range(lines):
                p = pos[bj, e]
                if _popcount(p) == length:
                    for k in range(ncfg):
                        if perm[k, bj] != e:
                            ci = o_cfg + band * ncfg + k
                            m = s[ci] & ~p
                            if m != s[ci]:
                                s[ci] = m
                                changed = 1
        if changed:
            for bj in range(nbox):
                for e in range(lines):
                    pos[bj, e] = 0
            cover = 0
            for k in range(ncfg):
                m = s[o_cfg + band * ncfg + k]
                cover |= m
                for bj in range(nbox):
                    pos[bj, perm[k, bj]] |= m
            if cover != full:
                return -1
        for bj in range(nbox):
            b = band * br + bj if across else bj * br + band
            for e in range(lines):
                p = pos[bj, e]
                other = 0
                for e2 in range(lines):
                    if e2 != e:
                        other |= pos[bj, e2]
                ni = o_neg + b * lines + e
                neg = s[ni]
                if full & ~p & ~neg:  # must be absent but absence already ruled out
                    return -1
                nneg = neg & other
                if nneg != neg:
                    s[ni] = nneg
                    changed = 1
                for t in range(length):
                    k = e * bc + t if across else t * bc + e
                    c = box_cells[b, k]
                    x = s[c]
                    y = x & p
                    if y != x:
                        if y == 0:
                            return -1
                        s[c] = y
                        changed = 1
    return changed


@nb.njit(cache=True)
def _propagate(s, box_cells, h_perm, v_perm, n, br, bc) -> bool:
    full = (1 << n) - 1
    hc = h_perm.shape[0]
    vc = v_perm.shape[0]
    o_h, o_v, o_hc, o_vc, _ = _layout(n, br, bc, hc, vc)
    while True:
        # naked singles and box eliminations
        changed = 0
        for b in range(n):
            fixed = 0
            for k in range(n):
                x = s[box_cells[b, k]]
                if x == 0:
                    return False
                if x & (x - 1) == 0:
                    if fixed & x:
                        return False
                    fixed |= x
            for k in range(n):
                c = box_cells[b, k]
                x = s[c]
                if x & (x - 1):
                    y = x & ~fixed
                    if y != x:
                        if y == 0:
                            return False
                        s[c] = y
                        changed = 1
        for across in (True, False):
            r = _propagate_lines(s, box_cells, n, br, bc, o_h if across else o_v, across, full)
            if r < 0:
                return False
            changed |= r
        for across in (True, False):
            if across:
                r = _propagate_bands(s, box_cells, h_perm, n, br, bc, o_h, o_hc, True, full)
            else:
                r = _propagate_bands(s, box_cells, v_perm, n, br, bc, o_v, o_vc, False, full)
            if r < 0:
                return False
            changed |= r
        if not changed:
            return True


@nb.njit(cache=True)
def _choose(s, n, br, bc, hc, vc, o_hc, o_vc, low_four):
    """(band index, value) to branch on; band < bc is horizontal, else a stack; (-1, -1) when solved."""
    best_band = -1
    best_count = 1 << 30
    nb_total = bc + br
    for band in range(nb_total):
        if band < bc:
            base, ncfg = o_hc + band * hc, hc
        else:
            base, ncfg = o_vc + (band - bc) * vc, vc
        cnt = 0
        for k in range(ncfg):
            cnt += _popcount(s[base + k])
        if cnt > n and cnt < best_count:  # n = one configuration per value: fixed
            best_count = cnt
            best_band = band
    if best_band < 0:
        return -1, -1
    if best_band < bc:
        base, ncfg = o_hc + best_band * hc, hc
    else:
        base, ncfg = o_vc + (best_band - bc) * vc, vc
    best_value = -1
    best_vc = 1 << 30
    for v in range(n):
        cnt = 0
        for k in range(ncfg):
            cnt += (s[base + k] >> v) & 1
        if low_four and cnt > 4:
            cnt = 4
        if cnt >= 2 and cnt < best_vc:
            best_vc = cnt
            best_value = v
            if cnt == 2:
                break
    return best_band, best_value


@nb.njit(cache=True)
def search(
    grid,
    box_cells,
    h_perm,
    v_perm,
    n,
    br,
    bc,
    limit,
    rebranch=False,
    low_four=True,
    forbid_cell=-1,
    forbid_digit=0,
    store=None,
):
    """DFS in tdoku's order. grid: int array of n*n digits (0 = blank).

    ``forbid_cell``/``forbid_digit`` (a blank cell) remove one candidate first: the generator asks "is there a
    solution other than the known one?" as one satisfiability search (every other solution differs there).

    ``store`` (optional, (k, n*n) int64): receives the first k solutions found, in order; the generator
    enumerates a clue's alternatives with it to find every unique clue swap at once.

    Returns (solutions found up to limit, guesses until the first solution (or all guesses if none),
    total guesses, first solution as digits).
    """
    hc = h_perm.shape[0]
    vc = v_perm.shape[0]
    o_h, o_v, o_hc, o_vc, size = _layout(n, br, bc, hc, vc)
    full = (1 << n) - 1
    # every guess removes a configuration bit on both branches, so a DFS path is shorter than the number of
    # configuration bits; the stack holds one pending negation per level plus the node being expanded
    max_stack = (bc * hc + br * vc) * n + 2
    stack = np.empty((max_stack, size), dtype=np.int64)
    flags = np.empty((max_stack, 2), dtype=np.int64)  # forced (band, value) to re-branch on, or -1
    solution = np.zeros(n * n, dtype=np.int64)
    s = stack[0]
    s[:] = full
    s[o_hc:] = 0
    for k in range(hc * bc):
        s[o_hc + k] = full
    for k in range(vc * br):
        s[o_vc + k] = full
    for c in range(n * n):
        d = grid[c]
        if d > 0:
            if not (s[c] >> (d - 1)) & 1:
                return 0, 0, 0, solution
            s[c] = 1 << (d - 1)
    if forbid_cell >= 0:
        s[forbid_cell] &= ~(1 << (forbid_digit - 1))
        if s[forbid_cell] == 0:
            return 0, 0, 0, solution
    flags[0, 0] = -1
    flags[0, 1] = -1
    top = 1
    guesses = 0
    first_guesses = -1
    nsol = 0
    while top > 0:
        top -= 1
        s = stack[top]
        if not _propagate(s, box_cells, h_perm, v_perm, n, br, bc):
            continue
        band = flags[top, 0]
        value = flags[top, 1]
        if band >= 0:
            base = o_hc + band * hc if band < bc else o_vc + (band - bc) * vc
            ncfg = hc if band < bc else vc
            cnt = 0
            for k in range(ncfg):
                cnt += (s[base + k] >> value) & 1
            if cnt < 2:
                band = -1
        if band < 0:
            band, value = _choose(s, n, br, bc, hc, vc, o_hc, o_vc, low_four)
            if band < 0:
                nsol += 1
                if nsol == 1:
                    first_guesses = guesses
                    for c in range(n * n):
                        solution[c] = _lowbit_index(s[c]) + 1
                if store is not None:
                    if nsol <= store.shape[0]:
                        for c in range(n * n):
                            store[nsol - 1, c] = _lowbit_index(s[c]) + 1
                if nsol >= limit:
                    break
                continue
        guesses += 1
        base = o_hc + band * hc if band < bc else o_vc + (band - bc) * vc
        ncfg = hc if band < bc else vc
        bit = 1 << value
        first = 0
        while not (s[base + first] & bit):
            first += 1
        # the assertion of the first configuration is tried first (on top); its negation stays below,
        # flagged to re-branch on the same band and value if it still has >= 2 configurations
        asrt = stack[top + 1]
        asrt[:] = s
        for k in range(ncfg):
            if k != first:
                asrt[base + k] &= ~bit
        s[base + first] &= ~bit
        flags[top, 0] = band if rebranch else -1
        flags[top, 1] = value
        flags[top + 1, 0] = -1
        flags[top + 1, 1] = -1
        top += 2
    if first_guesses < 0:
        first_guesses = guesses
    return nsol, first_guesses, guesses, solution
