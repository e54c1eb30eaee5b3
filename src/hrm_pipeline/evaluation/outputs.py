"""Writing the evaluation's files atomically: metrics JSON (NaN as null) and CSV tables."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hrm_pipeline.atomic import atomic_write


def write_csv(df: pl.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: df.write_csv(tmp, float_precision=6))
