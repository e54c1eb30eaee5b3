"""Maze-Hard generator: i.i.d. walls, S and G far apart by BFS, path lengths resampled to the official
histogram.

Recipe (measured against the official files, /work/shared/reference/datasets.md):
1. Draw a batch of layouts; each maze gets its own wall probability p ~ U(wall_prob_min, wall_prob_max) and
   every cell (border included: the official mazes have neither a wall frame nor a free frame) is a wall with
   probability p.
2. Screen each layout cheaply: a double-sweep BFS in every component large enough to hold a long path gives a
   lower bound on its diameter; layouts without a pair at least ``min_path_moves`` apart are dropped (~99 %).
3. For a surviving layout, all-pairs BFS over its large components gives every (S, G) distance. A length bin
   is drawn among the bins that this layout can serve and that still need mazes, weighted by their remaining
   quota; S and G are then drawn uniformly among the ordered pairs whose distance falls in that bin. Filling
   bins to quotas fixes the naive recipe's shortage of long paths (~1 % >= 120 moves vs 14 % officially).
4. S and G are not uniform among the pairs of the bin: far-apart pairs crowd dead ends (51 % of starts vs
   19 % officially). Pairs are kept by rejection sampling on each endpoint's class (free-neighbour count 1-4,
   on the border or not) toward the official class mix (:class:`EndpointSampler`, :func:`endpoint_targets`).
5. Layouts whose wall bitmap is a dihedral image of one already taken (in any split) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from tqdm import tqdm

from hrm_pipeline.data.maze.grid import (
    FREE,
    GOAL,
    START,
    UNREACHED,
    WALL,
    _bfs,
    canonical_layouts,
    neighbour,
)

# Layouts drawn per screening call: large enough to amortise the numba call, small enough that a split of a
# few mazes does not draw far more random numbers than it needs (the stream stays a function of the seed).
SCREEN_BATCH = 2048
# A split that still is not full after this many screened layouts has an impossible spec (e.g. a min path
# longer than the grid allows); stop with a clear error instead of looping forever.
MAX_LAYOUTS_PER_MAZE = 200_000


@dataclass
class GeneratedMazes:
    """One split's generated mazes as (N, size*size) input tokens plus what the generator knows of them."""

    inputs: np.ndarray  # (N, L) uint8
    path_moves: np.ndarray  # (N,) BFS distance S -> G
    wall_prob: np.ndarray  # (N,) the per-maze wall probability drawn
    keys: list[bytes]  # canonical wall layouts (dihedral-invariant)
    layouts_screened: int  # how many random layouts were drawn to get these


@numba.njit(cache=True)
def _screen_kernel(walls: np.ndarray, size: int, min_moves: int, bound: np.ndarray) -> None:
    """Per layout, a lower bound on the longest shortest path within components of > min_moves cells."""
    n_cells = size * size
    comp = np.empty(n_cells, dtype=np.int32)
    dist = np.empty(n_cells, dtype=np.int32)
    queue = np.empty(n_cells, dtype=np.int32)
    for b in range(walls.shape[0]):
        passable = ~walls[b]
        comp[:] = -1
        best = 0
        for seed in range(n_cells):
            if not passable[seed] or comp[seed] >= 0:
                continue
            # Flood-fill the component (cheap, O(size)); only big ones get the full double sweep.
            comp[seed] = seed
            queue[0] = seed
            head, tail = 0, 1
            while head < tail:
                cell = queue[head]
                head += 1
                for k in range(4):
                    nxt = neighbour(cell, k, size)
                    if nxt >= 0 and passable[nxt] and comp[nxt] < 0:
                        comp[nxt] = seed
                        queue[tail] = nxt
                        tail += 1
            if tail <= min_moves:
                continue
            # Double sweep: the farthest cell from any cell, then the farthest from that one.
            far = queue[tail - 1]
            for _ in range(2):
                count = _bfs(passable, size, far, dist, queue)
                far = queue[count - 1]
                if dist[far] > best:
                    best = dist[far]
        bound[b] = best


@numba.njit(cache=True)
def _all_pairs_kernel(passable: np.ndarray, size: int, min_moves: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells of the components with > min_moves cells and their (C, C) BFS distance matrix (-1 = apart)."""
    n_cells = size * size
    dist = np.empty(n_cells, dtype=np.int32)
    queue = np.empty(n_cells, dtype=np.int32)
    keep = np.zeros(n_cells, dtype=np.bool_)
    seen = np.zeros(n_cells, dtype=np.bool_)
    for seed in range(n_cells):
        if passable[seed] and not seen[seed]:
            count = _bfs(passable, size, seed, dist, queue)
            for i in range(count):
                seen[queue[i]] = True
                keep[queue[i]] = count > min_moves
    cells = np.flatnonzero(keep).astype(np.int32)
    index = np.full(n_cells, -1, dtype=np.int32)
    for i in range(cells.shape[0]):
        index[cells[i]] = i
    out = np.full((cells.shape[0], cells.shape[0]), UNREACHED, dtype=np.int16)
    for i in range(cells.shape[0]):
        count = _bfs(passable, size, cells[i], dist, queue)
        for q in range(count):
            out[i, index[queue[q]]] = dist[queue[q]]
    return cells, out


def screen_layouts(walls: np.ndarray, min_moves: int) -> np.ndarray:
    """(B, n, n) bool walls -> (B,) lower bound on the longest S-G distance worth considering."""
    size = walls.shape[-1]
    bound = np.empty(walls.shape[0], dtype=np.int32)
    _screen_kernel(np.ascontiguousarray(walls.reshape(walls.shape[0], -1)), size, min_moves, bound)
    return bound


def all_pair_distances(walls: np.ndarray, min_moves: int) -> tuple[np.ndarray, np.ndarray]:
    """One (n, n) layout -> (cells, distance matrix) over its components of more than ``min_moves`` cells."""
    size = walls.shape[-1]
    return _all_pairs_kernel(np.ascontiguousarray(~walls.reshape(-1)), size, min_moves)


# Official Maze-Hard train split (S and G pooled): degree 1-4 shares of endpoints on the border and inside,
# and the border share of endpoints relative to the border share of all cells (0.19 / 0.129 at 30x30; kept
# as a ratio so other sizes get a border share in proportion to their own border).
OFFICIAL_DEGREE_BORDER = (0.28, 0.46, 0.26, 0.0)
OFFICIAL_DEGREE_INNER = (0.174, 0.362, 0.333, 0.131)
OFFICIAL_BORDER_RATIO = 1.45


# Official train split (S and G pooled): BFS eccentricity of an endpoint / S-G moves (1 = the other end is the
# farthest cell it can reach), binned at these edges; mean 1.054, 15 % above 1.1. Uniform far pairs sit at the
# extremes too often (mean 1.028, 4 % above 1.1).
OFFICIAL_ECC_EDGES = (1.01, 1.03, 1.06, 1.1, 1.2)
OFFICIAL_ECC_SHARES = (0.1755, 0.2025, 0.2565, 0.209, 0.143, 0.0135)
# A bin the candidates rarely offer would get a huge weight and make every other draw a near-certain rejection
# (layouts dropped, generation many times slower): its weight is capped instead of matched exactly.
ECC_WEIGHT_CAP = 3.0
KEPT_FIX_CAP = 4.0  # bound on the kept-share feedback of the class weights (eccentricity factor on)


def eccentricity_bins(ecc: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """Bin index (0..len(OFFICIAL_ECC_EDGES)) of each endpoint's eccentricity relative to the path moves."""
    return np.digitize(ecc / np.maximum(moves, 1), OFFICIAL_ECC_EDGES)


def endpoint_targets(size: int) -> np.ndarray:
    """(8,) target share of endpoint classes: index border*4 + degree-1 (see :func:`endpoint_classes`)."""
    border_cells = (4 * (size - 1)) / (size * size) if size > 1 else 1.0
    b = min(0.9, OFFICIAL_BORDER_RATIO * border_cells)
    inner, border = np.asarray(OFFICIAL_DEGREE_INNER), np.asarray(OFFICIAL_DEGREE_BORDER)
    return np.concatenate([(1 - b) * inner, b * border])


def endpoint_classes(walls: np.ndarray) -> np.ndarray:
    """(n, n) bool walls -> (n*n,) class per cell: border*4 + (free neighbours - 1), clipped to 0."""
    size = walls.shape[-1]
    free = np.pad(~walls, 1)
    deg = free[:-2, 1:-1].astype(np.int64) + free[2:, 1:-1] + free[1:-1, :-2] + free[1:-1, 2:]
    border = np.zeros((size, size), dtype=np.int64)
    border[0], border[-1], border[:, 0], border[:, -1] = 1, 1, 1, 1
    return (border * 4 + np.clip(deg - 1, 0, 3)).reshape(-1)


class EndpointSampler:
    """Rejection sampling of (S, G) toward the target class mix.

    Within one layout the pairs of a long-path bin are mostly dead end to dead end, so reweighting inside a
    layout barely moves the mix (measured: 49 % -> 46 % dead-end starts). Instead each class gets a global
    weight target / share among all candidate pairs seen so far (a running estimate, so any grid size works),
    and a uniformly drawn pair is kept with probability weight(S) * weight(G) / (the largest such product);
    a layout gets ``tries`` draws, after which it is dropped (layouts with well-placed far pairs win).

    With ``ecc_target`` the eccentricity bins of S and G (:func:`eccentricity_bins`) are a second factor of
    the same kind, weight capped at ``ECC_WEIGHT_CAP``.
    """

    def __init__(self, target: np.ndarray, tries: int = 2, ecc_target: np.ndarray | None = None) -> None:
        self.target = target
        self.tries = tries
        self.seen_s = np.full(target.size, 0.1)  # a weak prior
        self.seen_g = np.full(target.size, 0.1)
        self.ecc_target = ecc_target
        # Kept endpoint classes: with the eccentricity factor on, the two factors pull on each other
        # (peripheral cells are often dead ends), so the class weights also follow target / kept share.
        # Prior: 20 kept endpoints at the target mix (+ a little, so a 0 target is not 0/0).
        self.kept = target * 20 + 1e-3
        if ecc_target is not None:
            self.ecc_seen_s = np.full(ecc_target.size, 0.1)
            self.ecc_seen_g = np.full(ecc_target.size, 0.1)

    def weights(self, seen: np.ndarray) -> np.ndarray:
        return self.target / (seen / seen.sum())

    def ecc_weights(self, seen: np.ndarray) -> np.ndarray:
        assert self.ecc_target is not None
        return np.minimum(self.ecc_target / (seen / seen.sum()), ECC_WEIGHT_CAP)

    def draw(
        self,
        cls_s: np.ndarray,
        cls_g: np.ndarray,
        rng: np.random.Generator,
        ecc_s: np.ndarray | None = None,
        ecc_g: np.ndarray | None = None,
    ) -> int:
        """Index of the kept pair among the candidates, or -1 to drop the layout."""
        # per layout, not per pair: each layout yields one maze, and layouts with few far pairs (mostly
        # dead end to dead end) would be outweighed by open ones with many
        self.seen_s += np.bincount(cls_s, minlength=self.target.size) / cls_s.size
        self.seen_g += np.bincount(cls_g, minlength=self.target.size) / cls_g.size
        ws, wg = self.weights(self.seen_s), self.weights(self.seen_g)
        cap = ws.max() * wg.max()
        es = eg = np.ones(1)
        bs = bg = np.zeros(cls_s.size, dtype=np.int64)
        if self.ecc_target is not None and ecc_s is not None and ecc_g is not None:
            bs, bg = ecc_s, ecc_g
            self.ecc_seen_s += np.bincount(bs, minlength=self.ecc_target.size) / bs.size
            self.ecc_seen_g += np.bincount(bg, minlength=self.ecc_target.size) / bg.size
            es, eg = self.ecc_weights(self.ecc_seen_s), self.ecc_weights(self.ecc_seen_g)
            fix = np.clip(self.target / (self.kept / self.kept.sum()), 1 / KEPT_FIX_CAP, KEPT_FIX_CAP)
            ws, wg = ws * fix, wg * fix
            cap = ws.max() * wg.max() * es.max() * eg.max()
        for _ in range(self.tries):
            i = int(rng.integers(cls_s.size))
            if rng.random() * cap < ws[cls_s[i]] * wg[cls_g[i]] * es[bs[i]] * eg[bg[i]]:
                self.kept[cls_s[i]] += 1
                self.kept[cls_g[i]] += 1
                return i
        return -1


def bin_quotas(n: int, weights: list[float]) -> np.ndarray:
    """Split n mazes over bins in proportion to weights (largest remainder; ties to the earlier bin)."""
    w = np.asarray(weights, dtype=np.float64)
    exact = n * w / w.sum()
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: n - quota.sum()]] += 1
    return quota


def generate_split(
    n: int,
    rng: np.random.Generator,
    *,
    size: int,
    min_path_moves: int,
    wall_prob_min: float,
    wall_prob_max: float,
    bin_edges: list[int],
    bin_weights: list[float],
    taken: set[bytes],
    place_endpoints: bool = True,
    place_eccentricity: bool = False,
    progress: bool = False,
    desc: str = "mazes",
) -> GeneratedMazes:
    """Generate ``n`` mazes whose layouts are not dihedral images of any in ``taken`` (updated in place).

    With empty ``bin_edges`` the path length is not resampled: S and G are uniform among pairs at least
    ``min_path_moves`` apart (the naive recipe). ``place_endpoints``: reweight S and G to the official class
    mix (else uniform among the bin's pairs); with ``place_eccentricity`` also toward the official mix of
    endpoint eccentricity relative to the path (:data:`OFFICIAL_ECC_SHARES`).
    """
    ecc_target = np.asarray(OFFICIAL_ECC_SHARES) if place_eccentricity else None
    sampler = EndpointSampler(endpoint_targets(size), ecc_target=ecc_target)
    if bin_edges:
        if len(bin_weights) != len(bin_edges) - 1:
            raise ValueError(
                f"{len(bin_edges)} bin edges need {len(bin_edges) - 1} weights, got {len(bin_weights)}"
            )
        edges = np.asarray(bin_edges, dtype=np.int64)
        if np.any(np.diff(edges) <= 0) or edges[-1] <= min_path_moves:
            raise ValueError(f"bin edges must increase and reach past min_path_moves: {bin_edges}")
        remaining = bin_quotas(n, bin_weights)
        # A bin entirely below the minimum can never be filled.
        if np.any(remaining[edges[1:] <= min_path_moves] > 0):
            raise ValueError(f"a length bin with weight > 0 lies below min_path_moves={min_path_moves}")
    else:
        edges = np.asarray([min_path_moves, np.iinfo(np.int16).max], dtype=np.int64)
        remaining = np.asarray([n], dtype=np.int64)

    inputs = np.empty((n, size * size), dtype=np.uint8)
    moves = np.empty(n, dtype=np.int32)
    probs = np.empty(n, dtype=np.float64)
    keys: list[bytes] = []
    screened = 0
    bar = tqdm(total=n, desc=desc, disable=not progress, unit="maze")
    while len(keys) < n:
        if screened > MAX_LAYOUTS_PER_MAZE * max(n, 1):
            raise RuntimeError(
                f"only {len(keys)}/{n} mazes after {screened} layouts: min_path_moves={min_path_moves} "
                f"or the length bins are out of reach for a {size}x{size} grid"
            )
        p = rng.uniform(wall_prob_min, wall_prob_max, size=SCREEN_BATCH)
        walls = rng.random((SCREEN_BATCH, size, size)) < p[:, None, None]
        screened += SCREEN_BATCH
        for b in np.flatnonzero(screen_layouts(walls, min_path_moves) >= min_path_moves):
            (key,) = canonical_layouts(walls[b : b + 1])
            if key in taken:
                continue
            cells, dist = all_pair_distances(walls[b], min_path_moves)
            reach = np.flatnonzero(dist.reshape(-1) >= min_path_moves)
            counts = np.histogram(dist.reshape(-1)[reach], bins=edges)[0]
            open_bins = (counts > 0) & (remaining > 0)
            if not open_bins.any():
                continue
            weight = np.where(open_bins, remaining, 0).astype(np.float64)
            k = int(rng.choice(len(weight), p=weight / weight.sum()))
            in_bin = reach[(dist.reshape(-1)[reach] >= edges[k]) & (dist.reshape(-1)[reach] < edges[k + 1])]
            if place_endpoints:
                cls = endpoint_classes(walls[b])[cells]
                si, gi = in_bin // len(cells), in_bin % len(cells)
                ecc_s = ecc_g = None
                if place_eccentricity:
                    ecc = dist.max(axis=1)  # -1 = other component, so the max is within S's (G's) own
                    pair_moves = dist.reshape(-1)[in_bin]
                    ecc_s = eccentricity_bins(ecc[si], pair_moves)
                    ecc_g = eccentricity_bins(ecc[gi], pair_moves)
                pick = sampler.draw(cls[si], cls[gi], rng, ecc_s, ecc_g)
                if pick < 0:
                    continue
                flat = int(in_bin[pick])
            else:
                flat = int(in_bin[rng.integers(len(in_bin))])
            s, g = cells[flat // len(cells)], cells[flat % len(cells)]
            i = len(keys)
            row = np.where(walls[b].reshape(-1), WALL, FREE).astype(np.uint8)
            row[s], row[g] = START, GOAL
            inputs[i], moves[i], probs[i] = row, dist[flat // len(cells), flat % len(cells)], p[b]
            keys.append(key)
            taken.add(key)
            remaining[k] -= 1
            bar.update(1)
            if len(keys) == n:
                break
    bar.close()
    return GeneratedMazes(
        inputs=inputs, path_moves=moves, wall_prob=probs, keys=keys, layouts_screened=screened
    )
