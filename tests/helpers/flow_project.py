"""For the flow tests: a throwaway git+DVC project with tiny params (a user's clone in miniature) and a real
Prefect server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from helpers.process import start_server, stop_group

REPO = Path(__file__).resolve().parents[2]
TINY = {
    "sudoku": {"train_size": 12, "test_size": 6, "num_aug": 1},
    "maze": {"size": 12, "min_path_moves": 14, "train_size": 6, "test_size": 4, "length_bin_edges": [],
             "length_bin_weights": [], "augment_dihedral": False},
    "arc": {"max_tasks": 2, "num_aug": 2},
    "model": {"hidden_size": 32, "num_heads": 2, "H_layers": 1, "L_layers": 1, "halt_max_steps": 2},
    "train": {"global_batch_size": 8, "max_steps": 4, "eval_interval": 2, "eval_max_examples": 8,
              "checkpoint_interval": 2, "lr_warmup_steps": 1},
    # The maze family's CPU overrides (2000 steps) would win over the tiny train section: tiny them too.
    "families": {"maze": {"train": {"max_steps": 4, "eval_interval": 2, "checkpoint_interval": 2}}},
}  # fmt: skip


def env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "DO_NOT_TRACK": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "OMP_NUM_THREADS": "1",
        **{f"GIT_{w}_{k}": v for w in ("AUTHOR", "COMMITTER") for k, v in (("NAME", "t"), ("EMAIL", "t@t"))},
        **extra,
    }


def run(cmd: list[str], cwd: Path, timeout: float = 300, **extra: str) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env(**extra), capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


def make_project(root: Path, extra_params: dict | None = None) -> Path:
    """A committed git+DVC project (src, flows, dvc.yaml, prefect.yaml, tiny params) with a folder remote."""
    ws = root / "project"
    ws.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("src", "flows"):
        shutil.copytree(REPO / folder, ws / folder, ignore=ignore)
    shutil.copytree(REPO / "scripts", ws / "scripts")
    for name in ("dvc.yaml", "prefect.yaml", ".dvcignore"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, ws / name)
    params = OmegaConf.merge(OmegaConf.load(REPO / "params.yaml"), TINY, extra_params or {})
    OmegaConf.save(params, ws / "params.yaml")
    (ws / ".gitignore").write_text("/.prefect/\n/mlflow/\n/mlruns/\n/mlflow.db\n/runs/\n")
    run(["git", "init", "-q"], ws)
    run(["dvc", "init", "-q"], ws)
    run(["dvc", "remote", "add", "-d", "store", str(root / "remote")], ws)
    run(["git", "add", "-A"], ws)
    run(["git", "commit", "-qm", "init"], ws)
    return ws


START_TIMEOUT_S = 120  # a loaded 2-core box takes 15-30 s to start the server and migrate its SQLite store


class PrefectServer:
    """A real `prefect server start` on a free 127.0.0.1 port with its own PREFECT_HOME; stop() ends it."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": f"http://127.0.0.1:{self.port}/api",
            "HRM_PREFECT_PORT": str(self.port),
        }

    def start(self) -> PrefectServer:
        cmd = [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
               "--port", str(self.port)]  # fmt: skip
        server_env = env(PREFECT_HOME=str(self.home), PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2")
        server_env.pop("PREFECT_API_URL", None)
        health = f"http://127.0.0.1:{self.port}/api/health"
        self.proc = start_server(cmd, server_env, self.home / "server.log", health, START_TIMEOUT_S)
        return self

    def stop(self) -> None:
        stop_group(self.proc)
