"""Start a local server in a process group of its own, wait for its health URL, and stop the whole group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path


def start_server(cmd: list[str], env: dict, log: Path, health_url: str, timeout_s: float) -> subprocess.Popen:
    """Run ``cmd`` (its own session, so stopping it ends what it forks and nothing else) until
    ``health_url`` answers 200; raise with the log's tail if it exits or stays silent."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{Path(cmd[0]).name} exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(health_url, timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    stop_group(proc)
    raise RuntimeError(f"{Path(cmd[0]).name} did not answer {health_url} within {timeout_s} s")


def stop_group(proc: subprocess.Popen | None) -> None:
    """SIGTERM the process group, SIGKILL it after 20 s."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
