"""Dataset folders are swapped in whole: a failed or killed write leaves the previous version readable."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest

from hrm_pipeline.data.storage import (
    DatasetMeta,
    DatasetTables,
    load_split,
    read_split,
    recover,
    token_array,
    write_dataset,
)


def _tables(value: int, rows: int = 4, seq_len: int = 6) -> DatasetTables:
    tokens = np.full((rows, seq_len), value, dtype=np.uint8)
    df = pl.DataFrame(
        {
            "group_id": np.arange(rows, dtype=np.int64),
            "puzzle_id": np.arange(rows, dtype=np.int64),
            "example_id": np.arange(rows, dtype=np.int64),
            "puzzle_identifier": pl.Series(np.zeros(rows), dtype=pl.Int32),
            "inputs": token_array(tokens, seq_len),
            "labels": token_array(tokens, seq_len),
        }
    )
    return DatasetTables({"train": df, "test": df}, DatasetMeta("toy", 10, seq_len, 1, "test", 0))


def test_write_is_byte_reproducible(tmp_path):
    write_dataset(_tables(3), tmp_path / "a")
    write_dataset(_tables(3), tmp_path / "b")
    for name in ("train.parquet", "test.parquet", "metadata.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_roundtrip_gives_token_arrays(tmp_path):
    write_dataset(_tables(7), tmp_path / "d")
    data = load_split(tmp_path / "d", "train")
    assert data.inputs.shape == (4, 6) and data.inputs.dtype == np.uint8
    assert (data.labels == 7).all() and data.vocab_size == 10


def test_failed_build_leaves_previous_version(tmp_path):
    target = tmp_path / "d"
    write_dataset(_tables(1), target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    bad = _tables(2)
    bad.splits["test"] = None  # write_parquet on None fails mid-build, after train was written
    with pytest.raises(AttributeError):
        write_dataset(bad, target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp folders left behind"


def test_interrupted_swap_is_recovered_on_read(tmp_path):
    target = tmp_path / "d"
    write_dataset(_tables(5), target)
    os.replace(target, tmp_path / ".d.old")  # killed between the two renames of the swap
    assert (read_split(target, "train")["inputs"].to_numpy() == 5).all()
    recover(target)
    assert target.exists() and not (tmp_path / ".d.old").exists()


def test_kill_during_write_keeps_previous_version(tmp_path):
    target = tmp_path / "d"
    write_dataset(_tables(1), target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    # A child process writes a large new version and is SIGKILLed while it is at it.
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(os.path.dirname(__file__))!r})
        from test_storage import _tables
        from hrm_pipeline.data import storage
        orig = storage._fsync_tree
        def slow(root):
            print("writing", flush=True); time.sleep(30)
        storage._fsync_tree = slow
        storage.write_dataset(_tables(9, rows=20000, seq_len=81), {str(target)!r})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    write_dataset(_tables(4), target)  # the next build cleans the stale temp folder
    assert [p.name for p in tmp_path.iterdir()] == ["d"]
