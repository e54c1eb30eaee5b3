"""`dvc repro` runs generate -> validate -> train in a fresh git+DVC repo and reruns only what changed."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "sudoku": {"train_size": 12, "test_size": 6, "num_aug": 1},
    "maze": {"size": 12, "min_path_moves": 14, "train_size": 6, "test_size": 4, "length_bin_edges": [],
             "length_bin_weights": [], "augment_dihedral": False},
    "arc": {"max_tasks": 2, "num_aug": 2},
    "model": {"hidden_size": 32, "num_heads": 2, "H_layers": 1, "L_layers": 1, "halt_max_steps": 2},
    "train": {"global_batch_size": 8, "max_steps": 4, "eval_interval": 2, "eval_max_examples": 8,
              "checkpoint_interval": 2, "lr_warmup_steps": 1},
}  # fmt: skip


def run(cmd: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        **{
            f"GIT_{who}_{what}": val
            for who in ("AUTHOR", "COMMITTER")
            for what, val in (("NAME", "t"), ("EMAIL", "t@t"))
        },
    }
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


@pytest.mark.slow
def test_dvc_repro_runs_the_chain_and_reruns_only_what_changed(tmp_path):
    ws = tmp_path / "project"
    ws.mkdir()
    shutil.copytree(REPO / "src", ws / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "dvc.yaml", ws / "dvc.yaml")
    params = OmegaConf.merge(OmegaConf.load(REPO / "params.yaml"), TINY)
    OmegaConf.save(params, ws / "params.yaml")
    run(["git", "init", "-q"], ws)
    run(["dvc", "init", "-q"], ws)
    run(["git", "add", "-A"], ws)
    run(["git", "commit", "-qm", "init"], ws)

    first = run(["dvc", "repro"], ws)
    for stage in ("generate@sudoku", "validate@arc", "train"):
        assert f"Running stage '{stage}'" in first
    assert (ws / "runs" / "sudoku" / "model.pt").exists()
    lock = (ws / "dvc.lock").read_text()
    assert "data/maze" in lock and "reports/validation/sudoku.json" in lock
    assert json.loads((ws / "reports/validation/maze.json").read_text())["passed"]

    again = run(["dvc", "repro"], ws)
    assert "Running stage" not in again

    params.maze.seed = 1
    OmegaConf.save(params, ws / "params.yaml")
    third = run(["dvc", "repro"], ws)
    ran = {line.split("'")[1] for line in third.splitlines() if line.startswith("Running stage")}
    assert ran == {"generate@maze", "validate@maze"}
