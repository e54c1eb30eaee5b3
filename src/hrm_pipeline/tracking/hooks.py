"""What the train and evaluate stages call: one context manager around training, one call after evaluation."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from hrm_pipeline.atomic import write_text
from hrm_pipeline.nested import finite_numbers
from hrm_pipeline.tracking.curves import CurvesWriter
from hrm_pipeline.tracking.mlflow_run import MetricsLogger, flat_params, pending_path, read_run_id, train_run

if TYPE_CHECKING:
    from hrm_pipeline.config import Params

CHECKPOINT_NAME = (
    "checkpoint.pt"  # == hrm_pipeline.train.checkpoint.CHECKPOINT_NAME (not imported: no torch here)
)
CONFIG_NAME = "config.yaml"  # the resolved params of the run, beside its checkpoint


def curves_paths(params: Params) -> tuple[Path, Path]:
    base = Path(params.paths.reports_dir) / "train"
    return base / "curves.csv", base / "eval_curves.csv"


def run_dir(params: Params) -> Path:
    return Path(params.paths.runs_dir) / params.pipeline.dataset


@contextlib.contextmanager
def track_training(params: Params) -> Iterator[list[Any]]:
    """Yield the training callbacks (curves files + MLflow); on success log checkpoint, config and curves."""
    name = params.pipeline.dataset
    out = run_dir(params)
    config_path = _write_resolved_config(params, out / CONFIG_NAME)
    logged = {
        **flat_params(params.pipeline, "pipeline."),
        **flat_params(params.dataset_config(name), f"{name}."),
        **flat_params(params.model, "model."),
        **flat_params(params.train, "train."),
    }
    curves = CurvesWriter(*curves_paths(params))
    with train_run(
        params.tracking,
        out,
        name,
        params=logged,
        resuming=(out / CHECKPOINT_NAME).exists(),
        checkpoint_interval=params.train.checkpoint_interval,
    ) as run:
        yield [curves, run.logger]
        run.logger.log_artifact(config_path, "config")
        for path in curves.paths:
            if path.exists():
                run.logger.log_artifact(path, "curves")
        run.logger.log_artifact(out / CHECKPOINT_NAME, "checkpoint")


def log_evaluation(params: Params, metrics: dict[str, Any], files: Sequence[str | Path] = ()) -> bool:
    """Log evaluation metrics (nested dicts flattened with ".", prefix "test/") and files into the train run.

    Never fails the evaluation: with no run (training ran untracked) it says so; with the store down the
    values wait in the run folder's backlog for the register stage. Returns True when the store has them.
    """
    from hrm_pipeline.tracking.connection import MlflowClient, resolve_uri

    out = run_dir(params)
    run_id = read_run_id(out)
    if run_id is None:
        print(f"hrm: no MLflow run in {out}; evaluation not logged to MLflow", file=sys.stderr)
        return False
    uri = resolve_uri(params.tracking)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    logger = MetricsLogger(client, run_id, params.tracking, pending_path(params.tracking, run_id))
    logger.log_metrics(finite_numbers(metrics, "test/"))
    reports = Path(params.paths.reports_dir).resolve()
    for f in map(Path, files):
        parent = f.resolve().parent
        rel = parent.relative_to(reports).as_posix() if parent.is_relative_to(reports) else "eval"
        logger.log_artifact(f, rel if rel != "." else None)
    return logger.flush(force=True)


def _write_resolved_config(params: Params, path: Path) -> Path:
    return write_text(path, OmegaConf.to_yaml(OmegaConf.structured(params)))
