"""A reader of a dataset folder never disturbs a writer building the next version beside it, and never reads
a half-written one (readers recover after killed writers; they must not "recover" a live one)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl

from hrm_pipeline.data.storage import (
    DatasetMeta,
    DatasetTables,
    read_meta,
    read_split,
    token_array,
    write_dataset,
)

TESTS = Path(__file__).resolve().parents[1]


def tables(value: int, rows: int = 4, seq_len: int = 6) -> DatasetTables:
    tokens = token_array(np.full((rows, seq_len), value, dtype=np.uint8), seq_len)
    ids = np.arange(rows, dtype=np.int64)
    df = pl.DataFrame(
        {"group_id": ids, "puzzle_id": ids, "example_id": ids, "inputs": tokens, "labels": tokens}
    )
    df = df.with_columns(pl.lit(0, dtype=pl.Int32).alias("puzzle_identifier"))
    return DatasetTables({"train": df, "test": df}, DatasetMeta("toy", 10, seq_len, 1, "test", value))


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from faults.test_dataset_concurrency import tables
from hrm_pipeline.data import storage
real_fsync = storage._fsync_tree
def pause(root):  # the new version is fully written beside the target, not yet swapped in
    print("built", flush=True)
    sys.stdin.readline()
    real_fsync(root)
storage._fsync_tree = pause
storage.write_dataset(tables(2), {target!r})
print("swapped", flush=True)
"""


def test_a_reader_during_a_build_reads_the_old_version_and_the_build_still_lands(tmp_path):
    target = tmp_path / "d"
    write_dataset(tables(1), target)
    code = textwrap.dedent(WRITER.format(tests=str(TESTS), target=str(target)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    writer = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert writer.stdout.readline().strip() == "built"
    # Meanwhile a reader (e.g. a training stage) opens the dataset: it gets the old version, untouched.
    assert read_meta(target).seed == 1
    assert (read_split(target, "train")["inputs"].to_numpy() == 1).all()
    out, _ = writer.communicate("go\n", timeout=60)
    assert writer.returncode == 0 and "swapped" in out
    assert read_meta(target).seed == 2
    assert (read_split(target, "train")["inputs"].to_numpy() == 2).all()
    assert [p.name for p in tmp_path.iterdir()] == ["d"]
