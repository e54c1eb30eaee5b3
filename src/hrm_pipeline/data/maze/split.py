"""A maze split in memory (generated or imported) and the readers for the official files.

Two official layouts are read:
- the reference builder's npy folder: ``<set>__inputs.npy``, ``<set>__labels.npy`` (tokens 1..5), optional
  ``<set>__puzzle_indices.npy`` / ``<set>__group_indices.npy`` and ``dataset.json`` naming the sets;
- the dataset's CSV: ``source,question,answer,rating`` with ``size*size``-character strings over ``# SGo``.
Imports are taken as they are (their labels need only be valid shortest paths, not our tie-break).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from hrm_pipeline.data.maze.grid import WALL, canonical_layouts, encode, grid_size

IMPORTED = "import"  # `source` of imported rows whose file names none


@dataclass
class MazeSplit:
    inputs: np.ndarray  # (N, L) uint8 tokens
    labels: np.ndarray  # (N, L) uint8 tokens
    group_ids: np.ndarray  # (N,) int64, the original maze
    puzzle_ids: np.ndarray  # (N,) int64, the variant (one row per variant)
    keys: list[bytes]  # (N,) canonical wall layout of each row
    source: np.ndarray  # (N,) object, where the row came from
    transform: np.ndarray | None = None  # (N,) int8 dihedral id applied to the original; None = all identity
    layouts_screened: int = 0  # random layouts drawn to generate it (0 for imports)

    def drop_groups(self, taken: set[bytes]) -> tuple[MazeSplit, int]:
        """Drop groups whose layout is in ``taken`` or repeats an earlier group; renumber ids from 0."""
        first = np.unique(self.group_ids, return_index=True)[1]
        seen = set(taken)
        keep_groups = []
        for row in np.sort(first):
            key = self.keys[row]
            if key not in seen:
                seen.add(key)
                keep_groups.append(self.group_ids[row])
        keep = np.isin(self.group_ids, keep_groups)
        dropped = first.size - len(keep_groups)
        if not dropped:
            return self, 0
        rows = np.flatnonzero(keep)
        return (
            replace(
                self,
                inputs=self.inputs[rows],
                labels=self.labels[rows],
                group_ids=_renumber(self.group_ids[rows]),
                puzzle_ids=_renumber(self.puzzle_ids[rows]),
                keys=[self.keys[i] for i in rows],
                source=self.source[rows],
                transform=None if self.transform is None else self.transform[rows],
            ),
            dropped,
        )


def _renumber(ids: np.ndarray) -> np.ndarray:
    """Consecutive ids from 0 in order of first appearance."""
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse]


def _keys(inputs: np.ndarray) -> list[bytes]:
    size = grid_size(inputs.shape[1])
    return canonical_layouts((inputs == WALL).reshape(-1, size, size))


def load_import(path: str | Path) -> MazeSplit:
    """Read one split from an npy folder or a CSV file (optionally gzipped)."""
    path = Path(path)
    if path.is_dir():
        return load_npy_folder(path)
    if path.is_file():
        return load_csv(path)
    raise FileNotFoundError(f"maze import {path} does not exist (expected an npy folder or a CSV file)")


def load_npy_folder(folder: Path) -> MazeSplit:
    meta_path = folder / "dataset.json"
    sets = json.loads(meta_path.read_text()).get("sets", ["all"]) if meta_path.exists() else ["all"]
    inputs, labels, groups, puzzles = [], [], [], []
    group_base = puzzle_base = 0
    for name in sets:
        x = np.load(folder / f"{name}__inputs.npy")
        y = np.load(folder / f"{name}__labels.npy")
        if x.shape != y.shape or x.ndim != 2:
            raise ValueError(f"{folder}/{name}: inputs {x.shape} and labels {y.shape} must be equal (N, L)")
        puzzle_of_row, group_of_row = _npy_ids(folder, name, x.shape[0])
        inputs.append(x)
        labels.append(y)
        puzzles.append(puzzle_of_row + puzzle_base)
        groups.append(group_of_row + group_base)
        puzzle_base += int(puzzle_of_row.max(initial=-1)) + 1
        group_base += int(group_of_row.max(initial=-1)) + 1
    x = np.ascontiguousarray(np.concatenate(inputs), dtype=np.uint8)
    return MazeSplit(
        inputs=x,
        labels=np.ascontiguousarray(np.concatenate(labels), dtype=np.uint8),
        group_ids=np.concatenate(groups).astype(np.int64),
        puzzle_ids=np.concatenate(puzzles).astype(np.int64),
        keys=_keys(x),
        source=np.full(x.shape[0], IMPORTED, dtype=object),
    )


def _npy_ids(folder: Path, name: str, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row puzzle and group ids from the builder's index arrays (boundaries with a leading 0)."""
    p_path, g_path = folder / f"{name}__puzzle_indices.npy", folder / f"{name}__group_indices.npy"
    if not (p_path.exists() and g_path.exists()):
        ids = np.arange(n_rows, dtype=np.int64)
        return ids, ids.copy()
    puzzle_bounds, group_bounds = np.load(p_path), np.load(g_path)
    if puzzle_bounds[-1] != n_rows:
        raise ValueError(f"{p_path} ends at {puzzle_bounds[-1]}, but there are {n_rows} rows")
    puzzle_of_row = np.repeat(np.arange(puzzle_bounds.size - 1), np.diff(puzzle_bounds))
    group_of_puzzle = np.repeat(np.arange(group_bounds.size - 1), np.diff(group_bounds))
    return puzzle_of_row, group_of_puzzle[puzzle_of_row]


def load_csv(path: Path) -> MazeSplit:
    df = pl.read_csv(path, infer_schema=False)  # all strings: a maze row starting with '#' stays text
    missing = {"question", "answer"} - set(df.columns)
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {sorted(missing)}; expected source,question,answer,rating"
        )
    x, y = encode(df["question"].to_list()), encode(df["answer"].to_list())
    if x.shape != y.shape:
        raise ValueError(f"{path}: question and answer lengths differ ({x.shape[1]} vs {y.shape[1]})")
    grid_size(x.shape[1])
    if "source" in df.columns:
        source = np.asarray([s or IMPORTED for s in df["source"].fill_null("").to_list()], dtype=object)
    else:
        source = np.full(x.shape[0], IMPORTED, dtype=object)
    ids = np.arange(x.shape[0], dtype=np.int64)
    return MazeSplit(inputs=x, labels=y, group_ids=ids, puzzle_ids=ids.copy(), keys=_keys(x), source=source)
