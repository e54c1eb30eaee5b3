"""A real `mlflow server` on a free 127.0.0.1 port for tests: started, waited for, stopped (and restartable on
the same port and store, to simulate an outage)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from helpers.process import start_server, stop_group

START_TIMEOUT_S = 90  # first start migrates the SQLite schema; a loaded 2-core box needs tens of seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MlflowServer:
        env = {
            **os.environ,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # 2 processes instead of ~9
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
        }
        cmd = [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination", str(self.root / "artifacts"),
        ]  # fmt: skip
        self.proc = start_server(cmd, env, self.root / "server.log", f"{self.uri}/health", START_TIMEOUT_S)
        return self

    def stop(self) -> None:
        stop_group(self.proc)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
