"""Where a model came from: the git commit of the code and the DVC hash of the data it was trained on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

UNKNOWN = "unknown"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str:
    return _git("rev-parse", "HEAD") or UNKNOWN


def git_dirty() -> bool:
    """Uncommitted changes to tracked files (dvc.lock rewritten by the running `dvc repro` counts)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return bool(status)


def dvc_data_hash(data_dir: str | Path, lock_path: str | Path = "dvc.lock") -> str:
    """The md5 DVC recorded for ``data_dir`` in ``dvc.lock`` (any stage that has it as out or dep)."""
    lock = Path(lock_path)
    if not lock.exists():
        return UNKNOWN
    target = Path(data_dir).as_posix().rstrip("/")
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    for stage in stages.values():
        for entry in [*stage.get("outs", []), *stage.get("deps", [])]:
            if entry.get("path", "").rstrip("/") == target and "md5" in entry:
                return str(entry["md5"])
    return UNKNOWN


def data_fingerprint(validation_report: str | Path) -> str:
    """The fingerprint `hrm validate` recorded: present even when the pipeline runs without DVC."""
    path = Path(validation_report)
    if not path.exists():
        return UNKNOWN
    return str(json.loads(path.read_text()).get("fingerprint", UNKNOWN))
