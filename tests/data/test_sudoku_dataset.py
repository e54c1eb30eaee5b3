"""Sudoku tables: reproducible, valid, leak-free; schema catches corruption; CSV import; 6x6; rating mix."""

from __future__ import annotations

import io

import numpy as np
import polars as pl
import pytest

from hrm_pipeline.data.schema import ValidationFailed, validate_table
from hrm_pipeline.data.sudoku import (
    SHAPE_9,
    MixGenerator,
    Shape,
    SudokuConfig,
    build_tables,
    leakage_key,
    rate,
    schema,
)
from hrm_pipeline.data.sudoku.api import analyse, to_string
from hrm_pipeline.data.sudoku.generate import OFFICIAL_BUCKET_EDGES, OFFICIAL_BUCKET_SHARES, bucket_of

# easy buckets only: keeps unit tests fast (hard buckets need long local searches; see the slow test)
FAST = dict(train_size=8, test_size=6, num_aug=2, bucket_edges=[0, 1, 3], bucket_shares=[0.5, 0.3, 0.2])


@pytest.fixture(scope="module")
def tables():
    return build_tables(SudokuConfig(seed=3, **FAST), progress=False)


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd", statistics=False)
    return buf.getvalue()


def test_build_tables_is_byte_reproducible_for_a_seed(tables):
    again = build_tables(SudokuConfig(seed=3, **FAST), progress=False)
    for name in ("train", "test"):
        assert _parquet_bytes(tables.splits[name]) == _parquet_bytes(again.splits[name])
    other = build_tables(SudokuConfig(seed=4, **FAST), progress=False)
    assert _parquet_bytes(other.splits["test"]) != _parquet_bytes(tables.splits["test"])


def test_tables_layout_and_tokens(tables):
    train, test = tables.splits["train"], tables.splits["test"]
    assert tables.meta.vocab_size == 11 and tables.meta.seq_len == 81
    assert train.height == 8 * 3 and test.height == 6
    assert train["group_id"].n_unique() == 8 and train["puzzle_id"].n_unique() == train.height
    assert (train["puzzle_identifier"] == 0).all()
    assert not test["augmented"].any()
    x = test["inputs"].to_numpy()
    assert x.min() >= 1 and x.max() <= 10  # blank = 1, digits 2..10, pad 0 unused


def test_generated_puzzles_are_unique_and_rated_as_stored(tables):
    df = tables.splits["test"]
    for inputs, labels, rating in zip(
        df["inputs"].to_numpy(), df["labels"].to_numpy(), df["rating"], strict=True
    ):
        a = analyse(inputs.astype(np.int64) - 1, SHAPE_9)
        assert a.solutions == 1
        assert (a.solution == labels.astype(np.int64) - 1).all()
        assert rate(to_string(inputs.astype(np.int64) - 1)) == rating


def test_valid_tables_pass_the_schema(tables):
    for name, df in tables.splits.items():
        validate_table(df, schema(tables.meta), label=name)


def _corrupt(df: pl.DataFrame, column: str, fn) -> pl.DataFrame:
    arr = df[column].to_numpy().copy()
    fn(arr)
    return df.with_columns(pl.Series(column, arr, dtype=df[column].dtype))


@pytest.mark.parametrize(
    ("column", "fn", "message"),
    [
        (
            "labels",
            lambda a: a.__setitem__((0, slice(0, 2)), a[0, [1, 0]]),
            "labels are a complete valid grid",
        ),
        ("labels", lambda a: a.__setitem__((1, 5), 1), "labels are a complete valid grid"),
        (
            "inputs",
            lambda a: a.__setitem__(
                (0, np.flatnonzero(a[0] > 1)[0]), 1 + (a[0, np.flatnonzero(a[0] > 1)[0]] % 9) + 1
            ),
            "labels agree with the givens",
        ),
        ("inputs", lambda a: a.__setitem__((2, slice(None)), 1), "inputs have at least 17 givens"),
    ],
)
def test_schema_rejects_corrupted_tables(tables, column, fn, message):
    bad = _corrupt(tables.splits["test"], column, fn)
    with pytest.raises(ValidationFailed, match=message):
        validate_table(bad, schema(tables.meta), label="test")


def test_schema_rejects_negative_rating(tables):
    bad = tables.splits["test"].with_columns(pl.lit(-1, dtype=pl.Int32).alias("rating"))
    with pytest.raises(ValidationFailed, match="rating"):
        validate_table(bad, schema(tables.meta), label="test")


def test_split_has_no_equivalent_pairs_within_or_across(tables):
    train, test = tables.splits["train"], tables.splits["test"]
    tk, sk = leakage_key(train), leakage_key(test)
    assert sk.n_unique() == test.height
    per_group = train.with_columns(tk).group_by("group_id").agg(pl.col("leakage_key").n_unique())
    assert (per_group["leakage_key"] == 1).all()  # variants of a puzzle share its key
    assert tk.n_unique() == train["group_id"].n_unique()
    assert not set(tk.to_list()) & set(sk.to_list())


def test_csv_import_keeps_source_and_rating_and_drops_test_equivalents(shared_data):
    root = shared_data / "sudoku"
    cfg = SudokuConfig(
        train_csv=str(root / "sudoku_extreme_train_1k.csv.gz"),
        test_csv=str(root / "forum_hardest_1106.csv.gz"),
        train_size=25,
        num_aug=1,
    )
    t = build_tables(cfg, progress=False)
    train, test = t.splits["train"], t.splits["test"]
    assert train["group_id"].n_unique() <= 25 and test.height <= 375
    assert (test["source"] == "forum_hardest_1106").all()
    assert test["rating"].mean() > 50  # the official ratings of the hard list, kept
    assert not set(leakage_key(train).to_list()) & set(leakage_key(test).to_list())
    for name, df in t.splits.items():
        validate_table(df, schema(t.meta), label=name)


def test_six_by_six_generation_builds_valid_tables():
    cfg = SudokuConfig(
        box_rows=2,
        box_cols=3,
        train_size=6,
        test_size=4,
        num_aug=2,
        min_givens=8,
        max_givens=20,
        bucket_edges=[0, 1],
        bucket_shares=[0.5, 0.5],
    )
    t = build_tables(cfg, progress=False)
    assert t.meta.vocab_size == 8 and t.meta.seq_len == 36
    for name, df in t.splits.items():
        validate_table(df, schema(t.meta), label=name)
    keys = leakage_key(t.splits["test"], Shape(2, 3))
    assert keys.n_unique() == 4


@pytest.mark.slow
def test_small_official_mix_lands_in_the_buckets():
    gen = MixGenerator(SHAPE_9, np.random.default_rng(0), edges=list(OFFICIAL_BUCKET_EDGES))
    count = 30
    puzzles = list(gen.generate(count, OFFICIAL_BUCKET_SHARES))
    ratings = [rate(to_string(p.puzzle)) for p in puzzles]  # re-rated independently, as stored
    share = np.bincount([bucket_of(r, OFFICIAL_BUCKET_EDGES) for r in ratings], minlength=5) / count
    assert np.abs(share - np.array(OFFICIAL_BUCKET_SHARES)).max() <= 0.034  # one puzzle in 30 of rounding
    assert all(analyse(p.puzzle, SHAPE_9).solutions == 1 for p in puzzles)
