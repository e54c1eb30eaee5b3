"""Dataset tables on disk: one Parquet file per split plus ``metadata.json``, written atomically.

A dataset folder is always built beside its target and swapped in whole, so a reader (or a killed
stage) never sees a mix of two versions. See docs/CONTRACTS.md for the column contract.

Readers tidy up after killed writers (:func:`recover`), so they must tell a dead writer's leftovers from a
live writer's work: a build folder carries its writer's pid and is only removed once that process is gone,
and the two renames of a swap run under an exclusive ``flock`` on the parent folder, which ``recover`` takes
too, so it never mistakes a swap in progress for an interrupted one.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

SPLITS = ("train", "test")
ID_COLUMNS = ("group_id", "puzzle_id", "example_id", "puzzle_identifier")
TOKEN_COLUMNS = ("inputs", "labels")
PAD_ID = 0
IGNORE_LABEL_ID = 0
BLANK_IDENTIFIER_ID = 0


@dataclass
class DatasetMeta:
    dataset: str
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    generator_version: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self, splits: dict[str, pl.DataFrame]) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "generator_version": self.generator_version,
            "seed": self.seed,
            "vocab_size": self.vocab_size,
            "seq_len": self.seq_len,
            "pad_id": PAD_ID,
            "ignore_label_id": IGNORE_LABEL_ID,
            "blank_identifier_id": BLANK_IDENTIFIER_ID,
            "num_puzzle_identifiers": self.num_puzzle_identifiers,
            "splits": {
                name: {
                    "rows": df.height,
                    "groups": df["group_id"].n_unique(),
                    "puzzles": df["puzzle_id"].n_unique(),
                }
                for name, df in splits.items()
            },
            "params": self.params,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DatasetMeta:
        return cls(
            dataset=obj["dataset"],
            vocab_size=obj["vocab_size"],
            seq_len=obj["seq_len"],
            num_puzzle_identifiers=obj["num_puzzle_identifiers"],
            generator_version=obj["generator_version"],
            seed=obj["seed"],
            params=obj.get("params", {}),
            extra=obj.get("extra", {}),
        )


@dataclass
class DatasetTables:
    """What a dataset builder returns: one DataFrame per split and the metadata."""

    splits: dict[str, pl.DataFrame]
    meta: DatasetMeta


@dataclass
class TokenDataset:
    """A split as arrays, ready for batching (see docs/CONTRACTS.md)."""

    inputs: np.ndarray  # (N, seq_len)
    labels: np.ndarray  # (N, seq_len)
    puzzle_identifiers: np.ndarray  # (N,)
    group_ids: np.ndarray  # (N,)
    puzzle_ids: np.ndarray  # (N,)
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def token_array(rows: np.ndarray, seq_len: int) -> pl.Series:
    """A (N, seq_len) uint8 matrix as a fixed-width Polars Array column."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    if rows.ndim != 2 or rows.shape[1] != seq_len:
        raise ValueError(f"token matrix must be (N, {seq_len}), got {rows.shape}")
    return pl.Series(values=rows, dtype=pl.Array(pl.UInt8, seq_len))


def to_token_dataset(df: pl.DataFrame, meta: DatasetMeta) -> TokenDataset:
    df = df.rechunk()  # zero-copy to numpy only on a single chunk
    return TokenDataset(
        inputs=df["inputs"].to_numpy(),
        labels=df["labels"].to_numpy(),
        puzzle_identifiers=df["puzzle_identifier"].to_numpy().astype(np.int64),
        group_ids=df["group_id"].to_numpy(),
        puzzle_ids=df["puzzle_id"].to_numpy(),
        vocab_size=meta.vocab_size,
        seq_len=meta.seq_len,
        num_puzzle_identifiers=meta.num_puzzle_identifiers,
    )


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty folder beside ``target``; on success it replaces ``target`` whole.

    On any exception the half-built folder is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-{os.getpid()}-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a dataset folder is ordinary data
    try:
        yield tmp
        _fsync_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.old"
    with _swap_lock(target.parent):
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _swap_lock(folder: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``folder`` for the microseconds of a swap (released if the holder dies)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _writer_alive(build_dir: Path) -> bool:
    pid = build_dir.name.rsplit(".new-", 1)[-1].split("-", 1)[0]
    if not pid.isdigit():
        return False  # an older naming scheme: no live writer can own it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True


def recover(target: Path) -> None:
    """Finish or undo a swap that a kill interrupted between its two renames; drop dead writers' folders."""
    target = Path(target)
    if not target.parent.is_dir():
        return
    old = target.parent / f".{target.name}.old"
    with _swap_lock(target.parent):
        if old.exists():
            if target.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(old, target)
    for stale in target.parent.glob(f".{target.name}.new-*"):
        if not _writer_alive(stale):
            shutil.rmtree(stale, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def write_dataset(tables: DatasetTables, out_dir: Path) -> None:
    """Write every split and ``metadata.json`` into ``out_dir`` atomically."""
    with atomic_dir(Path(out_dir)) as tmp:
        for name, df in tables.splits.items():
            # Statistics off and one row group per file: byte-reproducible output for a given seed.
            df.write_parquet(tmp / f"{name}.parquet", compression="zstd", statistics=False)
        (tmp / "metadata.json").write_text(json.dumps(tables.meta.to_json(tables.splits), indent=2) + "\n")


def read_meta(data_dir: Path) -> DatasetMeta:
    data_dir = Path(data_dir)
    recover(data_dir)
    path = data_dir / "metadata.json"
    if not path.exists():
        raise FileNotFoundError(f"no dataset at {data_dir} (missing metadata.json); run `hrm generate` first")
    return DatasetMeta.from_json(json.loads(path.read_text()))


def read_split(data_dir: Path, split: str) -> pl.DataFrame:
    data_dir = Path(data_dir)
    recover(data_dir)
    path = data_dir / f"{split}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"no split {split!r} in {data_dir}")
    return pl.read_parquet(path)


def load_split(data_dir: Path, split: str) -> TokenDataset:
    return to_token_dataset(read_split(data_dir, split), read_meta(data_dir))
