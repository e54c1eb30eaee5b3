"""Two `dvc repro` at once on one workspace: the second refuses, naming the busy output and the process that
holds it (DVC's rwlock); the first finishes and its output is whole."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hrm_pipeline.data.storage import read_split

REPO = Path(__file__).resolve().parents[2]
# Big enough that the first stage still runs while the second repro starts (~1 s of generation alone).
TINY = {"sudoku": {"train_size": 400, "test_size": 6, "num_aug": 1}}
TIMEOUT_S = 300


def dvc(ws: Path, *args: str, **popen) -> subprocess.Popen:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(["dvc", *args], cwd=ws, env=env, text=True, **popen)


@pytest.mark.slow
def test_a_second_repro_while_one_runs_refuses_clearly_and_corrupts_nothing(tmp_path):
    ws = tmp_path
    shutil.copytree(REPO / "src", ws / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "dvc.yaml", ws / "dvc.yaml")
    OmegaConf.save(OmegaConf.merge(OmegaConf.load(REPO / "params.yaml"), TINY), ws / "params.yaml")
    assert dvc(ws, "init", "--no-scm", "-q").wait(timeout=TIMEOUT_S) == 0

    first = dvc(ws, "repro", "generate@sudoku", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    while "Running stage" not in (line := first.stdout.readline()):
        assert line, "the first repro ended before its stage started"
    second = dvc(ws, "repro", "generate@sudoku", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = second.communicate(timeout=TIMEOUT_S)
    assert second.returncode != 0
    # DVC's read/write lock on the stage's outputs names the path and the process holding it.
    assert "data/sudoku' is busy, it is being blocked by" in out and "dvc repro" in out

    rest, _ = first.communicate(timeout=TIMEOUT_S)
    assert first.returncode == 0, rest
    assert read_split(ws / "data" / "sudoku", "train").height == 400 * 2  # num_aug 1: 2 variants each
    assert "generate@sudoku" in (ws / "dvc.lock").read_text()
