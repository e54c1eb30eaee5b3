"""Writing the evaluation's files atomically: metrics JSON (NaN as null) and CSV tables; flat metric names."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from hrm_pipeline.atomic import atomic_write


def write_csv(df: pl.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: df.write_csv(tmp, float_precision=6))


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
