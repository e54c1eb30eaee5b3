"""One adapter per pipeline step: read the config, call the work, write the files.

DVC stage commands (``hrm generate ...`` in dvc.yaml) and Prefect tasks both call these functions; neither
re-implements them. ``train`` .. ``promote`` work on the family ``pipeline.dataset``; their callers hand
them that family's view of the params (:meth:`Params.for_family`: its overrides merged, reports in
``reports/<family>``), as ``hrm train maze`` and the stage ``train@maze`` do.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from pathlib import Path

from hrm_pipeline.atomic import write_json
from hrm_pipeline.config import Params
from hrm_pipeline.data.catalog import dataset_module
from hrm_pipeline.data.schema import ValidationFailed
from hrm_pipeline.data.storage import load_split, read_meta, write_dataset
from hrm_pipeline.data.validate import ValidationReport, fingerprint, validate_dataset


def generate(params: Params, name: str, *, progress: bool = True) -> Path:
    """Build dataset ``name`` from its params section and swap it into ``data/<name>`` atomically."""
    tables = dataset_module(name).build_tables(params.dataset_config(name), progress=progress)
    out = params.dataset_dir(name)
    write_dataset(tables, out)
    return out


def validate(params: Params, name: str) -> ValidationReport:
    """Validate ``data/<name>``; on success write its report (with the data fingerprint), else raise."""
    report_path = params.validation_report(name)
    try:
        report = validate_dataset(name, params.dataset_dir(name))
    except ValidationFailed:
        report_path.unlink(missing_ok=True)  # a stale "passed" report must not outlive bad data
        raise
    write_json(report_path, report.to_json())
    return report


def require_validated(params: Params, name: str) -> None:
    """Refuse data that has not passed validation in its current bytes."""
    report_path = params.validation_report(name)
    hint = f"run `hrm validate {name}`"
    if not report_path.exists():
        raise ValidationFailed(f"dataset {name!r} has not passed validation ({hint})")
    report = json.loads(report_path.read_text())
    if not report.get("passed") or report.get("fingerprint") != fingerprint(params.dataset_dir(name)):
        raise ValidationFailed(f"dataset {name!r} changed since it was validated ({hint})")


def train(params: Params, *, progress: bool = True):
    """Train on the validated tables of ``pipeline.dataset``; outputs go to ``runs/<dataset>``, curves to
    ``<reports_dir>/train``, params/metrics/artifacts to the run's MLflow run (reopened on resume)."""
    from hrm_pipeline.tracking.hooks import track_training
    from hrm_pipeline.train import launch
    from hrm_pipeline.train import train as run_training

    name = params.pipeline.dataset
    require_validated(params, name)
    if params.train.nproc_per_node > 1 and not launch.in_worker():  # this stage again, under torchrun
        nproc, device = params.train.nproc_per_node, params.train.device
        return launch.relaunch_stage("train", params, nproc, device, progress=progress)
    data_dir = params.dataset_dir(name)
    meta = read_meta(data_dir)
    model_cfg = params.model_config(
        vocab_size=meta.vocab_size, seq_len=meta.seq_len, num_puzzle_identifiers=meta.num_puzzle_identifiers
    )
    train_cfg = params.train
    if not progress:
        train_cfg = type(train_cfg)(**{**asdict(train_cfg), "progress": False})
    train_data, test_data = load_split(data_dir, "train"), load_split(data_dir, "test")
    # Rank 0 alone tracks (MLflow run, curves, resolved config); every rank trains.
    tracking = track_training(params) if launch.is_main_rank() else contextlib.nullcontext([])
    with tracking as callbacks:
        out_dir = Path(params.paths.runs_dir) / name
        return run_training(model_cfg, train_cfg, train_data, test_data, out_dir, callbacks=callbacks)


def evaluate(params: Params, *, progress: bool = True):
    """Score runs/<dataset>/model.pt on the validated test split: <reports_dir>/metrics.json and /eval."""
    from hrm_pipeline.evaluation.run import run_evaluation
    from hrm_pipeline.tracking.hooks import log_evaluation

    require_validated(params, params.pipeline.dataset)
    result = run_evaluation(params, progress=progress)
    log_evaluation(params, result.metrics, result.files)  # into the train stage's MLflow run
    return result


def register(params: Params):
    """Register runs/<dataset>/model.pt in MLflow (alias ``challenger``); writes registry.json."""
    from hrm_pipeline.serving import pyfunc_kwargs
    from hrm_pipeline.tracking.registry import register as register_model

    return register_model(params, pyfunc_kwargs)


def promote(params: Params, *, mode: str | None = None, rollback: bool = False) -> dict:
    """Move alias ``champion`` by the promotion gate (or back, on rollback); writes promotion.json."""
    from hrm_pipeline.evaluation.run import run_evaluation
    from hrm_pipeline.tracking.registry import promote as promote_model

    def rescore(view: Params) -> dict[str, float]:
        return run_evaluation(view, progress=False).metrics

    return promote_model(params, mode=mode, rollback=rollback, evaluate=rescore)
