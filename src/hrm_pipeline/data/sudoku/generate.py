"""Unique-solution puzzle generation to a target rating mix, with no outside data.

Random minimal puzzles are almost never search-hard, so hard ones grow by local search in a pool of the
hardest puzzles found so far (bootstrapped from random puzzles). A step takes a pool seed and one of its
clues and enumerates every solution the puzzle has without that clue; a blank cell where no solution but the
seed's own has the seed's digit is a clue swap that keeps the puzzle unique. So one search finds all unique
swaps of a clue at once, instead of testing swaps one by one (~1% of random swaps of a hard puzzle are
unique). Other steps add one clue (unique for free).

Every new puzzle is rated once as stored, then placed by ``_offer``: into its bucket if that still has
room, else into an open bucket through a few random images of it (the rating depends on the orientation;
an image is a valid puzzle of the same orbit), else into an easier open bucket by adding clues from the
solution (keeps it unique, cheaply lowers the rating). So most candidates land somewhere and the hard seeds
feed the easy buckets too. Output comes in blocks whose bucket counts follow the shares exactly, shuffled
within a block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hrm_pipeline.data.sudoku.api import analyse, clue_needed
from hrm_pipeline.data.sudoku.solver import Shape, search, tables_for
from hrm_pipeline.data.sudoku.symmetry import (
    OrbitSet,
    apply_transform,
    canonical_form,
    canonical_key,
    random_transform,
)
from hrm_pipeline.data.sudoku.variety import deletion_hashes

# Official Sudoku-Extreme test buckets (guesses) and shares; the last bucket is open-ended.
OFFICIAL_BUCKET_EDGES = [0, 1, 3, 11, 51]  # bucket i = [edges[i], edges[i+1]) guesses
OFFICIAL_BUCKET_SHARES = [0.14, 0.10, 0.14, 0.51, 0.11]


@dataclass
class SearchParams:
    min_givens: int = 17  # official range of givens
    max_givens: int = 35
    max_steps: int = 1000  # steps a seed serves before it leaves the pool (spreads the lineages)
    # Steps in a row without a new puzzle before a seed leaves the pool: some hard seeds have no unique swap
    # (every dropped clue lets in >= ``alternatives`` solutions) and would burn ~1 ms per step for nothing.
    barren: int = 30
    # Alternatives enumerated per dropped clue. With more, a unique swap is rare anyway: on hard 22-clue
    # puzzles 96% of drops let in >= 64 solutions and those give almost no swaps (measured).
    alternatives: int = 64
    pool_size: int = 64  # hardest puzzles kept as seeds
    pool_cap: int = 0  # ratings above this count as equal for the pool (0 = twice the top bucket's edge)
    p_add: float = 0.6  # share of steps that add a clue to a seed instead (unique for free, ~half the rating)
    orientations: int = 4  # images rated when a candidate's bucket is full
    pool_images: int = 2  # extra images rated to score a seed (see MixGenerator._score)
    block: int = 100  # output block: bucket counts exact per block
    # Lineages differ a lot: from some random puzzles the pool climbs past 51 guesses in < 1 s, from others it
    # stalls near 40 for minutes (measured). A pool below the hardest open bucket whose best rating has not
    # improved for this many candidates restarts from a fresh random puzzle.
    stall: int = 3000
    # Puzzles that may share one solution grid; 0 = no cap. A clue swap or an added clue keeps the grid,
    # so without a cap a split can descend from a handful of grids (measured: one for 200 6x6 puzzles).
    max_per_solution: int = 0
    # Solution grids compared up to symmetry (canonical form) instead of as stored: with it no two puzzles
    # share a grid's orbit (9x9 has ~5.5e9 orbits; 6x6 only 49, too few to hold a split of thousands). A
    # closed grid's seeds stay in the pool: their clue swaps may also step onto other grids (see _swaps).
    grid_orbits: bool = False
    # Bucket by the orbit rating (see orbit_rating) instead of the rating as stored, and store each puzzle
    # as a random image of itself, as the official set is stored randomly permuted.
    orbit_buckets: bool = False
    # No two emitted puzzles are near-duplicates (up to symmetry): each
    # keeps more than this many clues outside the clues it shares with any other (see variety.py); 0 = off.
    near_clues: int = 0
    # Refuse a candidate with a spare clue (one uniqueness does not need): local search leaves ~2.6 per
    # puzzle (measured), official puzzles that need a guess have none. Dropping the spare clues instead
    # was tried: it shrinks the givens (mean 23.0 against the official 25.2), refusing keeps them (24.7).
    minimal: bool = False
    # > 0: lineages start from minimal puzzles with at least this many clues, made top-down (a random grid's
    # clues dropped in random order while unique: 24.4 clues on average against 23.6 bottom-up, measured);
    # 0: bottom-up random_puzzle. A clue swap keeps the count, so the start sets the lineage's givens.
    start_givens: int = 0
    # Seeds only from [min_givens, max_givens]: the givens of one stratum of a givens mix (shards.py).
    # Without it the pool drifts to fewer clues (a dropped spare clue makes a puzzle harder, and the pool
    # keeps the hardest), so a givens count above the drift would only be reached by added clues, which
    # halve the rating.
    givens_pool: bool = False
    # Children on other grids kept per clue swap (each costs a rating; a swap can offer dozens).
    grid_steps: int = 4
    # Orbit bucketing: the orbit rating costs ~17 ratings, so a candidate is orbit-rated only when an estimate
    # (the mean of its stored rating and ``probe_images`` random images) is within a factor ``reach`` of an
    # open bucket. 3 probe images cost more than they saved (~33k candidates offered per 100 puzzles at
    # the start); the stored rating alone, at factor 1.5, is the measured setting.
    probe_images: int = 0
    reach: float = 1.5


@dataclass
class Puzzle:
    puzzle: np.ndarray  # (n*n,) digits, 0 = blank
    solution: np.ndarray
    rating: int  # guesses to the first solution, as stored
    lineage: int = -1  # the random puzzle this one descends from (local search never transforms)
    orbit: float = -1.0  # orbit rating, where computed (orbit_buckets)
    key: str = ""  # canonical key of the puzzle, where computed
    grid: str = ""  # canonical key of the solution grid, where computed (grid_orbits)


# Top-down minimal puzzles (a full grid's clues dropped in random order while unique) rarely keep more clues
# than this (24.4 on average, measured on 300): a lineage for a higher givens count starts here and reaches
# it by added clues.
TOP_DOWN_REACH = 26

# Images rated per orbit rating: the std of the rating over orientations is ~10 guesses, so 16 images give
# the orbit mean to ~2.5 guesses.
ORBIT_IMAGES = 16


def orbit_rating(puzzle: np.ndarray, shape: Shape, images: int = ORBIT_IMAGES) -> float:
    """Mean rating over ``images`` symmetry images of the puzzle's canonical form.

    The rating (guesses to the first solution) depends on the orientation, and training shows the model
    every orientation, so the orbit's mean is the difficulty it meets; one stored orientation can be picked
    to make the rater guess most. Starting from the canonical form with a fixed image stream makes the
    figure exactly orientation-independent: a puzzle and any image of it get the same value.
    """
    return orbit_rating_and_key(puzzle, shape, images)[0]


def orbit_rating_and_key(puzzle: np.ndarray, shape: Shape, images: int = ORBIT_IMAGES) -> tuple[float, str]:
    """:func:`orbit_rating` and the puzzle's canonical key (it costs as much as ~4 ratings: computed once)."""
    base = canonical_form(puzzle, shape)
    rng = np.random.default_rng(0)  # fixed: the same images for every member of the orbit
    total = 0
    for _ in range(images):
        t = random_transform(shape, rng)
        total += analyse(apply_transform(base, t, shape), shape, limit=1).rating
    return total / images, "".join(str(int(v)) for v in base)


def orbit_bucket(orbit: float, edges: list[int]) -> int:
    """Bucket of an orbit rating: guesses rounded down, as a stored rating counts them."""
    return bucket_of(int(orbit), edges)


def bucket_of(rating: int, edges: list[int]) -> int:
    return int(np.searchsorted(np.asarray(edges), rating, side="right") - 1)


def placed_bucket(p: Puzzle, edges: list[int], params: SearchParams) -> int:
    """The bucket a generated puzzle was placed in: by orbit rating with ``orbit_buckets``, else as stored."""
    return orbit_bucket(p.orbit, edges) if params.orbit_buckets else bucket_of(p.rating, edges)


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
    grid = drop_spare_clues(grid, shape, rng)
    return Puzzle(grid, solution, analyse(grid, shape, limit=1).rating)


def drop_spare_clues(grid: np.ndarray, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """A minimal puzzle inside the unique puzzle ``grid``: its clues dropped in random order while unique."""
    grid = grid.copy()
    for cell in rng.permutation(np.flatnonzero(grid)):
        if not clue_needed(grid, int(cell), shape):
            grid[cell] = 0
    return grid


def bucket_quota(count: int, shares: list[float]) -> np.ndarray:
    """Bucket index per puzzle: ``count`` items split by ``shares`` with largest-remainder rounding."""
    s = np.asarray(shares, dtype=float)
    s = s / s.sum()
    raw = s * count
    k = np.floor(raw).astype(int)
    k[np.argsort(-(raw - k), kind="stable")[: count - k.sum()]] += 1
    return np.repeat(np.arange(len(s)), k)


class MixGenerator:
    """Stateful generator of unique, mutually inequivalent puzzles; ``generate(count, shares)`` is the entry.

    ``seen``: canonical keys of puzzles to avoid (e.g. the test split's, when generating train); afterwards
    ``seen`` also holds the keys of every puzzle generated. ``avoid_solutions``: solution grids
    (``tobytes()``) no puzzle may have (the test split's, for train: a held-out puzzle must not have a
    training puzzle's answer); :attr:`solution_keys` gives those of the generated puzzles. Grids compare as
    they are, not up to symmetry: 6x6 sudoku has only 49 grids up to symmetry, too few to hold any out.
    """

    def __init__(
        self,
        shape: Shape,
        rng: np.random.Generator,
        edges: list[int] | None = None,
        params: SearchParams | None = None,
        seen: set[str] | None = None,
        avoid_solutions: set[bytes] | None = None,
    ) -> None:
        self.shape = shape
        self.rng = rng
        self.edges = list(OFFICIAL_BUCKET_EDGES if edges is None else edges)
        self.params = params or SearchParams()
        self.pool: list[Puzzle] = []
        self._scores: list[float] = []  # per seed (see _score)
        self._uses: list[int] = []
        self._barren: list[int] = []
        self._orbits = OrbitSet(shape)
        for key in seen or ():
            # a canonical key is itself a puzzle of its orbit
            self._orbits.add(np.array([int(c) for c in key], dtype=np.int64), key)
        self._rated: set[bytes] = set()  # grids already offered (local search revisits some)
        self._avoid = set(avoid_solutions or ())
        self._per_solution: dict[bytes, int] = {}  # solution grid key -> puzzles generated on it
        self._grid_keys: dict[bytes, bytes] = {}  # solution bytes -> key (canonical form costs ~1 ms)
        self._closed_raw: set[bytes] = set()  # solution grids (as in their lineage) that took their puzzle
        self._near: set[int] = set()  # deletion hashes of every emitted puzzle (near_clues)
        self._lineages = 0
        self.solves = 0  # searches made (for throughput reports)
        self._tables = tables_for(shape)
        top = self.edges[-1]
        self._cap = self.params.pool_cap or max(2 * top, 1)
        self._need = top  # lowest rating of the hardest bucket with room
        self._floor = 0  # lowest rating of the easiest bucket with room
        self._best = -1  # best rating of the current pool's lineage and candidates since it improved
        self._since_best = 0

    @property
    def seen(self) -> set[str]:
        return self._orbits.keys()

    @property
    def solution_keys(self) -> set[bytes]:
        return set(self._per_solution)

    def grid_key(self, solution: np.ndarray) -> bytes:
        """The key solution grids are compared by: as stored, or their canonical form (``grid_orbits``)."""
        raw = np.asarray(solution, dtype=np.int64).tobytes()
        if not self.params.grid_orbits:
            return raw
        key = self._grid_keys.get(raw)
        if key is None:
            key = self._grid_keys[raw] = canonical_key(solution, self.shape).encode()
        return key

    def _solution_open(self, key: bytes) -> bool:
        """May one more puzzle use the solution grid ``key`` (see :meth:`grid_key`)?"""
        cap = 1 if self.params.grid_orbits else self.params.max_per_solution
        return key not in self._avoid and not (cap and self._per_solution.get(key, 0) >= cap)

    def _drop_seeds_of(self, key: bytes) -> None:
        """A closed solution grid: its seeds can only produce puzzles on that grid, so they leave the pool."""
        for i in reversed(range(len(self.pool))):
            if self.grid_key(self.pool[i].solution) == key:
                self._retire(i)

    # ---- searches ----------------------------------------------------------------------------------

    def _rate(self, grid: np.ndarray) -> int:
        self.solves += 1
        return analyse(grid, self.shape, limit=1).rating

    def _solutions(self, grid: np.ndarray) -> np.ndarray | None:
        """Every solution of ``grid``, or None when there are ``alternatives`` or more."""
        t = self._tables
        limit = self.params.alternatives
        store = np.empty((limit, self.shape.cells), dtype=np.int64)
        self.solves += 1
        nsol = search(
            grid, t.box_cells, t.h_perm, t.v_perm, t.n, t.br, t.bc, limit, False, True, -1, 0, store
        )[0]
        return None if nsol >= limit else store[:nsol]

    # ---- candidates ----------------------------------------------------------------------------------

    def _score(self, p: Puzzle) -> float:
        """Seed quality: the capped rating averaged over the puzzle and a few random images of it.

        The rating as stored is a noisy draw over orientations (std ~10 guesses); ranking seeds by it keeps
        lucky orientations whose children, one clue apart but no longer lucky, are mostly easy (measured: 70%
        of candidates under 10 guesses from a pool rated 60-80).
        """
        ratings = [p.rating]
        for _ in range(self.params.pool_images):
            t = random_transform(self.shape, self.rng)
            ratings.append(self._rate(apply_transform(p.puzzle, t, self.shape)))
        return float(np.mean(np.minimum(ratings, self._cap)))

    def _remember(self, p: Puzzle) -> None:
        """Keep the hardest puzzles as seeds; a newcomer replaces the weakest seed if it scores as high."""
        pr = self.params
        if pr.givens_pool and not pr.min_givens <= np.count_nonzero(p.puzzle) <= pr.max_givens:
            return
        # with grid orbits a closed grid's seed still steps onto other grids (and its canonical key would
        # cost ~5 ms per candidate)
        if not pr.grid_orbits and not self._solution_open(self.grid_key(p.solution)):
            return
        self._since_best += 1
        if p.rating > self._best:
            self._best, self._since_best = p.rating, 0
        full = len(self.pool) >= pr.pool_size
        low = int(np.argmin(self._scores)) if full else -1
        if full and min(p.rating, self._cap) < self._scores[low]:
            return  # a cheap pre-filter: images rarely lift a puzzle far above its own rating
        score = self._score(p)
        if not full:
            self.pool.append(p)
            self._scores.append(score)
            self._uses.append(0)
            self._barren.append(0)
        elif score >= self._scores[low]:
            self.pool[low], self._scores[low], self._uses[low], self._barren[low] = p, score, 0, 0

    def _fruitful(self, seed: Puzzle) -> None:
        """``seed`` just gave a new puzzle: reset its barren count (found by identity; it may have left)."""
        for j, q in enumerate(self.pool):
            if q is seed:
                self._barren[j] = 0
                return

    def _retire(self, i: int) -> None:
        self.pool.pop(i)
        self._scores.pop(i)
        self._uses.pop(i)
        self._barren.pop(i)

    def _candidates(self) -> Iterator[Puzzle]:
        """New unique puzzles near the pool seeds, rated as stored (each grid once)."""
        pr = self.params
        while True:
            if self._best < self._need and self._since_best >= pr.stall:
                self.pool.clear()
                self._scores.clear()
                self._uses.clear()
                self._barren.clear()
            if self._need <= self.edges[0]:
                # Only the easiest bucket has room: fresh random puzzles reach it by added clues (_easier),
                # while the pool's hard seeds would mostly yield candidates outside it (measured: ~1000
                # candidates per accepted 6x6 no-guess puzzle, against a handful from fresh puzzles).
                self.solves += 1
                yield self._fresh()
                continue
            if not self.pool:
                self._best, self._since_best = -1, 0
                p = self._fresh()
                p.lineage, self._lineages = self._lineages, self._lineages + 1
                self.solves += 1
                self._remember(p)
                yield p
                continue
            i = int(self.rng.integers(len(self.pool)))
            seed, score = self.pool[i], self._scores[i]
            self._uses[i] += 1
            self._barren[i] += 1
            if self._uses[i] >= pr.max_steps or self._barren[i] >= pr.barren:
                self._retire(i)
            grid = seed.puzzle
            clues = np.flatnonzero(grid)
            # an added clue keeps the grid: useless once the grid has its puzzle; and with orbit buckets,
            # useless when it would land below every open bucket (it roughly halves the rating; measured:
            # the climb to the hard buckets stalled near a pool score of 30 while adds filled full buckets)
            closed = pr.grid_orbits and seed.solution.tobytes() in self._closed_raw
            closed |= pr.orbit_buckets and score / 2 < self._floor
            if not closed and (self.rng.random() < pr.p_add or len(clues) < pr.min_givens):
                child = grid.copy()
                cell = self.rng.choice(np.flatnonzero(grid == 0))
                child[cell] = seed.solution[cell]
                moves = [(child, seed.solution)]
            else:
                moves = self._swaps(seed, int(self.rng.choice(clues)))
            for child, solution in moves:
                key = child.tobytes()
                if key in self._rated:
                    continue
                self._rated.add(key)
                self._fruitful(seed)
                p = Puzzle(child, solution, self._rate(child), seed.lineage)
                self._remember(p)
                yield p

    def _swaps(self, seed: Puzzle, removed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every unique puzzle: ``seed`` minus clue ``removed`` plus one clue of its solution.

        The solutions of the puzzle without the clue are enumerated once (the seed's own among them); adding
        a clue keeps exactly the solutions that agree with it, so it makes the puzzle unique iff no other
        solution has the seed's digit in that cell. (Placing other digits too would move to new solution
        grids, but measured, such children are mostly easy and drag the pool down: 25x slower.)
        """
        grid = seed.puzzle.copy()
        grid[removed] = 0
        sols = self._solutions(grid)
        if sols is None:
            return []
        if len(sols) == 1:
            return [(grid, seed.solution)]  # the clue was redundant
        if self.params.grid_orbits:
            return self._grid_walk(seed, grid, sols, removed)
        ok = (grid == 0) & ((sols == seed.solution).sum(axis=0) == 1)
        ok[removed] = False  # putting the clue back is the seed itself
        moves = []
        for cell in self.rng.permutation(np.flatnonzero(ok)):
            child = grid.copy()
            child[cell] = seed.solution[cell]
            moves.append((child, seed.solution))
        return moves

    def _grid_walk(
        self, seed: Puzzle, grid: np.ndarray, sols: np.ndarray, removed: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Unique children of ``grid`` (the seed minus a clue) on the seed's grid AND on the others.

        A clue (cell, digit) keeps exactly the solutions with that digit there, so where exactly one of the
        enumerated solutions has it, the child is unique with THAT solution: on an alternative solution it
        steps to another grid while staying one swap from a hard seed. Needed when every grid takes one
        puzzle: same-grid swaps alone can never leave a grid. The seed's own grid is skipped once closed.
        """
        n = self.shape.n
        blank = np.flatnonzero(grid == 0)
        sub = sols[:, blank]  # (solutions, blank cells)
        hits = sub[:, :, None] == np.arange(1, n + 1)[None, None, :]
        cells, digits = np.nonzero(hits.sum(axis=0) == 1)
        owner = hits[:, cells, digits].argmax(axis=0)  # the one solution with that digit there
        own = seed.solution[blank[cells]] == digits + 1
        keep = ~(own & (blank[cells] == removed))  # putting the clue back is the seed itself
        if seed.solution.tobytes() in self._closed_raw:
            keep &= ~own
        idx = np.flatnonzero(keep)
        cross = idx[~own[idx]]
        if len(cross) > self.params.grid_steps:  # each child costs a rating: a few other grids per step
            cross = self.rng.choice(cross, self.params.grid_steps, replace=False)
        idx = self.rng.permutation(np.concatenate([idx[own[idx]], cross]))
        moves = []
        for i in idx:
            child = grid.copy()
            child[blank[cells[i]]] = digits[i] + 1
            moves.append((child, sols[owner[i]].copy()))
        return moves

    # ---- placement ----------------------------------------------------------------------------------

    def _bucket(self, rating: int) -> int:
        return bucket_of(rating, self.edges)

    def _fits(self, p: Puzzle, quota: np.ndarray) -> bool:
        givens = int(np.count_nonzero(p.puzzle))
        pr = self.params
        return bool(quota[self._bucket(p.rating)] > 0) and pr.min_givens <= givens <= pr.max_givens

    def _offer(self, p: Puzzle, quota: np.ndarray) -> Puzzle | None:
        """``p`` or a variant of it in a bucket with room, if one is found and its orbit is new."""
        if self.params.orbit_buckets:
            return self._offer_orbit(p, quota)
        if not quota[self._bucket(p.rating)] > 0:
            q = self._reoriented(p, quota)
            if q is None and self._bucket(p.rating) > np.flatnonzero(quota > 0).min():
                q = self._easier(p, quota)
            p = q
        if p is not None and np.count_nonzero(p.puzzle) < self.params.min_givens:
            # too few givens for the profile: add clues from the solution up to a uniform draw in the range
            lo, hi = self.params.min_givens, self.params.max_givens
            p = self._easier(p, quota, givens=int(self.rng.integers(lo, hi + 1)))
        if p is None or not self._fits(p, quota):
            return None
        if self.params.grid_orbits and p.solution.tobytes() in self._closed_raw:
            return None
        key = self.grid_key(p.solution)
        if not self._solution_open(key):
            self._close(p, key)
            return None
        if not self._orbits.add(p.puzzle):
            return None
        quota[self._bucket(p.rating)] -= 1
        self._per_solution[key] = self._per_solution.get(key, 0) + 1
        if not self._solution_open(key):
            self._close(p, key)
        return p

    def _close(self, p: Puzzle, key: bytes) -> None:
        """``p``'s grid takes no more puzzles: with grid orbits its seeds stay (they may step off it)."""
        if self.params.grid_orbits:
            self._closed_raw.add(p.solution.tobytes())
        else:
            self._drop_seeds_of(key)

    def _offer_orbit(self, p: Puzzle, quota: np.ndarray) -> Puzzle | None:
        """Bucketing by orbit rating: ``p`` (or ``p`` with added clues) if its orbit bucket has room.

        The orbit rating costs ~17 ratings, so cheap tests go first: the rating as stored (one draw of the
        same distribution) must be within reach of an open bucket, else clues are added to bring it into
        one; the grid must be open and no emitted puzzle a near-duplicate of it.
        """
        pr = self.params
        if np.count_nonzero(p.puzzle) < pr.min_givens:
            p = self._easier(p, quota, givens=int(self.rng.integers(pr.min_givens, pr.max_givens + 1)))
        elif not self._reachable(p.rating, quota):
            p = self._easier(p, quota) if self._bucket(p.rating) > np.flatnonzero(quota > 0).min() else None
        if p is None or not pr.min_givens <= np.count_nonzero(p.puzzle) <= pr.max_givens:
            return None
        raw = p.solution.tobytes()
        near = self._deletion_hashes(p)
        if raw in self._closed_raw or not self._near.isdisjoint(near):
            return None
        if not self._reachable(self._estimate(p), quota, pr.reach):
            return None
        if pr.minimal and self._has_spare_clue(p):
            return None
        p.orbit, p.key = orbit_rating_and_key(p.puzzle, self.shape)
        self.solves += ORBIT_IMAGES
        bucket = orbit_bucket(p.orbit, self.edges)
        if not quota[bucket] > 0:
            return None
        key = self.grid_key(p.solution)
        if not self._solution_open(key):
            self._close(p, key)
            return None
        if not self._orbits.add(p.puzzle, p.key):
            return None
        quota[bucket] -= 1
        self._per_solution[key] = self._per_solution.get(key, 0) + 1
        if not self._solution_open(key):
            self._close(p, key)
        self._near.update(near)
        t = random_transform(self.shape, self.rng)  # stored as a random image, like the official set
        image = apply_transform(p.puzzle, t, self.shape)
        return Puzzle(
            image,
            apply_transform(p.solution, t, self.shape),
            self._rate(image),
            p.lineage,
            p.orbit,
            p.key,
            key.decode(),
        )

    def _reachable(self, rating: float, quota: np.ndarray, factor: float = 2.0) -> bool:
        """Can the orbit rating land in an open bucket given ``rating`` (a draw or an estimate of it)?"""
        open_buckets = np.flatnonzero(quota > 0)
        return any(
            rating / factor < self._bounds(b)[1] and self.edges[b] <= factor * rating + 1
            for b in open_buckets
        )

    def _estimate(self, p: Puzzle) -> float:
        """Mean rating over ``p`` as stored and ``probe_images`` random images of it."""
        total = p.rating
        for _ in range(self.params.probe_images):
            total += self._rate(apply_transform(p.puzzle, random_transform(self.shape, self.rng), self.shape))
        return total / (1 + self.params.probe_images)

    def _deletion_hashes(self, p: Puzzle) -> list[int]:
        """Near-duplicate fingerprints (variety.deletion_hashes): shared with an emitted puzzle = refused.

        Up to symmetry, not in the lineage's frame: a cross-grid walk can come back to a relabelled or
        moved copy of an emitted puzzle's clues (measured: 6-9 near-duplicates per 100 with a same-frame
        check). A hash collision only costs a candidate.
        """
        k = self.params.near_clues
        return deletion_hashes(p.puzzle, self.shape, k).tolist() if k else []

    def _easier(self, p: Puzzle, quota: np.ndarray, givens: int = 0) -> Puzzle | None:
        """Add clues from the solution (random cells) until the rating drops into an open bucket (and the
        puzzle has at least ``givens`` clues)."""
        grid = p.puzzle.copy()
        lowest = int(np.flatnonzero(quota > 0).min())
        for cell in self.rng.permutation(np.flatnonzero(grid == 0)):
            if np.count_nonzero(grid) >= self.params.max_givens:
                return None
            grid[cell] = p.solution[cell]
            q = Puzzle(grid.copy(), p.solution, self._rate(grid), p.lineage)
            b = self._bucket(q.rating)
            if quota[b] > 0 and self._fits(q, quota) and np.count_nonzero(grid) >= givens:
                return q
            if b < lowest:
                return None
        return None

    def _fresh(self) -> Puzzle:
        """A new random puzzle to start a lineage from (see ``start_givens``)."""
        p = random_puzzle(self.shape, self.rng)
        tries = 0
        while np.count_nonzero(p.puzzle) < self.params.start_givens:
            if tries == 8:  # some grids rarely give that many (a fresh grid costs one bottom-up puzzle)
                p, tries = random_puzzle(self.shape, self.rng), 0
                continue
            tries += 1
            grid = drop_spare_clues(p.solution, self.shape, self.rng)  # top-down from the full grid
            self.solves += self.shape.cells
            p = Puzzle(grid, p.solution, self._rate(grid))
        return p

    def _has_spare_clue(self, p: Puzzle) -> bool:
        """Whether some clue of ``p`` could go without losing uniqueness (stops at the first)."""
        for cell in self.rng.permutation(np.flatnonzero(p.puzzle)):
            self.solves += 1
            if not clue_needed(p.puzzle, int(cell), self.shape):
                return True
        return False

    def _reoriented(self, p: Puzzle, quota: np.ndarray) -> Puzzle | None:
        """The first of a few random images of ``p`` whose rating lands in an open bucket.

        Only tried when an open bucket is within a factor 2 of the rating (images rarely go further: the
        rating's spread over orientations is ~10 guesses).
        """
        r0 = p.rating
        reach = [
            b
            for b in np.flatnonzero(quota > 0)
            if r0 // 2 < self._bounds(b)[1] and self.edges[b] <= 2 * r0 + 1
        ]
        if not reach:
            return None
        for _ in range(self.params.orientations):
            t = random_transform(self.shape, self.rng)
            q = Puzzle(
                apply_transform(p.puzzle, t, self.shape), apply_transform(p.solution, t, self.shape), 0
            )
            q.rating = self._rate(q.puzzle)
            if quota[self._bucket(q.rating)] > 0:
                return q
        return None

    def _bounds(self, bucket: int) -> tuple[int, int]:
        hi = self.edges[bucket + 1] if bucket + 1 < len(self.edges) else 1 << 30
        return self.edges[bucket], hi

    # ---- output -------------------------------------------------------------------------------------

    def _block(self, quota: np.ndarray) -> list[Puzzle]:
        out: list[Puzzle] = []
        self._need = self.edges[int(np.flatnonzero(quota > 0).max())]
        self._floor = self.edges[int(np.flatnonzero(quota > 0).min())]
        for cand in self._candidates():
            p = self._offer(cand, quota)
            if p is not None:
                out.append(p)
                if not quota.any():
                    return out
                self._need = self.edges[int(np.flatnonzero(quota > 0).max())]
                self._floor = self.edges[int(np.flatnonzero(quota > 0).min())]
        raise AssertionError("unreachable: the candidate stream is endless")

    def generate(self, count: int, shares: list[float]) -> Iterator[Puzzle]:
        """``count`` puzzles whose buckets follow ``shares`` (largest remainder), exactly per block."""
        k = len(shares)
        done = np.zeros(k, dtype=np.int64)
        made = 0
        while made < count:
            upto = min(count, made + self.params.block)
            target = np.bincount(bucket_quota(upto, shares), minlength=k)
            quota = target - done
            done = target
            block = self._block(quota.copy())
            made = upto
            for i in self.rng.permutation(len(block)):
                yield block[i]
