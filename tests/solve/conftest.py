"""Tiny untrained models of each family, with the dataset metadata that gives their board size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from helpers.model import tiny_config_for

from hrm_pipeline.data.storage import DatasetMeta
from hrm_pipeline.model import HRM
from hrm_pipeline.train.checkpoint import atomic_torch_save

REPO = Path(__file__).resolve().parents[2]
TRAINED_STEPS = 2  # halt_max_steps of the tiny models
MAZE_SIZE = 10

METAS = {
    "maze": DatasetMeta("maze", 6, MAZE_SIZE * MAZE_SIZE, 1, "test", 0),
    "arc": DatasetMeta("arc", 12, 900, 3, "test", 0),
}


def _write_model(folder: Path, meta: DatasetMeta) -> None:
    cfg = tiny_config_for(meta, TRAINED_STEPS)
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_torch_save({"model": HRM(cfg).state_dict(), "model_config": asdict(cfg)}, folder / "model.pt")
    (folder / "metadata.json").write_text(json.dumps(meta.to_json({})))


def _train_sudoku(folder: Path) -> None:
    """The real route for sudoku: a tiny generated 6x6 dataset, trained a few steps by the training loop."""
    from hrm_pipeline.data.storage import load_split, read_meta, write_dataset
    from hrm_pipeline.data.sudoku import SudokuConfig, build_tables
    from hrm_pipeline.train import TrainConfig, train

    cfg = SudokuConfig(box_rows=2, box_cols=3, train_size=16, test_size=4, num_aug=1, min_givens=8)
    cfg.max_givens, cfg.bucket_edges, cfg.bucket_shares = 20, [0, 1], [0.5, 0.5]
    write_dataset(build_tables(cfg, progress=False), folder)
    data = load_split(folder, "train")
    model_cfg = tiny_config_for(read_meta(folder), TRAINED_STEPS)
    run = TrainConfig(
        global_batch_size=8, lr=3e-3, lr_warmup_steps=1, epochs=10, max_steps=3, eval_interval=0,
        checkpoint_interval=0, log_interval=1, progress=False, num_threads=1, loss_type="softmax",
    )  # fmt: skip
    train(model_cfg, run, data, None, folder)


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    """<root>/<family>/{model.pt, metadata.json}: sudoku (6x6, generated and trained a few steps), maze
    (10x10) and ARC (untrained: the answers are checked, not expected to be right)."""
    root = tmp_path_factory.mktemp("models")
    _train_sudoku(root / "sudoku")
    for family in ("maze", "arc"):
        _write_model(root / family, METAS[family])
    return root


def _hrm(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "OMP_NUM_THREADS": "1",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [sys.executable, "-m", "hrm_pipeline.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, input=stdin, timeout=300)


@pytest.fixture(autouse=True)
def _mlflow_uri_restored():
    """`hrm solve` run in-process sets MLflow's process-wide tracking URI (and its env var): put it back so
    no later test of the same pytest process talks to this test's store."""
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    mlflow.set_tracking_uri(before)  # None unsets it


@pytest.fixture
def write_model():
    """write_model(folder, meta): a tiny untrained model.pt (and metadata.json) for a dataset's metadata."""
    return _write_model


@pytest.fixture
def hrm():
    """The `hrm` command as a user runs it (a subprocess), with telemetry off and one torch thread."""
    return _hrm


@pytest.fixture
def maze_rows() -> list[str]:
    """A walled 10x10 box with S top-left and G bottom-right inside it."""
    size = MAZE_SIZE
    inner = size - 2
    rows = ["#" * size] + ["#" + " " * inner + "#" for _ in range(inner)] + ["#" * size]
    rows[1] = "#S" + rows[1][2:]
    rows[-2] = rows[-2][:-2] + "G#"
    return rows
