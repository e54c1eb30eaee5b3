"""Maze-Hard tables: generation, reproducibility, dedupe, augmentation, imports and schema failures."""

import io
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from omegaconf import OmegaConf

from hrm_pipeline.data.maze import (
    MazeConfig,
    build_tables,
    decode,
    dihedral_tokens,
    generate_split,
    label_tokens,
    leakage_key,
    schema,
    valid_optimal_path,
)
from hrm_pipeline.data.maze.grid import GOAL, PATH, START, WALL, canonical_layouts, dihedral
from hrm_pipeline.data.schema import ValidationFailed, validate_table
from hrm_pipeline.data.storage import token_array

# Tiny mazes keep the suite fast: on 10x10 about 10 % of random layouts have a pair 24 moves apart (on 30x30,
# 0.7 % reach 109), so these stand in for Maze-Hard at a scaled minimum path.
TINY = MazeConfig(
    seed=7,
    size=10,
    train_size=30,
    test_size=20,
    min_path_moves=24,
    length_bin_edges=[24, 26, 28, 32, 40],
    length_bin_weights=[50.0, 30.0, 15.0, 5.0],
)
# The published histogram of the official train split (moves; per 1000 mazes).
OFFICIAL_EDGES = [105, 110, 115, 120, 125, 130, 140, 160]
OFFICIAL_TRAIN_HIST = np.array([154, 515, 189, 94, 24, 20, 4]) / 1000


@pytest.fixture(scope="module")
def tiny():
    return build_tables(TINY, progress=False)


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd", statistics=False)  # as storage.write_dataset writes
    return buf.getvalue()


def _tokens(df: pl.DataFrame, column: str) -> np.ndarray:
    return df[column].to_numpy().copy()


def test_config_loads_as_an_omegaconf_structured_config():
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(MazeConfig), {"size": 12}))
    assert isinstance(cfg, MazeConfig) and cfg.size == 12 and cfg.length_bin_edges[0] == 109


def test_build_tables_is_byte_reproducible_for_a_seed(tiny):
    again = build_tables(TINY, progress=False)
    for split in ("train", "test"):
        assert _parquet_bytes(tiny.splits[split]) == _parquet_bytes(again.splits[split])
    assert tiny.meta == again.meta
    other = build_tables(replace(TINY, seed=8), progress=False)
    assert _parquet_bytes(other.splits["test"]) != _parquet_bytes(tiny.splits["test"])


def test_generated_tables_pass_their_schema_and_meet_the_spec(tiny):
    sch = schema(tiny.meta)
    for split, n in (("train", TINY.train_size), ("test", TINY.test_size)):
        df = tiny.splits[split]
        validate_table(df, sch, label=f"maze/{split}")
        assert df.height == n and df["group_id"].n_unique() == n and df["puzzle_id"].n_unique() == n
        x, y = _tokens(df, "inputs"), _tokens(df, "labels")
        assert x.shape == (n, 100) and (df["path_length"] >= TINY.min_path_moves).all()
        assert (df["puzzle_identifier"] == 0).all()
        labels, status = label_tokens(x)
        assert not status.any() and np.array_equal(labels, y)  # the official tie-break
        assert valid_optimal_path(x, y).all()
    assert tiny.meta.vocab_size == 6 and tiny.meta.seq_len == 100


def test_no_layout_repeats_up_to_symmetry_within_or_across_splits(tiny):
    train, test = leakage_key(tiny.splits["train"]), leakage_key(tiny.splits["test"])
    assert train.n_unique() == len(train) and test.n_unique() == len(test)
    assert not test.is_in(train.implode()).any()


def test_generator_skips_layouts_already_taken():
    kwargs = dict(
        size=10, min_path_moves=24, wall_prob_min=0.3, wall_prob_max=0.5, bin_edges=[], bin_weights=[]
    )
    first = generate_split(10, np.random.default_rng(3), taken=set(), **kwargs)
    taken = set(first.keys)
    # The same stream offers the same layouts again; every one of them must be refused.
    second = generate_split(10, np.random.default_rng(3), taken=taken, **kwargs)
    assert not set(second.keys) & set(first.keys) and len(taken) == 20
    # A dihedral image of a taken layout counts as taken too.
    walls = (first.inputs == WALL).reshape(-1, 10, 10)
    assert canonical_layouts(dihedral(walls, 5)) == first.keys


def test_generated_path_lengths_and_wall_density_match_the_official_train_split():
    gen = generate_split(
        100,
        np.random.default_rng(0),
        size=30,
        min_path_moves=109,
        wall_prob_min=0.30,
        wall_prob_max=0.50,
        bin_edges=MazeConfig().length_bin_edges,
        bin_weights=MazeConfig().length_bin_weights,
        taken=set(),
    )
    hist = np.histogram(gen.path_moves, OFFICIAL_EDGES)[0] / 100
    assert gen.path_moves.min() >= 109
    # Quotas per fine bin are exact up to rounding (< 1 maze each; up to 5 fine bins per published bin).
    assert np.abs(hist - OFFICIAL_TRAIN_HIST).max() <= 0.03
    density = (gen.inputs == WALL).mean(axis=1)
    assert 0.35 < density.mean() < 0.39  # official mean 0.371
    assert density.min() > 0.25 and density.max() < 0.48  # official 0.277..0.450


def test_dihedral_augmentation_adds_valid_variants_of_each_train_maze(tiny):
    aug = build_tables(replace(TINY, augment_dihedral=True, dihedral_variants=3), progress=False)
    train, base = aug.splits["train"], tiny.splits["train"]
    assert train.height == 3 * base.height and train["puzzle_id"].n_unique() == train.height
    assert aug.splits["test"].equals(tiny.splits["test"])  # test is never augmented
    validate_table(train, schema(aug.meta), label="maze/train")
    x, y = _tokens(train, "inputs"), _tokens(train, "labels")
    assert valid_optimal_path(x, y).all()
    base_x = _tokens(base, "inputs")
    for row in range(train.height):
        g, t = train["group_id"][row], train["transform"][row]
        assert np.array_equal(x[row : row + 1], dihedral_tokens(base_x[g : g + 1], int(t)))
    per_group = train.group_by("group_id").agg(
        distinct=pl.col("transform").n_unique(), originals=(pl.col("transform") == 0).sum()
    )
    assert (per_group["distinct"] == 3).all() and (per_group["originals"] == 1).all()
    keys = train.with_columns(leakage_key(train)).group_by("group_id").agg(pl.col("leakage_key").n_unique())
    assert (keys["leakage_key"] == 1).all()  # variants share their original's key


def test_csv_import_round_trips_and_drops_train_mazes_equal_to_test_ones(tiny, tmp_path):
    test = tiny.splits["test"]
    csv = tmp_path / "test.csv"
    pl.DataFrame(
        {
            "source": ["hand"] * test.height,
            "question": decode(_tokens(test, "inputs")),
            "answer": decode(_tokens(test, "labels")),
            "rating": [0] * test.height,
        }
    ).write_csv(csv)
    # Train file: the first five test mazes under a symmetry, then the train mazes.
    train_csv = tmp_path / "train.csv"
    rotated_x = dihedral_tokens(_tokens(test, "inputs")[:5], 1)
    rotated_y = dihedral_tokens(_tokens(test, "labels")[:5], 1)
    pl.DataFrame(
        {
            "source": ["hand"] * (5 + tiny.splits["train"].height),
            "question": decode(np.concatenate([rotated_x, _tokens(tiny.splits["train"], "inputs")])),
            "answer": decode(np.concatenate([rotated_y, _tokens(tiny.splits["train"], "labels")])),
            "rating": [0] * (5 + tiny.splits["train"].height),
        }
    ).write_csv(train_csv)
    got = build_tables(replace(TINY, import_test=str(csv), import_train=str(train_csv)), progress=False)
    assert np.array_equal(_tokens(got.splits["test"], "labels"), _tokens(test, "labels"))
    assert np.array_equal(_tokens(got.splits["train"], "inputs"), _tokens(tiny.splits["train"], "inputs"))
    assert got.meta.extra["splits"]["train"]["dropped_duplicate_groups"] == 5
    assert got.splits["train"]["group_id"].to_list() == list(range(TINY.train_size))
    for split in ("train", "test"):
        validate_table(got.splits[split], schema(got.meta), label=f"maze/{split}")


def test_official_npy_folder_imports_and_validates(shared_data):
    folder = shared_data / "maze" / "maze_hard_train_1k"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    cfg = MazeConfig(import_train=str(folder), test_size=3, seed=1)
    got = build_tables(cfg, progress=False)
    train = got.splits["train"]
    assert train.height == 1000 and (train["source"] == "import").all()
    assert np.array_equal(_tokens(train, "labels"), np.load(folder / "all__labels.npy"))
    assert np.histogram(train["path_length"].to_numpy(), OFFICIAL_EDGES)[0].tolist() == [
        154,
        515,
        189,
        94,
        24,
        20,
        4,
    ]
    for split in ("train", "test"):
        validate_table(got.splits[split], schema(got.meta), label=f"maze/{split}")
    assert not leakage_key(got.splits["test"]).is_in(leakage_key(train).implode()).any()


def _corrupt(df: pl.DataFrame, column: str, rows: np.ndarray) -> pl.DataFrame:
    return df.with_columns(token_array(rows, rows.shape[1]).alias(column))


def _alternative_shortest_label(x: np.ndarray) -> tuple[int, np.ndarray]:
    """A row and a valid shortest path for it that is not the official tie-break (label a mirror or the half
    turn: these are their own inverses)."""
    for row in range(x.shape[0]):
        official, _ = label_tokens(x[row : row + 1])
        for tid in (4, 5, 6, 7, 2):
            mirrored, _ = label_tokens(dihedral_tokens(x[row : row + 1], tid))
            other = dihedral_tokens(mirrored, tid)[0]
            if not np.array_equal(other, official[0]):
                return row, other
    raise AssertionError("every maze had a mirror-symmetric label")


def test_corrupted_tables_fail_validation_naming_the_check(tiny):
    df = tiny.splits["train"]
    sch = schema(tiny.meta)
    x, y = _tokens(df, "inputs"), _tokens(df, "labels")

    def fails(bad: pl.DataFrame, check: str) -> None:
        with pytest.raises(ValidationFailed) as err:
            validate_table(bad, sch, label="maze/train")
        assert check in str(err.value), str(err.value)
        assert "maze/train" in str(err.value)

    two_starts = x.copy()
    two_starts[0, np.flatnonzero(x[0] == WALL)[0]] = START
    fails(_corrupt(df, "inputs", two_starts), "input has exactly one S and one G")

    path_in_input = x.copy()
    path_in_input[1] = y[1]
    fails(_corrupt(df, "inputs", path_in_input), "input has no path 'o'")

    wall_moved = y.copy()
    wall_moved[2, np.flatnonzero(y[2] == WALL)[0]] = 2
    fails(_corrupt(df, "labels", wall_moved), "label keeps the input's walls, S and G")

    broken_path = y.copy()
    broken_path[3, np.flatnonzero(y[3] == PATH)[0]] = 2  # one step missing: disconnected, short
    fails(
        _corrupt(df, "labels", broken_path).with_columns(
            pl.Series("path_length", path_moves_of(broken_path))
        ),
        "label is a valid shortest S->G path",
    )

    fails(
        df.with_columns(pl.col("path_length") + pl.lit(1, pl.Int32)), "path_length equals the label's moves"
    )

    row, other = _alternative_shortest_label(x)
    alt = y.copy()
    alt[row] = other
    fails(_corrupt(df, "labels", alt), "generated label follows the official tie-break")

    strict = replace(tiny.meta, params={**tiny.meta.params, "min_path_moves": 1000})
    with pytest.raises(ValidationFailed, match="generated path_length >= min_path_moves 1000"):
        validate_table(df, schema(strict), label="maze/train")

    lost_goal = x.copy()
    lost_goal[4][lost_goal[4] == GOAL] = 2
    fails(_corrupt(df, "inputs", lost_goal), "input has exactly one S and one G")


def path_moves_of(labels: np.ndarray) -> np.ndarray:
    return ((labels == PATH).sum(axis=1) + 1).astype(np.int32)
