"""Kill -9 during `hrm generate` and `hrm validate`: the previous dataset version stays intact and validated,
a finished new one is complete but not yet trusted, and no half-written Parquet is ever read."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from hrm_pipeline import stages
from hrm_pipeline.config import load_params
from hrm_pipeline.data.schema import ValidationFailed
from hrm_pipeline.data.storage import read_meta, read_split
from hrm_pipeline.data.validate import fingerprint, validate_dataset

REPO = Path(__file__).resolve().parents[2]
TINY = ["sudoku.train_size=12", "sudoku.test_size=6", "sudoku.num_aug=1"]
GENERATE_KILLS = 2
POLL_S = 0.001
TIMEOUT_S = 120


def hrm(ws: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    sets = [a for o in TINY for a in ("-S", o)]
    cmd = [sys.executable, "-m", "hrm_pipeline.cli", *args, *sets]
    return subprocess.Popen(
        cmd, cwd=ws, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def kill_when_writing(proc: subprocess.Popen, data: Path, rng: random.Random) -> bool:
    """SIGKILL a generate once its new version is being written beside data/sudoku (+ a random few ms).

    False when it finished first (the new version then landed whole)."""
    deadline = time.monotonic() + TIMEOUT_S
    while not any(data.glob(".sudoku.new-*")):
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline
        time.sleep(POLL_S)
    time.sleep(rng.uniform(0.0, 0.005))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=TIMEOUT_S)
    return proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_kills_during_generate_and_validate_lose_nothing(tmp_path, monkeypatch):
    ws = tmp_path
    (ws / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(ws)
    params = load_params("params.yaml", TINY)
    stages.generate(params, "sudoku", progress=False)
    stages.validate(params, "sudoku")
    data = ws / "data"
    old_fp = fingerprint(data / "sudoku")

    rng = random.Random(7)
    kills = new_versions = 0
    for _ in range(GENERATE_KILLS):
        proc = hrm(ws, "generate", "sudoku", "--no-progress", "-S", "sudoku.seed=1")
        killed = kill_when_writing(proc, data, rng)
        kills += killed
        meta = read_meta(data / "sudoku")  # a reader recovers whatever the kill left
        for split in ("train", "test"):
            assert read_split(data / "sudoku", split).height > 0  # whole Parquet, never a torn one
        assert sorted(p.name for p in data.iterdir()) == ["sudoku"]
        if fingerprint(data / "sudoku") == old_fp:
            assert meta.seed == 0
            stages.require_validated(params, "sudoku")  # the old version is still the validated one
        else:
            assert not killed and meta.seed == 1  # a finished build: complete, but not validated yet
            new_versions += 1
            validate_dataset("sudoku", data / "sudoku")
            with pytest.raises(ValidationFailed, match="changed since it was validated"):
                stages.require_validated(params, "sudoku")
    assert kills >= 1

    # A kill during validation leaves either no report or a whole one that vouches only for its data.
    report = params.validation_report("sudoku")
    before = report.read_bytes()
    proc = hrm(ws, "validate", "sudoku")
    time.sleep(rng.uniform(0.5, 3.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=TIMEOUT_S)
    body = json.loads(report.read_text())
    assert report.read_bytes() == before or body["fingerprint"] == fingerprint(data / "sudoku")
    if body["fingerprint"] == fingerprint(data / "sudoku"):
        stages.require_validated(params, "sudoku")
    pl.read_parquet(data / "sudoku" / "train.parquet")
    print(f"generate kills: {kills}, finished before the kill: {new_versions}")
