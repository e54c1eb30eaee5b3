"""Files that appear whole or not at all: write beside the target, then rename over it.

Every report, metrics file, picture and params rewrite in the pipeline goes through here, so a kill
mid-write leaves the previous version in place and a reader never sees half a file. (Checkpoints have their
own writer in ``train.checkpoint``: they also fsync and carry a digest.)
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# mkstemp creates files readable by the owner only; outputs are ordinary project files.
FILE_MODE = 0o644


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _json_safe(obj: Any) -> Any:
    """Non-finite floats -> null: JSON has no NaN, and `dvc metrics` refuses files that contain one."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(_json_safe(obj), indent=2) + "\n")
