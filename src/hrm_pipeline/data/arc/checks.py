"""Validation of ARC tables: the pandera schema with its semantic row checks, and the leakage key."""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import pandera.polars as pa
import polars as pl

from hrm_pipeline.data.arc.augment import NUM_DIHEDRAL
from hrm_pipeline.data.arc.encode import CANVAS, COLOUR_OFFSET, NUM_COLOURS, canvas_valid, grid_bounds
from hrm_pipeline.data.schema import row_check, table_schema
from hrm_pipeline.data.storage import DatasetMeta

CHUNK_ROWS = 65536  # rows per vectorised canvas check: bounds its (rows x 900) temporaries to ~100 MB

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)  # 64-bit FNV-1a constants
_FNV_PRIME = np.uint64(0x100000001B3)


@numba.njit(cache=True)
def _mix(h: np.uint64, v: int) -> np.uint64:
    return (h ^ np.uint64(v)) * _FNV_PRIME


@numba.njit(cache=True)
def _canonical_keys(inputs: np.ndarray, labels: np.ndarray, bounds_in: np.ndarray, bounds_out: np.ndarray):
    """Per row: the smallest hash over the 8 dihedral images of (input, output) with colours 1..9 renamed
    in order of first appearance, i.e. a key invariant to every augmentation (translation is cropped)."""
    n = inputs.shape[0]
    keys = np.empty(n, dtype=np.uint64)
    rename = np.empty(256, dtype=np.int64)  # by raw token, so a malformed canvas cannot index out of range
    for row in range(n):
        best = np.uint64(0xFFFFFFFFFFFFFFFF)
        for d in range(NUM_DIHEDRAL):
            rename[:] = -1
            for t in range(COLOUR_OFFSET + 1):
                rename[t] = t  # pad, end marker and black are never permuted
            nxt = COLOUR_OFFSET + 1
            h = _FNV_OFFSET
            for which in range(2):
                canvas = inputs[row] if which == 0 else labels[row]
                b = bounds_in[row] if which == 0 else bounds_out[row]
                r0, c0 = b[0], b[2]
                hh, ww = b[1] - b[0], b[3] - b[2]
                transposed = d >= 4
                th, tw = (ww, hh) if transposed else (hh, ww)
                h = _mix(h, th)
                h = _mix(h, tw)
                for i in range(th):
                    for j in range(tw):
                        # the 8 maps from a cell of the transformed grid back to the original
                        r, c = (j, i) if transposed else (i, j)
                        if d & 1:
                            c = ww - 1 - c
                        if d & 2:
                            r = hh - 1 - r
                        tok = canvas[(r0 + r) * CANVAS + c0 + c]
                        if rename[tok] < 0:
                            rename[tok] = nxt
                            nxt += 1
                        h = _mix(h, rename[tok])
            if h < best:
                best = h
        keys[row] = best
    return keys


@numba.njit(cache=True)
def _original_cell(k: int, r: int, c: int, h: int, w: int) -> tuple[int, int]:
    """Where cell (r, c) of an original h x w grid sits after dihedral ``k`` (augment.dihedral's ids)."""
    if k == 1:  # rot90
        return w - 1 - c, r
    if k == 2:  # rot180
        return h - 1 - r, w - 1 - c
    if k == 3:  # rot270
        return c, h - 1 - r
    if k == 4:  # flip left-right
        return r, w - 1 - c
    if k == 5:  # flip up-down
        return h - 1 - r, c
    if k == 6:  # transpose
        return c, r
    if k == 7:  # anti-transpose
        return w - 1 - c, h - 1 - r
    return r, c


@numba.njit(cache=True)
def _original_keys(inputs, labels, bounds_in, bounds_out, dihedrals, perms):
    """Per row: a hash of the original (un-augmented) input and output grids, read through the inverse
    transform without materialising them."""
    n = inputs.shape[0]
    keys = np.empty(n, dtype=np.uint64)
    inverse = np.empty(256, dtype=np.int64)
    for row in range(n):
        k = dihedrals[row]
        inverse[:] = 255  # tokens that are not colours (a malformed canvas) hash as one odd value
        for c in range(NUM_COLOURS):
            inverse[perms[row, c] + COLOUR_OFFSET] = c
        h = _FNV_OFFSET
        for which in range(2):
            canvas = inputs[row] if which == 0 else labels[row]
            b = bounds_in[row] if which == 0 else bounds_out[row]
            ah, aw = b[1] - b[0], b[3] - b[2]
            gh, gw = (aw, ah) if k in (1, 3, 6, 7) else (ah, aw)  # the original's shape
            h = _mix(h, gh)
            h = _mix(h, gw)
            for r in range(gh):
                for c in range(gw):
                    ar, ac = _original_cell(k, r, c, gh, gw)
                    h = _mix(h, inverse[canvas[(b[0] + ar) * CANVAS + b[2] + ac]])
        keys[row] = h
    return keys


def leakage_key(df: pl.DataFrame) -> pl.Series:
    """Per row, a UInt64 hash of its original (de-augmented) input/output pair.

    Every variant of a pair gets the same key, so a held-out test pair in any variant of train is caught.
    Exact pairs only: ARC itself has test pairs equal to a recoloured or rotated demonstration (of the
    same task, or another); see :func:`equivalence_key` for that stricter notion.
    """
    df = df.select("inputs", "labels", "dihedral", "colour_perm").rechunk()
    inputs = np.ascontiguousarray(df["inputs"].to_numpy(), dtype=np.uint8)
    labels = np.ascontiguousarray(df["labels"].to_numpy(), dtype=np.uint8)
    perms = np.ascontiguousarray(df["colour_perm"].to_numpy(), dtype=np.uint8)
    dihedrals = df["dihedral"].to_numpy().astype(np.int64)
    keys = _original_keys(inputs, labels, grid_bounds(inputs), grid_bounds(labels), dihedrals, perms)
    return pl.Series("leakage_key", keys, dtype=pl.UInt64)


def equivalence_key(df: pl.DataFrame) -> pl.Series:
    """Per row, a UInt64 key equal for pairs equivalent under any dihedral transform and colour permutation.

    Computed from the grids alone (no metadata). Stricter than :func:`leakage_key`: ARC-AGI-1 has 15 test
    pairs of evaluation tasks equivalent to a training pair (mostly recoloured demonstrations of the same
    task), which is ARC's design, not leakage.
    """
    df = df.select("inputs", "labels").rechunk()
    inputs = np.ascontiguousarray(df["inputs"].to_numpy(), dtype=np.uint8)
    labels = np.ascontiguousarray(df["labels"].to_numpy(), dtype=np.uint8)
    keys = _canonical_keys(inputs, labels, grid_bounds(inputs), grid_bounds(labels))
    return pl.Series("equivalence_key", keys, dtype=pl.UInt64)


def _chunked(column: str, fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[pl.DataFrame], np.ndarray]:
    def check(df: pl.DataFrame) -> np.ndarray:
        tokens = df[column].to_numpy()
        parts = [fn(tokens[i : i + CHUNK_ROWS]) for i in range(0, len(tokens), CHUNK_ROWS)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)

    return check


def _offsets_match(df: pl.DataFrame) -> np.ndarray:
    """The input and output grids both start at the row's (offset_row, offset_col)."""
    ok = np.ones(df.height, dtype=bool)
    r = df["offset_row"].to_numpy()
    c = df["offset_col"].to_numpy()
    for column in ("inputs", "labels"):
        tokens = df[column].to_numpy()
        for i in range(0, len(tokens), CHUNK_ROWS):
            b = grid_bounds(tokens[i : i + CHUNK_ROWS])
            ok[i : i + CHUNK_ROWS] &= (b[:, 0] == r[i : i + CHUNK_ROWS]) & (b[:, 2] == c[i : i + CHUNK_ROWS])
    return ok


def _perm_valid(df: pl.DataFrame) -> np.ndarray:
    perm = df["colour_perm"].to_numpy()
    return (perm[:, 0] == 0) & (np.sort(perm, axis=1) == np.arange(NUM_COLOURS)).all(axis=1)


def _identifier_matches_puzzle(df: pl.DataFrame) -> np.ndarray:
    return df["puzzle_identifier"].to_numpy().astype(np.int64) == df["puzzle_id"].to_numpy() + 1


def _puzzle_consistent(df: pl.DataFrame) -> np.ndarray:
    """Every row of a puzzle (task variant) has the same task, group, variant and transform."""
    perm_code = df["colour_perm"].to_numpy().astype(np.int64) @ (NUM_COLOURS ** np.arange(NUM_COLOURS))
    frame = df.select("puzzle_id", "group_id", "task_id", "variant", "dihedral").with_columns(
        perm_code=pl.Series(perm_code)
    )
    cols = ["group_id", "task_id", "variant", "dihedral", "perm_code"]
    same = frame.select(
        pl.all_horizontal([pl.col(c).n_unique().over("puzzle_id") == 1 for c in cols])
    ).to_series()
    return same.to_numpy()


def _variant_zero_is_identity(df: pl.DataFrame) -> np.ndarray:
    is_identity = (df["dihedral"].to_numpy() == 0) & (
        df["colour_perm"].to_numpy() == np.arange(NUM_COLOURS)
    ).all(axis=1)
    return (df["variant"].to_numpy() != 0) | is_identity


def _held_out_not_mixed(df: pl.DataFrame) -> np.ndarray:
    """A table holds either only evaluation test pairs (test split) or none (train split).

    Which one is decided by the majority, so a few stray rows are the ones reported."""
    held_out = _is_held_out(df)
    majority = held_out.mean() > 0.5 if held_out.size else False
    return held_out == majority


def _is_held_out(df: pl.DataFrame) -> np.ndarray:
    return (df["is_test"] & df["eval_task"]).to_numpy()


def _split_rule(split: str) -> pa.Check:
    if split == "train":
        return row_check("train holds no evaluation task's test pair", lambda df: ~_is_held_out(df))
    return row_check("test holds only evaluation tasks' test pairs", _is_held_out)


def schema(meta: DatasetMeta, *, split: str | None = None) -> pa.DataFrameSchema:
    """The schema of an ARC split table; ``split`` ("train"/"test") adds the strict held-out rule."""
    columns = {
        "task_id": pa.Column(pl.String),
        "source": pa.Column(pl.String),
        "eval_task": pa.Column(pl.Boolean),
        "is_test": pa.Column(pl.Boolean),
        "pair_index": pa.Column(pl.Int16, pa.Check.ge(0)),
        "variant": pa.Column(pl.Int32, pa.Check.ge(0)),
        "dihedral": pa.Column(pl.Int8, [pa.Check.ge(0), pa.Check.lt(NUM_DIHEDRAL)]),
        "colour_perm": pa.Column(pl.Array(pl.UInt8, NUM_COLOURS)),
        "offset_row": pa.Column(pl.Int8, [pa.Check.ge(0), pa.Check.lt(CANVAS)]),
        "offset_col": pa.Column(pl.Int8, [pa.Check.ge(0), pa.Check.lt(CANVAS)]),
    }
    checks = [
        row_check("inputs canvas is one grid with its end markers", _chunked("inputs", canvas_valid)),
        row_check("labels canvas is one grid with its end markers", _chunked("labels", canvas_valid)),
        row_check("grids start at (offset_row, offset_col)", _offsets_match),
        row_check("colour_perm fixes black and permutes 1..9", _perm_valid),
        row_check("puzzle_identifier == puzzle_id + 1", _identifier_matches_puzzle),
        row_check("a puzzle's rows share task, group, variant and transform", _puzzle_consistent),
        row_check("variant 0 is the identity transform", _variant_zero_is_identity),
        row_check("evaluation test pairs are never mixed with training rows", _held_out_not_mixed),
    ]
    if split is not None:
        checks.append(_split_rule(split))
    return table_schema(meta, columns=columns, checks=checks, name=f"{meta.dataset}/{split or 'split'}")
