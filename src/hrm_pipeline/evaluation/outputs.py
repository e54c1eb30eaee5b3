"""Writing the evaluation's files atomically: metrics JSON (NaN as null) and CSV tables; flat metric names."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import polars as pl


def _atomic(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _json_safe(obj: Any) -> Any:
    """NaN (an empty bucket) -> None: JSON has no NaN, and `dvc metrics` would refuse the file."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(obj: dict[str, Any], path: Path) -> Path:
    text = json.dumps(_json_safe(obj), indent=2) + "\n"
    return _atomic(path, lambda tmp: tmp.write_text(text))


def write_csv(df: pl.DataFrame, path: Path) -> Path:
    return _atomic(path, lambda tmp: df.write_csv(tmp, float_precision=6))


def flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """{"a": {"b": 1}} -> {"a.b": 1.0}; numbers only, NaN left out (for MLflow and promotion gates)."""
    flat: dict[str, float] = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                flat[name] = float(value)
    return flat
