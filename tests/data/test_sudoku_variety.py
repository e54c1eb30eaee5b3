"""Variety rules: distinct solution grids up to symmetry (9x9 option); validation refuses symmetry leaks."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from hrm_pipeline.data.schema import ValidationFailed
from hrm_pipeline.data.storage import token_array
from hrm_pipeline.data.sudoku import SHAPE_9, SudokuConfig, build_tables, canonical_key, check_variety
from hrm_pipeline.data.sudoku.dataset import BLANK_TOKEN, leakage_key
from hrm_pipeline.data.sudoku.symmetry import apply_transform, random_transform
from hrm_pipeline.data.validate import check_no_leakage

FAST = dict(train_size=8, test_size=6, num_aug=1, bucket_edges=[0, 1, 3], bucket_shares=[0.5, 0.3, 0.2])


@pytest.fixture(scope="module")
def tables():
    return build_tables(SudokuConfig(seed=5, distinct_grid_orbits=True, **FAST), progress=False)


def _grids(df: pl.DataFrame, column: str) -> np.ndarray:
    first = np.unique(df["group_id"].to_numpy(), return_index=True)[1]
    return df[column].to_numpy().astype(np.int64)[first] - BLANK_TOKEN


def test_no_two_puzzles_share_a_grid_up_to_symmetry(tables):
    grids = np.concatenate([_grids(tables.splits[s], "labels") for s in ("train", "test")])
    keys = {canonical_key(g, SHAPE_9) for g in grids}
    assert len(keys) == len(grids)
    check_variety(tables.meta, tables.splits)  # and validation agrees


def _with_first_group(df: pl.DataFrame, column: str, row: np.ndarray) -> pl.DataFrame:
    values = df[column].to_numpy().copy()
    values[df["group_id"].to_numpy() == df["group_id"][0]] = row + BLANK_TOKEN
    return df.with_columns(token_array(values, values.shape[1]).alias(column))


def test_validate_refuses_a_test_grid_that_is_a_symmetry_image_of_a_train_grid(tables):
    train, test = tables.splits["train"], tables.splits["test"]
    t = random_transform(SHAPE_9, np.random.default_rng(0))
    image = apply_transform(_grids(train, "labels")[0], t, SHAPE_9)
    bad = {"train": train, "test": _with_first_group(test, "labels", image)}
    with pytest.raises(ValidationFailed, match="share a solution grid up to symmetry"):
        check_variety(tables.meta, bad)


def test_validate_refuses_a_test_puzzle_that_is_a_symmetry_image_of_a_train_puzzle(tables):
    train, test = tables.splits["train"], tables.splits["test"]
    t = random_transform(SHAPE_9, np.random.default_rng(1))
    image = apply_transform(_grids(train, "inputs")[0], t, SHAPE_9)
    with pytest.raises(ValidationFailed, match="leakage"):
        check_no_leakage("sudoku", train, _with_first_group(test, "inputs", image), leakage_key)


def test_variety_rule_off_keeps_todays_rules():
    meta = build_tables(SudokuConfig(seed=5, **FAST), progress=False).meta
    assert meta.extra["distinct_grid_orbits"] is False


def test_orbit_rating_is_orientation_independent(shared_data):
    from hrm_pipeline.data.sudoku import read_csv
    from hrm_pipeline.data.sudoku.generate import bucket_of, orbit_rating

    split = read_csv(str(shared_data / "sudoku" / "sudoku_extreme_train_1k.csv.gz"), SHAPE_9)
    rng = np.random.default_rng(2)
    edges = [0, 1, 3, 11, 51]
    for puzzle in split.puzzles[:3]:
        image = apply_transform(puzzle, random_transform(SHAPE_9, rng), SHAPE_9)
        a, b = orbit_rating(puzzle, SHAPE_9), orbit_rating(image, SHAPE_9)
        assert a == b
        assert bucket_of(int(a), edges) == bucket_of(int(b), edges)
