"""The `hrm` command as a user drives it: subprocesses, exit codes, one-line causes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "-S", "sudoku.train_size=12", "-S", "sudoku.test_size=6", "-S", "sudoku.num_aug=1",
    "-S", "maze.size=12", "-S", "maze.min_path_moves=14", "-S", "maze.train_size=6", "-S", "maze.test_size=4",
    "-S", "maze.length_bin_edges=[]", "-S", "maze.length_bin_weights=[]", "-S", "maze.augment_dihedral=false",
    "-S", "arc.max_tasks=2", "-S", "arc.num_aug=2",
]  # fmt: skip


def hrm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "hrm_pipeline.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_help_and_version(tmp_path):
    out = hrm("--help", cwd=tmp_path)
    assert out.returncode == 0 and "generate" in out.stdout and "validate" in out.stdout
    assert hrm("--version", cwd=tmp_path).stdout.startswith("hrm-pipeline ")
    gen_help = hrm("generate", "--help", cwd=tmp_path).stdout
    assert "-S KEY=VALUE" in gen_help or "--set" in gen_help


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    (ws / "params.yaml").write_text((REPO / "params.yaml").read_text())
    return ws


@pytest.mark.parametrize("dataset", ["sudoku", "maze", "arc"])
def test_generate_then_validate_each_dataset(workspace, dataset):
    gen = hrm("generate", dataset, "--no-progress", *TINY, cwd=workspace)
    assert gen.returncode == 0, gen.stderr
    meta = json.loads((workspace / "data" / dataset / "metadata.json").read_text())
    assert meta["dataset"] == dataset and meta["splits"]["train"]["rows"] > 0
    val = hrm("validate", dataset, *TINY, cwd=workspace)
    assert val.returncode == 0, val.stderr
    report = json.loads((workspace / "reports" / "validation" / f"{dataset}.json").read_text())
    assert report["passed"] and report["rows"]["test"] == meta["splits"]["test"]["rows"]


def test_corrupted_table_fails_validation_with_report_and_blocks_training(workspace):
    hrm("generate", "sudoku", "--no-progress", *TINY, cwd=workspace)
    path = workspace / "data" / "sudoku" / "train.parquet"
    df = pl.read_parquet(path)
    labels = df["labels"].to_numpy().copy()
    labels[2, 0] = 2 if labels[2, 0] != 2 else 3  # one wrong digit in row 2's answer
    df.with_columns(pl.Series("labels", labels, dtype=df["labels"].dtype)).write_parquet(path)

    val = hrm("validate", "sudoku", *TINY, cwd=workspace)
    assert val.returncode == 1
    assert "labels are a complete valid grid" in val.stderr and "row 2: example_id=" in val.stderr
    assert not (workspace / "reports" / "validation" / "sudoku.json").exists()

    train = hrm("train", "--no-progress", *TINY, cwd=workspace)
    assert train.returncode == 1 and "has not passed validation" in train.stderr
    assert "Traceback" not in train.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["generate", "sudoku", "-S", "sudoku.nope=1"], "unknown key 'sudoku.nope'"),
        (["validate", "maze", "-S", "paths.data_dir=/nonexistent"], "no dataset at"),
        (["generate", "arc", "-S", "arc.version=arc9"], "arc"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(workspace, args, needle):
    out = hrm(*args, cwd=workspace)
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_generation_is_byte_reproducible(tmp_path):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    for run in ("a", "b"):
        out = hrm("generate", "maze", "--no-progress", *TINY, "-S", f"paths.data_dir={run}", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    for name in ("train.parquet", "test.parquet", "metadata.json"):
        assert (tmp_path / "a/maze" / name).read_bytes() == (tmp_path / "b/maze" / name).read_bytes()
    assert np.array_equal(
        pl.read_parquet(tmp_path / "a/maze/train.parquet")["inputs"].to_numpy(),
        pl.read_parquet(tmp_path / "b/maze/train.parquet")["inputs"].to_numpy(),
    )
