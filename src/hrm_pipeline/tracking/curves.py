"""Learning curves as CSV files beside the MLflow run: ``curves.csv`` (train steps) and ``eval_curves.csv``.

The files are DVC plots of the train stage. Rows are appended as training goes (the csv module, not Polars:
one small row per logged step, never a whole frame), so a killed run leaves every row it logged. A resumed run
drops the rows at and after its first new step before appending: those steps are run again (and, resume
being exact, give the same values), so each step appears once.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from hrm_pipeline.atomic import atomic_write

TRAIN_PREFIX = "train/"
EVAL_PREFIX = "eval/"


class _CurveFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: list[str] | None = None
        self.started = False

    def append(self, step: int, values: dict[str, float]) -> None:
        row = {"step": step, **{k: _fmt(v) for k, v in values.items()}}
        if not self.started:
            self._start(step, list(row))
        elif any(c not in self.header for c in row):
            # A metric can first appear later (accuracy is left out of steps where no row halted): widen the
            # header, keeping every row so far, rather than dropping the new column.
            self._rewrite(_read_rows(self.path)[0], self.header + [c for c in row if c not in self.header])
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, self.header, restval="", extrasaction="ignore").writerow(row)

    def _start(self, first_step: int, columns: list[str]) -> None:
        """Keep the rows before ``first_step``; rewrite the file atomically with all ``columns``."""
        self.started = True
        kept, header = _read_rows(self.path)
        kept = [r for r in kept if _step(r) is not None and _step(r) < first_step]
        self._rewrite(kept, header + [c for c in columns if c not in header] if header else columns)

    def _rewrite(self, kept: list[dict[str, str]], header: list[str]) -> None:
        self.header = header

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, self.header, restval="", extrasaction="ignore")
                writer.writeheader()
                writer.writerows(kept)

        atomic_write(self.path, write)


class CurvesWriter:
    """A training callback: ``train/*`` metrics to ``train_path``, ``eval/*`` metrics to ``eval_path``."""

    def __init__(self, train_path: str | Path, eval_path: str | Path) -> None:
        self.files = {TRAIN_PREFIX: _CurveFile(Path(train_path)), EVAL_PREFIX: _CurveFile(Path(eval_path))}

    @property
    def paths(self) -> list[Path]:
        return [f.path for f in self.files.values()]

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        for prefix, file in self.files.items():
            values = {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}
            if values:
                file.append(step, values)


def _read_rows(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    if not path.exists():
        return [], []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        # A row cut short by a kill has fewer fields (None for the missing ones): dropped.
        rows = [r for r in reader if None not in r.values() and None not in r]
    return rows, header


def _step(row: dict[str, str]) -> int | None:
    try:
        return int(row["step"])
    except (KeyError, ValueError):
        return None


def _fmt(value: float) -> str | float:
    return "" if isinstance(value, float) and math.isnan(value) else value
