"""Rating-mix generator: unique puzzles in the requested buckets, exact block quotas, seeded, leak-free."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_pipeline.data.sudoku import SHAPE_9, MixGenerator, Shape, analyse, canonical_key
from hrm_pipeline.data.sudoku.generate import (
    OFFICIAL_BUCKET_EDGES,
    OFFICIAL_BUCKET_SHARES,
    SearchParams,
    bucket_of,
    bucket_quota,
)

SHAPE_6 = Shape(2, 3)
SIX = dict(edges=[0, 1], params=SearchParams(min_givens=8, max_givens=20))


def _six(seed: int, count: int = 12):
    gen = MixGenerator(SHAPE_6, np.random.default_rng(seed), **SIX)
    return gen, list(gen.generate(count, [0.5, 0.5]))


@pytest.fixture(scope="module")
def official():
    """30 puzzles at the official mix (includes the bootstrap of a hard pool from random puzzles)."""
    gen = MixGenerator(SHAPE_9, np.random.default_rng(0), edges=list(OFFICIAL_BUCKET_EDGES))
    return gen, list(gen.generate(30, OFFICIAL_BUCKET_SHARES))


def test_official_mix_is_exact_and_every_puzzle_is_unique_and_rated_as_stored(official):
    _, puzzles = official
    ratings = [analyse(p.puzzle, SHAPE_9, limit=1).rating for p in puzzles]  # re-rated independently
    assert ratings == [p.rating for p in puzzles]
    counts = np.bincount([bucket_of(r, OFFICIAL_BUCKET_EDGES) for r in ratings], minlength=5)
    assert counts.tolist() == np.bincount(bucket_quota(30, OFFICIAL_BUCKET_SHARES), minlength=5).tolist()
    assert min(ratings) == 0 and max(ratings) >= 51
    for p in puzzles:
        a = analyse(p.puzzle, SHAPE_9)
        assert a.solutions == 1 and np.array_equal(a.solution, p.solution)
        assert 17 <= np.count_nonzero(p.puzzle) <= 35


def test_generated_puzzles_are_pairwise_inequivalent_and_seen_holds_their_keys(official):
    gen, puzzles = official
    keys = {canonical_key(p.puzzle, SHAPE_9) for p in puzzles}
    assert len(keys) == len(puzzles)
    assert keys <= gen.seen


def test_seen_keys_are_never_generated_again():
    gen, first = _six(1)
    banned = gen.seen
    again = MixGenerator(SHAPE_6, np.random.default_rng(1), seen=set(banned), **SIX)
    second = list(again.generate(12, [0.5, 0.5]))
    assert not {canonical_key(p.puzzle, SHAPE_6) for p in second} & banned
    assert len(second) == 12


def test_six_by_six_lands_in_the_requested_buckets_with_unique_solutions():
    _, puzzles = _six(0, 20)
    buckets = [bucket_of(p.rating, [0, 1]) for p in puzzles]
    assert sorted(buckets) == [0] * 10 + [1] * 10
    for p in puzzles:
        assert analyse(p.puzzle, SHAPE_6).solutions == 1
        assert analyse(p.puzzle, SHAPE_6, limit=1).rating == p.rating
        assert 8 <= np.count_nonzero(p.puzzle) <= 20


def test_same_seed_gives_the_same_puzzles_and_another_seed_others():
    _, a = _six(5)
    _, b = _six(5)
    _, c = _six(6)
    assert [p.puzzle.tolist() for p in a] == [p.puzzle.tolist() for p in b]
    assert [p.puzzle.tolist() for p in a] != [p.puzzle.tolist() for p in c]


def test_every_enumerated_clue_swap_is_unique_with_the_seeds_solution(official):
    gen, puzzles = official
    rng = np.random.default_rng(0)
    found = 0
    for p in puzzles[:10]:
        for removed in rng.permutation(np.flatnonzero(p.puzzle))[:6]:
            for child, solution in gen._swaps(p, int(removed)):
                found += 1
                assert np.array_equal(solution, p.solution)
                assert np.count_nonzero(child != p.puzzle) <= 2 and child[removed] == 0
                a = analyse(child, SHAPE_9)
                assert a.solutions == 1 and np.array_equal(a.solution, p.solution)
    assert found > 0


def test_no_guess_profile_gives_every_puzzle_its_own_grid_and_test_grids_stay_out_of_train():
    """The CPU profile's split (6x6, no guesses, 20-24 givens): a regression once built a whole split on one
    solution grid, which made held-out accuracy meaningless."""
    from hrm_pipeline.data.sudoku.dataset import SudokuConfig, build_tables

    cfg = SudokuConfig(
        box_rows=2,
        box_cols=3,
        train_size=300,
        test_size=60,
        num_aug=0,
        bucket_edges=[0],
        bucket_shares=[1.0],
        min_givens=20,
        max_givens=24,
    )
    tables = build_tables(cfg, progress=False)
    grids = {}
    for split, df in tables.splits.items():
        labels = df["labels"].to_numpy()
        grids[split] = {row.tobytes() for row in labels}
        assert len(grids[split]) == df.height  # one grid per puzzle
        givens = (df["inputs"].to_numpy() > 1).sum(axis=1)  # token 1 = blank
        assert givens.min() >= 20 and givens.max() <= 24 and len(set(givens)) > 1
    assert not grids["train"] & grids["test"]


def test_max_per_solution_caps_puzzles_per_grid():
    shape, edges, shares = Shape(3, 3), [0, 1, 3, 11], [0.25, 0.25, 0.25, 0.25]
    params = SearchParams(max_per_solution=2)
    gen = MixGenerator(shape, np.random.default_rng(3), edges=edges, params=params)
    puzzles = list(gen.generate(40, shares))
    per_grid = {}
    for p in puzzles:
        per_grid[p.solution.tobytes()] = per_grid.get(p.solution.tobytes(), 0) + 1
    assert max(per_grid.values()) <= 2 and len(per_grid) >= 20
    avoid = gen.solution_keys
    other = MixGenerator(shape, np.random.default_rng(4), edges=edges, params=params, avoid_solutions=avoid)
    assert not {p.solution.tobytes() for p in other.generate(20, shares)} & avoid
