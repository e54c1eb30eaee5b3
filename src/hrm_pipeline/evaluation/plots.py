"""PNG plots of the evaluation (and the training curves) for `dvc plots`, MLflow and the HTML report.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot: no global figure state and no GUI
backend, so plotting works headless and in worker threads. Each file is written to a temporary name first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from matplotlib.figure import Figure

from hrm_pipeline.atomic import atomic_write
from hrm_pipeline.evaluation.metrics import Bucket

FIGSIZE = (6.4, 4.0)  # inches; at DPI 100 a 640 x 400 image fits a report column
DPI = 100


def _save(fig: Figure, path: Path) -> Path:
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, bbox_inches="tight"))


def _percent_axis(ax) -> None:
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.grid(alpha=0.3)


def learning_curves(curves: pl.DataFrame, eval_curves: pl.DataFrame | None, path: Path) -> Path:
    """Training loss (left) and accuracy (right) against the optimizer step.

    ``curves``: reports/train/curves.csv (training rows); ``eval_curves``: reports/train/eval_curves.csv
    (the periodic evaluations on the test split), drawn as points where present.
    """
    fig = Figure(figsize=(FIGSIZE[0] * 1.6, FIGSIZE[1]))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for col in ("loss", "lm_loss"):
        if col in curves.columns:
            _line(ax_loss, curves, col, "-", f"train {col}")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss (per example)")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    for frame, style, prefix in ((curves, "-", "train"), (eval_curves, "o--", "test")):
        if frame is None:
            continue
        for col in ("accuracy", "exact_accuracy"):
            if col in frame.columns:
                _line(ax_acc, frame, col, style, f"{prefix} {col}")
    ax_acc.set_xlabel("step")
    _percent_axis(ax_acc)
    ax_acc.legend()
    fig.suptitle("Learning curves")
    return _save(fig, path)


def _line(ax, frame: pl.DataFrame, col: str, style: str, label: str) -> None:
    """Plot ``col`` against ``step``, skipping empty cells."""
    values = frame.select("step", pl.col(col).cast(pl.Float64)).drop_nulls().drop_nans()
    if values.height:
        ax.plot(values["step"].to_numpy(), values[col].to_numpy(), style, label=label)


def scaling(rows: pl.DataFrame, path: Path, trained_steps: int) -> Path:
    """Accuracy against the segment budget (inference-time scaling); the trained budget is marked."""
    fig = Figure(figsize=FIGSIZE)
    ax = fig.subplots()
    x = rows["max_steps"].to_numpy()
    for col in [c for c in rows.columns if c.endswith(("accuracy", "_rate")) or c.startswith("pass_at_")]:
        ax.plot(x, rows[col].to_numpy(), "o-", label=col)
    ax.axvline(trained_steps, color="grey", linestyle=":", label=f"trained halt_max_steps = {trained_steps}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [str(v) for v in x])
    ax.set_xlabel("ACT segments at inference")
    _percent_axis(ax)
    ax.legend()
    ax.set_title("Inference-time scaling")
    return _save(fig, path)


def steps_histogram(hist: Sequence[tuple[int, int]], path: Path, mean_steps: float) -> Path:
    """How many segments each test puzzle used when it stops where its Q-head says halt."""
    fig = Figure(figsize=FIGSIZE)
    ax = fig.subplots()
    steps = [s for s, _ in hist]
    ax.bar(steps, [n for _, n in hist], color="tab:blue")
    ax.set_xticks(steps)
    ax.set_xlabel("ACT segments used (Q-halting)")
    ax.set_ylabel("test puzzles")
    if not math.isnan(mean_steps):
        ax.axvline(mean_steps, color="tab:red", linestyle="--", label=f"mean {mean_steps:.2f}")
        ax.legend()
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("ACT steps")
    return _save(fig, path)


def accuracy_by_bucket(
    buckets: Sequence[Bucket], path: Path, xlabel: str = "rating (solver guesses)"
) -> Path:
    """Exact accuracy per difficulty bucket, with each bucket's size written above its bar."""
    fig = Figure(figsize=FIGSIZE)
    ax = fig.subplots()
    labels = [b.label for b in buckets]
    values = [0.0 if math.isnan(b.exact_accuracy) else b.exact_accuracy for b in buckets]
    bars = ax.bar(labels, values, color="tab:green")
    for bar, b in zip(bars, buckets, strict=True):
        ax.annotate(
            f"n={b.count}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("exact accuracy")
    _percent_axis(ax)
    ax.set_title("Accuracy by difficulty")
    return _save(fig, path)
