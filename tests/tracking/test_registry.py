"""Register and promote against the default local store (SQLite in the project, nothing started): versions
carry their provenance, a worse model is not promoted, a better one is, and rollback restores the champion."""

import dataclasses
import json
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hrm_pipeline import stages
from hrm_pipeline.config import load_params
from hrm_pipeline.errors import InputError
from hrm_pipeline.evaluation.run import run_evaluation
from hrm_pipeline.tracking.connection import resolve_uri
from hrm_pipeline.tracking.mlflow_run import read_run_id
from hrm_pipeline.tracking.registry import CHALLENGER, CHAMPION, TAG_PREVIOUS, metrics_path, model_name

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "sudoku.train_size=24",
    "sudoku.test_size=6",
    "sudoku.num_aug=1",
    "model.hidden_size=32",
    "model.num_heads=2",
    "model.halt_max_steps=2",
    "train.global_batch_size=8",
    "train.max_steps=4",
    "train.eval_interval=0",
    "train.checkpoint_interval=2",
    "train.lr_warmup_steps=1",
    "train.num_threads=1",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A trained tiny sudoku model in a fresh folder, tracked in the default local store."""
    root = tmp_path_factory.mktemp("project")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        params = load_params(REPO / "params.yaml", TINY)  # the CPU profile, made tiny
        stages.generate(params, "sudoku", progress=False)
        stages.validate(params, "sudoku")
        stages.train(params, progress=False)
        yield root, params


def register_with(params, exact_accuracy):
    path = metrics_path(params)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exact_accuracy": exact_accuracy, "sudoku": {"buckets": {"51+": 0.5}}}))
    return stages.register(params)


def test_register_promote_gate_and_rollback(project, monkeypatch):
    root, params = project
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    name = model_name(params)
    uri = resolve_uri(params.tracking)
    assert uri == f"sqlite:///{root / '.mlflow' / 'mlflow.db'}"  # the default: a store inside the project
    client = MlflowClient(uri, uri)

    def champion():
        return str(client.get_model_version_by_alias(name, CHAMPION).version)

    v1 = register_with(params, 0.5)
    assert v1.run_id == read_run_id(root / "runs" / "sudoku")  # logged into the training run
    tags = client.get_model_version(name, v1.version).tags
    assert tags["metric.exact_accuracy"] == "0.5" and tags["metric.sudoku.buckets.51_"] == "0.5"
    assert len(tags["data_fingerprint"]) == 64 and tags["dataset"] == "sudoku" and "git_commit" in tags
    assert json.loads((root / "reports" / "registry.json").read_text())["version"] == v1.version
    assert str(client.get_model_version_by_alias(name, CHALLENGER).version) == v1.version

    dry = stages.promote(params, mode="dry-run")
    assert dry["action"] == "would-promote"
    with pytest.raises(MlflowException, match="alias"):  # dry-run moved nothing
        champion()
    assert stages.promote(params)["action"] == "promoted" and champion() == v1.version

    v2 = register_with(params, 0.2)  # worse: not promoted
    rec = stages.promote(params)
    assert rec["action"] == "kept" and champion() == v1.version
    assert rec["challenger"] == v2.version and rec["challenger_metric"] == 0.2
    assert json.loads((root / "reports" / "promotion.json").read_text())["action"] == "kept"

    v3 = register_with(params, 0.9)  # better: promoted, remembering whom it replaced
    rec3 = stages.promote(params)
    assert rec3["action"] == "promoted" and champion() == v3.version, rec3["reason"]
    assert client.get_model_version(name, v3.version).tags[TAG_PREVIOUS] == v1.version

    assert stages.promote(params, mode="disabled")["action"] == "none" and champion() == v3.version
    assert stages.promote(params, rollback=True, mode="dry-run")["action"] == "would-roll-back"
    assert champion() == v3.version

    back = stages.promote(params, rollback=True)
    assert back["action"] == "rolled-back" and champion() == v1.version
    # The version rolled back is no longer the challenger, so the next promote does not bring it back.
    assert stages.promote(params)["action"] == "kept" and champion() == v1.version
    with pytest.raises(InputError, match="no previous champion"):
        stages.promote(params, rollback=True)


def test_register_refuses_a_model_without_metrics_in_one_line(project, monkeypatch):
    root, params = project
    monkeypatch.chdir(root)
    metrics_path(params).unlink(missing_ok=True)
    with pytest.raises(InputError, match="hrm evaluate") as info:
        stages.register(params)
    assert "\n" not in str(info.value)


def test_a_challenger_scored_on_a_smaller_sample_is_judged_against_the_champion_rescored_on_it(
    project, monkeypatch
):
    root, params = project
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    whole = dataclasses.replace(
        params, registry=dataclasses.replace(params.registry, model_name="gate-{dataset}")
    )
    sample = dataclasses.replace(whole, evaluate=dataclasses.replace(whole.evaluate, max_examples=3))
    uri = resolve_uri(params.tracking)
    client = MlflowClient(uri, uri)
    name = model_name(whole)

    def champion():
        return str(client.get_model_version_by_alias(name, CHAMPION).version)

    v1 = register_with(whole, 0.5)  # scored on the whole test split
    assert stages.promote(whole)["action"] == "promoted"
    tags = client.get_model_version(name, v1.version).tags
    assert (tags["eval.split"], tags["eval.max_examples"], tags["eval.seed"]) == ("test", "0", "0")

    # The challenger's 0.99 comes from a 3-row sample: the champion is scored on that same sample first.
    v2 = register_with(sample, 0.99)
    on_sample = run_evaluation(sample, progress=False).metrics["exact_accuracy"]  # the same model file
    dry = stages.promote(sample, mode="dry-run")
    assert dry["champion_rescored"] and dry["champion_metric"] == pytest.approx(on_sample)
    assert champion() == v1.version
    rec = stages.promote(sample)
    assert rec["action"] == "promoted" and champion() == v2.version
    assert rec["reason"].startswith("champion re-scored on the challenger's test data")

    # Scored on the training split, and this workspace cannot reproduce that: the champion stays.
    train_split = dataclasses.replace(sample, evaluate=dataclasses.replace(sample.evaluate, split="train"))
    register_with(train_split, 1.0)
    rec = stages.promote(whole)
    assert rec["action"] == "kept" and champion() == v2.version and not rec["champion_rescored"]
    written = json.loads((root / "reports" / "promotion.json").read_text())["reason"]
    assert "split train vs test" in written and "could not be re-scored" in written and "\n" not in written
