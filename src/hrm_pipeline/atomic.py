"""Files that appear whole or not at all: write beside the target, then rename over it.

Every report, metrics file, picture and params rewrite in the pipeline goes through here, so a kill
mid-write leaves the previous version in place and a reader never sees half a file. Checkpoints and model
files use it too, with ``fsync`` and ``keep_previous``; dataset folders are swapped whole by
``data.storage.atomic_dir``.
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


def atomic_write(
    path: str | Path,
    write: Callable[[Path], None],
    *,
    fsync: bool = False,
    keep_previous: Path | None = None,
    temp_suffix: str | None = None,
) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``.

    ``fsync``: flush the file and its folder to disk, so a power cut cannot undo the publication.
    ``keep_previous``: move the file being replaced there first (a kill between the two renames leaves the
    previous copy intact). ``temp_suffix`` defaults to ``path``'s own, for writers that pick their format from
    the name (matplotlib, Polars); a writer's leftovers after a kill are ``.<name>.*<temp_suffix>``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = temp_suffix or path.suffix or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, FILE_MODE)
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(path.parent)
    return path


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a power cut after return must not undo them)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
