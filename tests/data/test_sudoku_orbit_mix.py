"""Orbit-bucketed 9x9 generation (paper profile rules): variety, uniqueness, buckets, sharding, validation."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_pipeline.data.schema import ValidationFailed
from hrm_pipeline.data.sudoku import (
    SHAPE_9,
    MixGenerator,
    SudokuConfig,
    analyse,
    build_tables,
    canonical_key,
    check_variety,
)
from hrm_pipeline.data.sudoku.api import spare_clues
from hrm_pipeline.data.sudoku.dataset import BLANK_TOKEN, strata
from hrm_pipeline.data.sudoku.generate import SearchParams, bucket_quota, orbit_bucket, orbit_rating
from hrm_pipeline.data.sudoku.shards import generate_sharded
from hrm_pipeline.data.sudoku.symmetry import apply_transform, random_transform
from hrm_pipeline.data.sudoku.variety import near_duplicate_pairs, near_duplicate_rows

# buckets reachable without a long climb keep this fast; the rules are those of the paper profile
EDGES, SHARES = [0, 1, 3, 11], [0.25, 0.25, 0.25, 0.25]
RULES = SearchParams(grid_orbits=True, orbit_buckets=True, near_clues=2)


@pytest.fixture(scope="module")
def mix():
    gen = MixGenerator(SHAPE_9, np.random.default_rng(7), edges=EDGES, params=RULES)
    return list(gen.generate(24, SHARES))


def test_every_puzzle_is_on_its_own_grid_orbit_and_none_is_a_near_duplicate(mix):
    grids = {canonical_key(p.solution, SHAPE_9) for p in mix}
    assert len(grids) == len(mix)
    assert near_duplicate_pairs(np.stack([p.puzzle for p in mix]), SHAPE_9, 2) == []


def test_every_puzzle_is_unique_consistent_and_rated_as_stored(mix):
    for p in mix:
        a = analyse(p.puzzle, SHAPE_9)
        assert a.solutions == 1 and np.array_equal(a.solution, p.solution)
        assert ((p.puzzle == 0) | (p.puzzle == p.solution)).all()
        assert analyse(p.puzzle, SHAPE_9, limit=1).rating == p.rating
        assert 17 <= np.count_nonzero(p.puzzle) <= 35


def test_buckets_follow_the_orbit_rating_recomputed_from_the_stored_image(mix):
    orbit = [orbit_rating(p.puzzle, SHAPE_9) for p in mix]  # the stored image, not the generator's frame
    assert orbit == [p.orbit for p in mix]
    counts = np.bincount([orbit_bucket(o, EDGES) for o in orbit], minlength=len(EDGES))
    assert counts.tolist() == np.bincount(bucket_quota(24, SHARES), minlength=len(EDGES)).tolist()


def test_near_duplicate_measure_sees_through_symmetry_and_counts_clues():
    rng = np.random.default_rng(0)
    gen = MixGenerator(SHAPE_9, rng, edges=[0, 1], params=RULES)
    a, b = (p.puzzle for p in gen.generate(2, [0.5, 0.5]))
    clues = np.flatnonzero(a)
    swapped = a.copy()
    swapped[clues[0]] = 0  # one clue removed, one changed: 2 clues away from a
    swapped[clues[1]] = swapped[clues[1]] % 9 + 1
    three = swapped.copy()
    three[clues[2]] = 0  # 3 clues away from a, still 2 from swapped... but a keeps 3 of its own
    image = apply_transform(swapped, random_transform(SHAPE_9, rng), SHAPE_9)
    assert near_duplicate_pairs(np.stack([a, b, image]), SHAPE_9, 2) == [(0, 2)]
    assert near_duplicate_rows(a, np.stack([swapped, three, b]), 2).tolist() == [True, False, False]


def test_sharded_output_is_the_same_for_one_and_two_workers():
    """The documented rule: output depends on seed and shard size only, not on the worker count."""
    runs = [
        generate_sharded(SHAPE_9, np.random.default_rng(3), 12, SHARES, EDGES, RULES, 6, workers)
        for workers in (1, 2)
    ]
    one, two = ([p.puzzle.tolist() for p in r.puzzles] for r in runs)
    assert one == two and len(one) == 12
    assert len({canonical_key(p.solution, SHAPE_9) for p in runs[0].puzzles}) == 12


FAST = dict(
    train_size=8, test_size=6, num_aug=1, bucket_edges=EDGES, bucket_shares=SHARES, distinct_grid_orbits=True,
    bucket_by_orbit=True, near_clues=2, shard_size=4,
)  # fmt: skip


@pytest.fixture(scope="module")
def tables():
    return build_tables(SudokuConfig(seed=1, **FAST), progress=False)


def test_sharded_tables_pass_the_variety_rules_and_record_orbit_figures(tables):
    check_variety(tables.meta, tables.splits)
    assert tables.meta.extra["orbit_bucket_counts"]["train"] == [2, 2, 2, 2, 0]  # report buckets
    assert "workers" not in tables.meta.params  # never part of the data


def _first_rows(df):
    return np.unique(df["group_id"].to_numpy(), return_index=True)[1]


def test_validate_refuses_a_near_duplicate_across_splits(tables):
    train, test = tables.splits["train"], tables.splits["test"]
    x = train["inputs"].to_numpy().astype(np.int64)[_first_rows(train)[0]] - BLANK_TOKEN
    x[np.flatnonzero(x)[0]] = 0  # a train puzzle minus one clue, under a symmetry: a near-duplicate
    image = apply_transform(x, random_transform(SHAPE_9, np.random.default_rng(2)), SHAPE_9)
    values = test["inputs"].to_numpy().copy()
    values[test["group_id"].to_numpy() == test["group_id"][0]] = image + BLANK_TOKEN
    from hrm_pipeline.data.storage import token_array

    bad = test.with_columns(token_array(values, values.shape[1]).alias("inputs"))
    with pytest.raises(ValidationFailed, match="near-duplicate"):
        check_variety(tables.meta, {"train": train, "test": bad})


def test_validate_refuses_two_train_puzzles_on_one_grid_orbit(tables):
    from hrm_pipeline.data.storage import token_array

    train = tables.splits["train"]
    labels = train["labels"].to_numpy().copy()
    groups = train["group_id"].to_numpy()
    first = labels[groups == groups[0]][0].astype(np.int64) - BLANK_TOKEN
    image = apply_transform(first, random_transform(SHAPE_9, np.random.default_rng(4)), SHAPE_9)
    labels[groups == np.unique(groups)[1]] = image + BLANK_TOKEN
    bad = train.with_columns(token_array(labels, labels.shape[1]).alias("labels"))
    with pytest.raises(ValidationFailed, match="share a solution grid up to symmetry"):
        check_variety(tables.meta, {"train": bad, "test": tables.splits["test"]})


def test_minimal_rule_refuses_puzzles_with_a_spare_clue_and_keeps_the_orbit_mix():
    """`minimal`: official puzzles that need a guess have no clue uniqueness can spare; ours neither."""
    rules = SearchParams(grid_orbits=True, orbit_buckets=True, near_clues=2, minimal=True)
    gen = MixGenerator(SHAPE_9, np.random.default_rng(11), edges=EDGES, params=rules)
    out = list(gen.generate(12, SHARES))
    for p in out:
        assert spare_clues(p.puzzle, SHAPE_9).size == 0
        a = analyse(p.puzzle, SHAPE_9)
        assert a.solutions == 1 and np.array_equal(a.solution, p.solution)
        assert analyse(p.puzzle, SHAPE_9, limit=1).rating == p.rating
    counts = np.bincount([orbit_bucket(orbit_rating(p.puzzle, SHAPE_9), EDGES) for p in out], minlength=4)
    assert counts.tolist() == np.bincount(bucket_quota(12, SHARES), minlength=4).tolist()


def test_lineages_start_from_minimal_puzzles_with_at_least_start_givens_clues():
    gen = MixGenerator(SHAPE_9, np.random.default_rng(2), params=SearchParams(start_givens=25))
    for _ in range(4):
        p = gen._fresh()
        assert np.count_nonzero(p.puzzle) >= 25 and spare_clues(p.puzzle, SHAPE_9).size == 0
        a = analyse(p.puzzle, SHAPE_9, limit=1)
        assert np.array_equal(a.solution, p.solution) and a.rating == p.rating


# two givens counts, weights 1:3, each with its own bucket shares (column totals = SHARES x 3)
MIX = {"24": [1, 0, 1, 1], "27": [2, 3, 2, 2]}
MIX_SHARES = [0.75, 0.75, 0.75, 0.75]


def test_givens_mix_strata_hold_their_givens_and_exact_bucket_counts_shuffled():
    cfg = SudokuConfig(bucket_edges=EDGES, bucket_shares=MIX_SHARES, givens_mix=MIX, shard_size=6)
    out = generate_sharded(
        SHAPE_9, np.random.default_rng(5), 12, SHARES, EDGES, RULES, 6, strata=strata(cfg, RULES)
    )
    puzzles = out.puzzles
    givens = np.array([np.count_nonzero(p.puzzle) for p in puzzles])
    assert set(givens.tolist()) == {24, 27} and (givens == 24).sum() == 3  # 12 puzzles at weights 3:9
    for g, row in ((24, MIX["24"]), (27, MIX["27"])):
        # exact for the stratum, though "27" spans two shards (6 + 3) whose own rounding would give [3,3,2,1]
        buckets = [orbit_bucket(p.orbit, EDGES) for p, n in zip(puzzles, givens, strict=True) if n == g]
        want = np.bincount(bucket_quota(len(buckets), row), minlength=len(EDGES))
        assert np.bincount(buckets, minlength=len(EDGES)).tolist() == want.tolist()
    low = givens == 24
    assert not (low[:3].all() or low[-3:].all())  # shuffled: the order does not give the strata away
    assert len({canonical_key(p.solution, SHAPE_9) for p in puzzles}) == 12


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (dict(shard_size=0), "needs sudoku.shard_size > 0"),
        (dict(givens_mix={"33-35": [1, 1, 1, 1]}), "key '33-35' is not a givens count"),
        (dict(givens_mix={"16": [1, 1, 1, 1]}), "16 givens is outside min_givens..max_givens"),
        (dict(givens_mix={"24": [1, 1, 1, 1], "024": [1, 1, 1, 1]}), "a givens count appears twice"),
        (dict(givens_mix={"24": [1, 1, 1]}), "4 non-negative weights"),
        (dict(givens_mix={"24": [2, 0, 1, 1]}), "bucket 0 totals 0.500 of the mix, bucket_shares says 0.250"),
    ],
)
def test_givens_mix_refuses_a_bad_table_with_one_line(change, cause):
    keys = (
        dict(bucket_edges=EDGES, bucket_shares=SHARES, givens_mix={"24": [1, 1, 1, 1]}, shard_size=4) | change
    )
    with pytest.raises(ValueError, match=cause):
        SudokuConfig(**keys)
