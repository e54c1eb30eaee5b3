"""Maze-Hard dataset tables: config, build (generate or import), augmentation, schema and leakage key.

Splits are built test first, each from its own child of ``SeedSequence(seed)``, so the test split does not
change when only the train size changes; train then skips any layout that is a dihedral image of a test one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandera.polars as pa
import polars as pl

from hrm_pipeline.data.maze.generate import generate_split
from hrm_pipeline.data.maze.grid import (
    FREE,
    GOAL,
    NUM_DIHEDRAL,
    PAD,
    PATH,
    START,
    VOCAB_SIZE,
    WALL,
    canonical_layouts,
    dihedral_tokens,
    grid_size,
    label_tokens,
    path_moves,
    valid_optimal_path,
)
from hrm_pipeline.data.maze.split import MazeSplit, load_import
from hrm_pipeline.data.schema import row_check, table_schema
from hrm_pipeline.data.storage import DatasetMeta, DatasetTables, token_array

DATASET = "maze"
GENERATOR_VERSION = "maze-3"  # bump when the same config would produce different tables
GENERATED = "generated"  # `source` of generated rows; imported rows keep their file's source
NUM_PUZZLE_IDENTIFIERS = 1  # every maze uses the blank identifier 0, as in the reference


@dataclass
class MazeConfig:
    seed: int = 0
    size: int = 30  # grid side; seq_len = size * size
    train_size: int = 1000  # original mazes (groups) per split, before augmentation
    test_size: int = 1000
    # Official Maze-Hard: shortest paths of at least 109 moves (110 cells with S and G).
    min_path_moves: int = 109
    # Per-maze wall probability ~ U(min, max): after the path filter this gives the official density
    # (mean 37 %, 28-45 %).
    wall_prob_min: float = 0.30
    wall_prob_max: float = 0.50
    # Path-length histogram (moves) to reproduce: the official train split's counts per 1000 mazes, one bin
    # per move up to 120 (inside a wide bin S-G pairs crowd its short end), then the published bins to 160.
    # Empty edges = no resampling (S and G uniform among pairs >= min_path_moves apart: too few long paths).
    length_bin_edges: list[int] = field(default_factory=lambda: [*range(109, 121), 125, 130, 140, 160])
    length_bin_weights: list[float] = field(
        default_factory=lambda: (
            [154.0, 144.0, 121.0, 96.0, 72.0, 82.0, 37.0, 52.0, 36.0, 41.0, 23.0] + [94.0, 24.0, 20.0, 4.0]
        )
    )
    # S and G reweighted to the official mix of free-neighbour counts and border cells (generate.py step 4);
    # False = uniform among the pairs of the drawn length bin (half the starts are then dead ends).
    place_endpoints: bool = True
    # With place_endpoints: also match the official eccentricity of S and G relative to the path (official
    # mean 1.054; uniform far pairs 1.028, too often the extremes). Its bins are 30x30 path-length ratios.
    place_eccentricity: bool = True
    augment_dihedral: bool = False  # train only; test is never augmented
    dihedral_variants: int = 8  # variants per train maze including the original (1..8)
    # Official data instead of generating: an npy folder (reference builder layout: all__inputs.npy,
    # all__labels.npy, dataset.json) or a CSV (source,question,answer,rating). Empty = generate.
    import_train: str = ""
    import_test: str = ""


def build_tables(cfg: MazeConfig, *, progress: bool = True) -> DatasetTables:
    """Both splits and their metadata; same config -> identical tables."""
    if not 1 <= cfg.dihedral_variants <= NUM_DIHEDRAL:
        raise ValueError(f"dihedral_variants must be in 1..{NUM_DIHEDRAL}, got {cfg.dihedral_variants}")
    test_seq, train_seq, aug_seq = np.random.SeedSequence(cfg.seed).spawn(3)
    taken: set[bytes] = set()
    splits: dict[str, pl.DataFrame] = {}
    extra: dict = {"splits": {}}
    for name, n, path, seq in (
        ("test", cfg.test_size, cfg.import_test, test_seq),
        ("train", cfg.train_size, cfg.import_train, train_seq),
    ):
        if path:
            # Duplicates (up to symmetry) within the file, or of a test maze in train, are dropped.
            part, dropped = load_import(path).drop_groups(taken)
            taken.update(part.keys)
        else:
            part = _generate(cfg, n, np.random.default_rng(seq), taken, progress, desc=f"maze {name}")
            dropped = 0
        if grid_size(part.inputs.shape[1]) != cfg.size:
            raise ValueError(
                f"maze {name}: imported {path} holds {grid_size(part.inputs.shape[1])}x"
                f"{grid_size(part.inputs.shape[1])} mazes but size is {cfg.size}"
            )
        if name == "train" and cfg.augment_dihedral:
            part = _augment(part, cfg.dihedral_variants, np.random.default_rng(aug_seq))
        splits[name] = _to_frame(part)
        extra["splits"][name] = _summary(part, dropped, path)
    meta = DatasetMeta(
        dataset=DATASET,
        vocab_size=VOCAB_SIZE,
        seq_len=cfg.size * cfg.size,
        num_puzzle_identifiers=NUM_PUZZLE_IDENTIFIERS,
        generator_version=GENERATOR_VERSION,
        seed=cfg.seed,
        params=asdict(cfg),
        extra=extra,
    )
    return DatasetTables(splits={"train": splits["train"], "test": splits["test"]}, meta=meta)


def _generate(
    cfg: MazeConfig, n: int, rng: np.random.Generator, taken: set[bytes], progress: bool, desc: str
) -> MazeSplit:
    gen = generate_split(
        n,
        rng,
        size=cfg.size,
        min_path_moves=cfg.min_path_moves,
        wall_prob_min=cfg.wall_prob_min,
        wall_prob_max=cfg.wall_prob_max,
        bin_edges=list(cfg.length_bin_edges),
        bin_weights=list(cfg.length_bin_weights),
        taken=taken,
        place_endpoints=cfg.place_endpoints,
        place_eccentricity=cfg.place_eccentricity,
        progress=progress,
        desc=desc,
    )
    labels, status = label_tokens(gen.inputs)
    assert not status.any(), "generated a maze without a path"  # the generator only keeps connected S, G
    ids = np.arange(n, dtype=np.int64)
    return MazeSplit(
        inputs=gen.inputs,
        labels=labels,
        group_ids=ids,
        puzzle_ids=ids.copy(),
        keys=gen.keys,
        source=np.full(n, GENERATED, dtype=object),
        layouts_screened=gen.layouts_screened,
    )


def _augment(part: MazeSplit, variants: int, rng: np.random.Generator) -> MazeSplit:
    """Each maze plus ``variants - 1`` distinct non-identity dihedral images (all 7 when variants = 8)."""
    if np.unique(part.group_ids).size != part.group_ids.size:
        raise ValueError("train is already augmented (several rows per group); set augment_dihedral: false")
    n = part.inputs.shape[0]
    tids = np.zeros((n, variants), dtype=np.int8)
    for i in range(n):  # one permutation per maze: a fixed, seed-determined draw order
        tids[i, 1:] = rng.permutation(np.arange(1, NUM_DIHEDRAL))[: variants - 1]
    inputs = np.empty((n, variants, part.inputs.shape[1]), dtype=np.uint8)
    labels = np.empty_like(inputs)
    for t in range(NUM_DIHEDRAL):
        rows, cols = np.nonzero(tids == t)
        if rows.size:
            inputs[rows, cols] = dihedral_tokens(part.inputs[rows], t)
            labels[rows, cols] = dihedral_tokens(part.labels[rows], t)
    return MazeSplit(
        inputs=inputs.reshape(n * variants, -1),
        labels=labels.reshape(n * variants, -1),
        group_ids=np.repeat(part.group_ids, variants),
        puzzle_ids=np.arange(n * variants, dtype=np.int64),
        keys=[k for k in part.keys for _ in range(variants)],
        source=np.repeat(part.source, variants),
        transform=tids.reshape(-1),
        layouts_screened=part.layouts_screened,
    )


def _to_frame(part: MazeSplit) -> pl.DataFrame:
    n, seq_len = part.inputs.shape
    transform = part.transform if part.transform is not None else np.zeros(n, dtype=np.int8)
    return pl.DataFrame(
        {
            "group_id": pl.Series(part.group_ids, dtype=pl.Int64),
            "puzzle_id": pl.Series(part.puzzle_ids, dtype=pl.Int64),
            "example_id": pl.Series(np.arange(n), dtype=pl.Int64),
            "puzzle_identifier": pl.Series(np.zeros(n), dtype=pl.Int32),
            "inputs": token_array(part.inputs, seq_len),
            "labels": token_array(part.labels, seq_len),
            "path_length": pl.Series(path_moves(part.labels), dtype=pl.Int32),
            "transform": pl.Series(transform, dtype=pl.Int8),
            "source": pl.Series(part.source.astype(str), dtype=pl.String),
        }
    )


def _summary(part: MazeSplit, dropped: int, path: str) -> dict:
    """Plain, deterministic figures for metadata.json (calibration at a glance)."""
    summary = {
        "origin": path or GENERATED,
        "dropped_duplicate_groups": int(dropped),
        "layouts_screened": int(part.layouts_screened),
    }
    if not part.inputs.shape[0]:
        return summary
    walls = (part.inputs == WALL).mean(axis=1)
    moves = path_moves(part.labels)
    return {
        **summary,
        "path_moves": {
            "min": int(moves.min()),
            "max": int(moves.max()),
            "mean": round(float(moves.mean()), 3),
        },
        "wall_fraction": {
            "min": round(float(walls.min()), 4),
            "max": round(float(walls.max()), 4),
            "mean": round(float(walls.mean()), 4),
        },
    }


# --- validation --------------------------------------------------------------------------------


def _tokens(df: pl.DataFrame, column: str) -> np.ndarray:
    return df[column].to_numpy()


def _one_start_one_goal(df: pl.DataFrame) -> np.ndarray:
    x = _tokens(df, "inputs")
    return ((x == START).sum(axis=1) == 1) & ((x == GOAL).sum(axis=1) == 1)


def _input_alphabet(df: pl.DataFrame) -> np.ndarray:
    x = _tokens(df, "inputs")
    return ~np.any((x == PATH) | (x == PAD), axis=1)


def _label_keeps_input(df: pl.DataFrame) -> np.ndarray:
    x, y = _tokens(df, "inputs"), _tokens(df, "labels")
    same = np.all((y == x) | ((y == PATH) & (x == FREE)), axis=1)
    return same


def _label_valid_path(df: pl.DataFrame) -> np.ndarray:
    return valid_optimal_path(_tokens(df, "inputs"), _tokens(df, "labels"))


def _path_length_consistent(df: pl.DataFrame) -> np.ndarray:
    return df["path_length"].to_numpy() == path_moves(_tokens(df, "labels"))


def _generated_rows(df: pl.DataFrame) -> np.ndarray:
    return (df["source"] == GENERATED).to_numpy()


def _min_path(min_moves: int):
    def fn(df: pl.DataFrame) -> np.ndarray:
        return ~_generated_rows(df) | (df["path_length"].to_numpy() >= min_moves)

    return fn


def _official_tie_break(df: pl.DataFrame) -> np.ndarray:
    """Generated, unaugmented rows carry exactly the official tie-break label (their images only valid)."""
    ok = np.ones(df.height, dtype=bool)
    rows = np.flatnonzero(_generated_rows(df) & (df["transform"].to_numpy() == 0))
    if rows.size:
        labels, status = label_tokens(_tokens(df, "inputs")[rows])
        ok[rows] = (status == 0) & np.all(labels == _tokens(df, "labels")[rows], axis=1)
    return ok


def schema(meta: DatasetMeta) -> pa.DataFrameSchema:
    """A maze split table: contract columns, ``path_length``/``transform``/``source``, semantic row checks."""
    min_moves = int(meta.params.get("min_path_moves", 0))
    return table_schema(
        meta,
        columns={
            "path_length": pa.Column(pl.Int32, pa.Check.gt(0)),
            "transform": pa.Column(pl.Int8, [pa.Check.ge(0), pa.Check.lt(NUM_DIHEDRAL)]),
            "source": pa.Column(pl.String),
        },
        checks=[
            row_check("input has exactly one S and one G", _one_start_one_goal),
            row_check("input has no path 'o' and no pad tokens", _input_alphabet),
            row_check(
                "label keeps the input's walls, S and G (only free cells become 'o')", _label_keeps_input
            ),
            row_check("label is a valid shortest S->G path", _label_valid_path),
            row_check("path_length equals the label's moves", _path_length_consistent),
            row_check(f"generated path_length >= min_path_moves {min_moves}", _min_path(min_moves)),
            row_check("generated label follows the official tie-break", _official_tie_break),
        ],
    )


def leakage_key(df: pl.DataFrame) -> pl.Series:
    """The canonical wall layout (least packed bitmap over the 8 dihedral images) of each row's maze."""
    x = _tokens(df, "inputs")
    size = grid_size(x.shape[1])
    keys = canonical_layouts((x == WALL).reshape(-1, size, size)) if df.height else []
    return pl.Series("leakage_key", keys, dtype=pl.Binary)
