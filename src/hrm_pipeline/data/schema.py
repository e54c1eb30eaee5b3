"""Pandera (Polars) schemas shared by every dataset table, and a readable failure report.

Each dataset module builds its full schema with :func:`table_schema`, adding its own columns and semantic
row checks (:func:`row_check`); :func:`validate_table` runs it lazily (all failures at once) and raises
:class:`ValidationFailed` whose message names each failing check and its first failing rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from hrm_pipeline.data.storage import DatasetMeta

REPORT_ROWS = 5  # failing rows shown per check: enough to locate the fault, short enough to read


class ValidationFailed(Exception):
    """A table broke its schema; ``str(err)`` is the human report."""

    def __init__(self, report: str, failure_cases: pl.DataFrame | None = None):
        super().__init__(report)
        self.failure_cases = failure_cases


def row_check(name: str, fn: Callable[[pl.DataFrame], np.ndarray]) -> pa.Check:
    """A table-level check from a vectorised predicate: ``fn(df)`` returns one bool per row (True = valid).

    Pandera reports the failing rows by index, which :func:`validate_table` turns into ids.
    """

    def check(data: PolarsData) -> pl.LazyFrame:
        ok = np.asarray(fn(data.lazyframe.collect()), dtype=bool)
        return pl.LazyFrame({"ok": ok})

    return pa.Check(check, name=name, error=name)


def _tokens_in_range(column: str, vocab_size: int) -> Callable[[pl.DataFrame], np.ndarray]:
    def fn(df: pl.DataFrame) -> np.ndarray:
        return df[column].to_numpy().max(axis=1, initial=0) < vocab_size

    return fn


def table_schema(
    meta: DatasetMeta,
    *,
    columns: dict[str, pa.Column] | None = None,
    checks: list[pa.Check] | None = None,
    name: str | None = None,
) -> pa.DataFrameSchema:
    """The columns every dataset table has (docs/CONTRACTS.md) plus a dataset's own columns and checks."""
    token_dtype = pl.Array(pl.UInt8, meta.seq_len)
    base = {
        "group_id": pa.Column(pl.Int64, pa.Check.ge(0)),
        "puzzle_id": pa.Column(pl.Int64, pa.Check.ge(0)),
        "example_id": pa.Column(pl.Int64, pa.Check.ge(0), unique=True),
        "puzzle_identifier": pa.Column(pl.Int32, [pa.Check.ge(0), pa.Check.lt(meta.num_puzzle_identifiers)]),
        "inputs": pa.Column(token_dtype),
        "labels": pa.Column(token_dtype),
    }
    base_checks = [
        row_check(
            f"input tokens < vocab_size {meta.vocab_size}", _tokens_in_range("inputs", meta.vocab_size)
        ),
        row_check(
            f"label tokens < vocab_size {meta.vocab_size}", _tokens_in_range("labels", meta.vocab_size)
        ),
    ]
    return pa.DataFrameSchema(
        {**base, **(columns or {})},
        checks=base_checks + list(checks or []),
        name=name or meta.dataset,
        strict=False,
    )


def validate_table(df: pl.DataFrame, schema: pa.DataFrameSchema, *, label: str) -> None:
    """Validate ``df`` against ``schema``; raise :class:`ValidationFailed` with a readable report."""
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        raise ValidationFailed(format_report(err.failure_cases, df, label=label), err.failure_cases) from None
    except pa.errors.SchemaError as err:  # raised eagerly for structural faults (missing column, wrong dtype)
        raise ValidationFailed(f"{label}: {err}") from None


def format_report(failures: pl.DataFrame, df: pl.DataFrame, *, label: str) -> str:
    """One block per failing check: how many rows fail, then the ids of the first few."""
    lines = [f"{label}: validation failed ({failures.height} failure case(s))"]
    id_cols = [c for c in ("example_id", "group_id", "puzzle_id") if c in df.columns]
    for (check, column), group in failures.group_by(["check", "column"], maintain_order=True):
        where = f" [column {column}]" if column in df.columns else ""
        indices = [i for i in group["index"].to_list() if i is not None]
        lines.append(f"  - {check}{where}: {len(group)} failing")
        if indices:
            rows = df[indices[:REPORT_ROWS]].select(id_cols)
            for i, row in zip(indices[:REPORT_ROWS], rows.iter_rows(named=True), strict=True):
                ids = ", ".join(f"{k}={v}" for k, v in row.items())
                lines.append(f"      row {i}: {ids}")
        else:
            cases = group["failure_case"].head(REPORT_ROWS).to_list()
            lines.append(f"      {cases}")
    return "\n".join(lines)
