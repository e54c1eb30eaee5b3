"""Register a trained model as an MLflow pyfunc model, and move the ``champion`` / ``challenger`` aliases.

Aliases, not the deprecated stages: ``register`` points ``challenger`` at the new version; ``promote`` moves
``champion`` to it when the gate of :mod:`hrm_pipeline.tracking.promotion` says so, and records the version it
replaced (version tag ``previous_champion``) so ``promote --rollback`` can move ``champion`` back.
Every version is tagged with what its metrics were measured on (data fingerprint, ``eval.split``,
``eval.max_examples``, ``eval.seed``); when challenger and champion differ there, the champion is re-scored
on the challenger's test data before the gate compares them, or kept when it cannot be.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrm_pipeline.atomic import write_json
from hrm_pipeline.errors import InputError
from hrm_pipeline.nested import finite_numbers
from hrm_pipeline.tracking.connection import (
    MlflowClient,
    bounded_requests,
    connect,
    first_line,
    mlflow,
    safe_name,
)
from hrm_pipeline.tracking.hooks import run_dir
from hrm_pipeline.tracking.mlflow_run import read_run_id, sync_pending
from hrm_pipeline.tracking.promotion import (
    PROMOTE,
    RESCORE,
    SCORED_ON,
    Candidate,
    after_rescore,
    decide,
    rollback_target,
)
from hrm_pipeline.tracking.provenance import data_fingerprint, dvc_data_hash, git_commit, git_dirty

# The evaluate step as the gate needs it: params in, flat metrics out.
Evaluate = Callable[["Params"], dict[str, float]]

if TYPE_CHECKING:
    from hrm_pipeline.config import Params

CHAMPION = "champion"
CHALLENGER = "challenger"
TAG_PREVIOUS = "previous_champion"
TAG_ROLLED_BACK = "rolled_back"
METRIC_TAG_PREFIX = "metric."
MODEL_ARTIFACT = "model"  # the name of the logged model inside the run
EVAL_TAG_PREFIX = "eval."  # the evaluate settings a version's metrics were measured with


def model_name(params: Params) -> str:
    return params.registry.model_name.replace("{dataset}", params.pipeline.dataset)


def champion_uri(params: Params) -> str:
    """What `hrm solve` and users load: ``mlflow.pyfunc.load_model(champion_uri(params))``."""
    return f"models:/{model_name(params)}@{CHAMPION}"


def metrics_path(params: Params) -> Path:
    return Path(params.paths.reports_dir) / "metrics.json"


def registry_path(params: Params) -> Path:
    return Path(params.paths.reports_dir) / "registry.json"


def promotion_path(params: Params) -> Path:
    return Path(params.paths.reports_dir) / "promotion.json"


@dataclass
class Registration:
    model_name: str
    version: str
    run_id: str
    model_uri: str  # models:/<name>/<version>
    alias_uri: str  # models:/<name>@challenger
    tags: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def register(params: Params, pyfunc: Callable[[Path, Path, str], dict[str, Any]]) -> Registration:
    """Log runs/<dataset>/model.pt as a pyfunc model into its training run, register a version tagged with the
    git commit, the data hashes and the metrics, point ``challenger`` at it, write reports/registry.json.

    ``pyfunc(model_file, data_dir, work_dir)`` gives the ``mlflow.pyfunc.log_model`` arguments of the served
    model (``serving.pyfunc_kwargs``; the stage wires it in, so tracking does not import serving)."""

    name = model_name(params)
    out = run_dir(params)
    model_file = out / "model.pt"
    if not model_file.exists():
        raise InputError(f"no trained model at {model_file} (run `hrm train` first)")
    run_id = read_run_id(out)
    if run_id is None:
        raise InputError(f"{out} has no MLflow run (train it with `hrm train`, which creates one)")
    mpath = metrics_path(params)
    if not mpath.exists():
        raise InputError(f"no {mpath} (run `hrm evaluate` first: the registry records the model's metrics)")
    metrics = finite_numbers(json.loads(mpath.read_text()))
    if params.registry.gate_metric not in metrics:
        raise InputError(f"{mpath} has no {params.registry.gate_metric!r} (registry.gate_metric)")

    client, uri = connect(params.tracking)
    sync_pending(params.tracking, out)  # metrics a store outage held back belong in the run before the model
    dataset = params.pipeline.dataset
    data_dir = params.dataset_dir(dataset)
    tags = {
        "dataset": dataset,
        "git_commit": git_commit(),
        "git_dirty": str(git_dirty()).lower(),
        "dvc_data_md5": dvc_data_hash(data_dir),
        "data_fingerprint": data_fingerprint(params.validation_report(dataset)),
        "gate_metric": params.registry.gate_metric,
        **_eval_tags(params),
        **{safe_name(f"{METRIC_TAG_PREFIX}{k}"): repr(v) for k, v in metrics.items()},
    }
    with tempfile.TemporaryDirectory() as work, mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(name=MODEL_ARTIFACT, **pyfunc(model_file, data_dir, work))
    version = mlflow.register_model(info.model_uri, name, tags=tags)
    with bounded_requests(params.tracking):
        client.set_registered_model_alias(name, CHALLENGER, version.version)
    reg = Registration(
        model_name=name,
        version=str(version.version),
        run_id=run_id,
        model_uri=f"models:/{name}/{version.version}",
        alias_uri=f"models:/{name}@{CHALLENGER}",
        tags=tags,
    )
    write_json(registry_path(params), {**reg.to_json(), "tracking_uri": uri})
    return reg


def _by_alias(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception:  # no such model or alias: MLflow raises RESOURCE_DOES_NOT_EXIST
        return None


def _eval_tags(params: Params) -> dict[str, str]:
    """The evaluate settings behind reports/metrics.json (DVC reruns evaluate, then register, when they
    change); the promotion gate compares only versions scored alike."""
    cfg = params.evaluate
    return {
        f"{EVAL_TAG_PREFIX}split": cfg.split,
        f"{EVAL_TAG_PREFIX}max_examples": str(cfg.max_examples),
        f"{EVAL_TAG_PREFIX}seed": str(cfg.seed),
    }


def _scored_on(tags: dict[str, str]) -> dict[str, str]:
    found = {
        "data_fingerprint": tags.get("data_fingerprint"),
        "num_examples": tags.get(f"{METRIC_TAG_PREFIX}num_examples"),
        **{
            k: tags.get(f"{EVAL_TAG_PREFIX}{k}")
            for k in SCORED_ON
            if k not in ("data_fingerprint", "num_examples")
        },
    }
    return {k: v for k, v in found.items() if v is not None}


def _candidate(version, metric: str) -> Candidate | None:
    if version is None:
        return None
    raw = version.tags.get(safe_name(f"{METRIC_TAG_PREFIX}{metric}"))
    return Candidate(str(version.version), float(raw) if raw is not None else None, _scored_on(version.tags))


def _rescore(
    params: Params, name: str, champion: Candidate, challenger: Candidate, evaluate: Evaluate
) -> tuple[float | None, str]:
    """The champion's gate metric on the challenger's test data, measured here by the evaluate step itself
    (into a temporary folder: the workspace's reports stay the challenger's); (None, why) when impossible."""
    import dataclasses

    from hrm_pipeline.data.validate import fingerprint

    data_dir = params.dataset_dir(params.pipeline.dataset)
    here = {"data_fingerprint": fingerprint(data_dir) if data_dir.is_dir() else "absent"}
    here.update({k.removeprefix(EVAL_TAG_PREFIX): v for k, v in _eval_tags(params).items()})
    differs = [k for k, v in here.items() if challenger.scored_on.get(k) != v]
    if differs:
        return None, f"this workspace's {', '.join(differs)} is not the challenger's"
    with tempfile.TemporaryDirectory() as work:
        try:
            src = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}/{champion.version}", dst_path=work
            )
            found = sorted(Path(src).rglob("model.pt"))
            if not found:
                return None, f"v{champion.version} holds no model.pt"
            runs = Path(work) / "runs" / params.pipeline.dataset
            runs.mkdir(parents=True)
            found[0].rename(runs / "model.pt")
            paths = dataclasses.replace(
                params.paths, runs_dir=str(runs.parent), reports_dir=f"{work}/reports"
            )
            metrics = evaluate(dataclasses.replace(params, paths=paths))
        except Exception as err:  # an incompatible or unreadable champion: a human's call, said in one line
            return None, first_line(err)
    expected = challenger.scored_on.get("num_examples")
    if expected is not None and str(metrics.get("num_examples")) != expected:
        return None, f"it was scored on {metrics.get('num_examples')} examples, not {expected}"
    value = metrics.get(params.registry.gate_metric)
    if value is None:
        return None, f"its evaluation has no {params.registry.gate_metric!r}"
    return float(value), ""


def promote(
    params: Params,
    *,
    mode: str | None = None,
    rollback: bool = False,
    evaluate: Evaluate | None = None,
) -> dict[str, Any]:
    """Apply the promotion gate (or, with ``rollback``, move ``champion`` back); write reports/promotion.json.

    ``mode`` (default ``registry.mode``): ``disabled`` does nothing, ``dry-run`` decides and reports without
    moving aliases, ``enabled`` decides and moves them. ``evaluate(params) -> flat metrics`` re-scores a
    champion measured on other test data (the stage wires in the evaluate step; tracking does not import it).
    """
    cfg = params.registry
    mode = mode or cfg.mode
    name = model_name(params)
    record: dict[str, Any] = {
        "model_name": name,
        "mode": mode,
        "gate_metric": cfg.gate_metric,
        "margin": cfg.margin,
    }
    if mode == "disabled":
        record.update(action="none", reason="promotion is disabled (registry.mode)")
        write_json(promotion_path(params), record)
        return record
    act = mode == "enabled"
    client, _ = connect(params.tracking)
    with bounded_requests(params.tracking):
        champion = _by_alias(client, name, CHAMPION)
        if rollback:
            current = str(champion.version) if champion else None
            target, reason = rollback_target(current, champion.tags.get(TAG_PREVIOUS) if champion else None)
            if target is None:
                raise InputError(f"cannot roll back {name}: {reason}")
            if act:
                client.set_registered_model_alias(name, CHAMPION, target)
                client.set_model_version_tag(name, current, TAG_ROLLED_BACK, "true")
                challenger = _by_alias(client, name, CHALLENGER)
                if challenger is not None and str(challenger.version) == current:
                    # Else the next `hrm promote` would put the version just rolled back straight back.
                    client.delete_registered_model_alias(name, CHALLENGER)
            record.update(
                action="rolled-back" if act else "would-roll-back",
                reason=reason,
                champion_before=current,
                champion_after=target if act else current,
            )
        else:
            challenger = _by_alias(client, name, CHALLENGER)
            gate = dict(metric=cfg.gate_metric, margin=cfg.margin, higher_is_better=cfg.higher_is_better)
            new, old = _candidate(challenger, cfg.gate_metric), _candidate(champion, cfg.gate_metric)
            decision = decide(new, old, **gate)
            if decision.action == RESCORE:  # read-only (a temporary folder): dry-run re-scores too
                if evaluate is None:
                    rescored, why_not = None, "no evaluate step was given to re-score the champion with"
                else:
                    rescored, why_not = _rescore(params, name, old, new, evaluate)
                decision = after_rescore(decision, new, old, rescored, why_not, **gate)
            promote_now = decision.action == PROMOTE
            if promote_now and act:
                if champion is not None:
                    client.set_model_version_tag(
                        name, decision.challenger, TAG_PREVIOUS, str(champion.version)
                    )
                client.set_registered_model_alias(name, CHAMPION, decision.challenger)
            record.update(decision.to_json())
            record.update(
                action=("promoted" if act else "would-promote") if promote_now else "kept",
                champion_before=decision.champion,
                champion_after=decision.challenger if promote_now and act else decision.champion,
            )
    write_json(promotion_path(params), record)
    return record
