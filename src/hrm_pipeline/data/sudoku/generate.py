"""Unique-solution puzzle generation to a target rating mix, with no outside data.

Random minimal puzzles are almost never search-hard, so hard ones are grown by local search: from the
generated puzzle nearest to the target rating bucket, propose clue moves against the fixed solution (swap
one clue for another, or add/remove one), keep a move if the puzzle stays unique and its rating gets no
further from the bucket, and stop when the rating lands in it. Every result joins the seed pool, so later
targets start close (the pool bootstraps itself from random puzzles).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from hrm_pipeline.data.sudoku.api import analyse
from hrm_pipeline.data.sudoku.solver import Shape
from hrm_pipeline.data.sudoku.symmetry import apply_transform, canonical_key, random_transform

# Official Sudoku-Extreme test buckets (guesses) and shares; the last bucket is open-ended.
OFFICIAL_BUCKET_EDGES = [0, 1, 3, 11, 51]  # bucket i = [edges[i], edges[i+1]) guesses
OFFICIAL_BUCKET_SHARES = [0.14, 0.10, 0.14, 0.51, 0.11]


@dataclass
class SearchParams:
    min_givens: int = 17  # official range of givens
    max_givens: int = 35
    max_steps: int = 1000  # moves tried per walk before restarting from another seed
    p_remove: float = 0.15  # share of moves that drop a clue (raises difficulty, lowers givens)
    p_add: float = 0.05  # share that add one (lowers difficulty)
    pool_size: int = 512  # seeds remembered; random ones are forgotten to keep the search moving
    seed_choices: int = 8  # a walk starts from one of this many pool puzzles nearest the target
    p_fresh: float = 0.05  # or, this often, from a fresh random puzzle (diversity, escapes dead ends)
    p_transform: float = 0.2  # share of moves that re-orient the puzzle by a random symmetry
    neighbours: int = 8  # moves tried per climbing step; the closest unique one is taken
    p_downhill: float = 0.05  # a unique move that gets further from the target is still taken this often


@dataclass
class Puzzle:
    puzzle: np.ndarray  # (n*n,) digits, 0 = blank
    solution: np.ndarray
    rating: int


def bucket_of(rating: int, edges: list[int]) -> int:
    return int(np.searchsorted(np.asarray(edges), rating, side="right") - 1)


def _distance(rating: int, lo: int, hi: int) -> int:
    return lo - rating if rating < lo else (rating - hi + 1 if rating >= hi else 0)


def random_puzzle(shape: Shape, rng: np.random.Generator) -> Puzzle:
    """A random minimal unique puzzle: add random consistent clues until unique, then drop spare ones."""
    n = shape.n
    grid = np.zeros(shape.cells, dtype=np.int64)
    while True:
        for cell in rng.permutation(shape.cells):
            if grid[cell]:
                continue
            grid[cell] = 1 + rng.integers(n)
            a = analyse(grid, shape)
            if a.solutions == 0:
                grid[cell] = 0
            elif a.solutions == 1:
                break
        else:  # cannot happen for a consistent grid: a full grid is unique
            grid[:] = 0
            continue
        break
    solution = a.solution.copy()
    for cell in rng.permutation(np.flatnonzero(grid)):
        d = grid[cell]
        grid[cell] = 0
        if analyse(grid, shape).solutions != 1:
            grid[cell] = d
    return Puzzle(grid, solution, analyse(grid, shape, limit=1).rating)


@dataclass
class MixGenerator:
    """Stateful generator: ``next_puzzle(bucket)`` returns a new inequivalent unique puzzle in the bucket."""

    shape: Shape
    rng: np.random.Generator
    edges: list[int] = field(default_factory=lambda: list(OFFICIAL_BUCKET_EDGES))
    params: SearchParams = field(default_factory=SearchParams)
    pool: list[Puzzle] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    solves: int = 0  # uniqueness checks made (for throughput reports)

    def _bounds(self, bucket: int) -> tuple[int, int]:
        lo = self.edges[bucket]
        hi = self.edges[bucket + 1] if bucket + 1 < len(self.edges) else 1 << 30
        return lo, hi

    def _seed(self, lo: int, hi: int) -> Puzzle:
        if not self.pool or self.rng.random() < self.params.p_fresh:
            return random_puzzle(self.shape, self.rng)
        dist = np.array([_distance(p.rating, lo, hi) for p in self.pool])
        near = np.argsort(dist, kind="stable")[: self.params.seed_choices]
        return self.pool[int(self.rng.choice(near))]

    def _move(self, p: Puzzle) -> tuple[np.ndarray, np.ndarray, bool]:
        """A neighbour (puzzle, solution, is_equivalent): a clue move, or a symmetry image of the puzzle.

        The rating depends on orientation (std ~10 guesses over transforms), so re-orienting is a cheap
        climbing move that keeps uniqueness; the result is a new stored puzzle of the same orbit.
        """
        pr = self.params
        if self.rng.random() < pr.p_transform:
            t = random_transform(self.shape, self.rng)
            return apply_transform(p.puzzle, t, self.shape), apply_transform(p.solution, t, self.shape), True
        grid = p.puzzle.copy()
        clues = np.flatnonzero(grid)
        blanks = np.flatnonzero(grid == 0)
        r = self.rng.random()
        if len(clues) > pr.max_givens or (r < pr.p_remove and len(clues) > pr.min_givens):
            grid[self.rng.choice(clues)] = 0
        elif len(clues) < pr.min_givens or r < pr.p_remove + pr.p_add:
            cell = self.rng.choice(blanks)
            grid[cell] = p.solution[cell]
        else:
            grid[self.rng.choice(clues)] = 0
            cell = self.rng.choice(blanks)
            grid[cell] = p.solution[cell]
        return grid, p.solution, False

    def _remember(self, p: Puzzle) -> None:
        self.pool.append(p)
        if len(self.pool) > self.params.pool_size:
            self.pool.pop(int(self.rng.integers(len(self.pool))))

    def _accept(self, p: Puzzle) -> bool:
        key = canonical_key(p.puzzle, self.shape)
        if key in self.seen:
            return False
        self.seen.add(key)
        self._remember(p)
        return True

    def next_puzzle(self, bucket: int) -> Puzzle:
        lo, hi = self._bounds(bucket)
        pr = self.params
        while True:
            cur = self._seed(lo, hi)
            best = cur
            cur_d = _distance(cur.rating, lo, hi)
            steps = 0
            while steps < pr.max_steps:
                # best of a few unique neighbours: a directed climb instead of a blind walk
                cand, cand_d = None, 1 << 30
                for _ in range(pr.neighbours):
                    steps += 1
                    grid, solution, same_orbit = self._move(cur)
                    # a symmetry image stays unique: rating it (first solution only) is enough
                    a = analyse(grid, self.shape, limit=1 if same_orbit else 2)
                    self.solves += 1
                    if not same_orbit and a.solutions != 1:
                        continue
                    d = _distance(a.rating, lo, hi)
                    if d < cand_d:
                        cand, cand_d = Puzzle(grid, solution, a.rating), d
                    if d == 0:
                        break
                if cand is None or (cand_d > cur_d and self.rng.random() >= pr.p_downhill):
                    continue
                cur, cur_d = cand, cand_d
                if cur_d < _distance(best.rating, lo, hi):
                    best = cur
                givens = int(np.count_nonzero(cur.puzzle))
                if cur_d == 0 and pr.min_givens <= givens <= pr.max_givens and self._accept(cur):
                    return cur
            # a walk that ran out: its closest puzzle becomes a stepping stone for the next walks
            self._remember(best)

    def generate(self, count: int, shares: list[float]) -> Iterator[Puzzle]:
        """``count`` puzzles whose buckets follow ``shares`` exactly (largest remainder), in random order."""
        for bucket in self.rng.permutation(bucket_quota(count, shares)):
            yield self.next_puzzle(int(bucket))


def bucket_quota(count: int, shares: list[float]) -> np.ndarray:
    """Bucket index per puzzle: ``count`` items split by ``shares`` with largest-remainder rounding."""
    s = np.asarray(shares, dtype=float)
    s = s / s.sum()
    raw = s * count
    k = np.floor(raw).astype(int)
    k[np.argsort(-(raw - k), kind="stable")[: count - k.sum()]] += 1
    return np.repeat(np.arange(len(s)), k)
