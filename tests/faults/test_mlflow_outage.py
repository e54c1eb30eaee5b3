"""MLflow server unreachable mid-run: training goes on, the metrics wait on disk and reach the store when it
answers again; unreachable at the start: one clear error before any work.

Policy under test (hrm_pipeline.tracking.mlflow_run): a real `mlflow server` on 127.0.0.1 is stopped and
restarted while a real training run logs to it.
"""

import json

import pytest
from helpers.kill_child import toy_train_data
from helpers.mlflow_server import MlflowServer, free_port
from helpers.train import short_train_config, tiny_model_config
from mlflow.tracking import MlflowClient

from hrm_pipeline.tracking.config import TrackingConfig
from hrm_pipeline.tracking.connection import TrackingUnavailable
from hrm_pipeline.tracking.mlflow_run import (
    RUN_FILE,
    MetricsLogger,
    pending_path,
    rejected_path,
    sync_pending,
    train_run,
)
from hrm_pipeline.train import train

STEPS = 10
# Try the store at every flush, give up on a request at once: the test controls the outage precisely.
FAST = TrackingConfig(request_timeout_s=5, request_retries=0, retry_after_s=0.0, flush_interval_s=0.0)


def outage(server: MlflowServer, down_at: int, up_at: int | None):
    """A callback that stops the server after logging step ``down_at`` and restarts it after ``up_at``."""

    def callback(step, metrics):
        if "train/loss" not in metrics:
            return
        if step == down_at:
            server.stop()
        if step == up_at:
            server.start()

    return callback


@pytest.mark.slow
def test_training_survives_an_outage_and_every_step_reaches_mlflow(tmp_path, monkeypatch, capsys):
    data = toy_train_data()
    monkeypatch.chdir(tmp_path)  # the backlog folder (tracking.pending_dir) is relative
    server = MlflowServer(tmp_path / "server").start()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
        run_dir = tmp_path / "run"
        cfg = short_train_config(max_steps=STEPS, checkpoint_interval=5)
        with train_run(FAST, run_dir, "toy", params={"train.lr": "0.003"}, resuming=False) as run:
            # Down after step 3, back after step 6; down again after step 9 until the run has ended.
            callbacks = [run.logger, outage(server, 3, 6), outage(server, 9, None)]
            result = train(tiny_model_config(), cfg, data, None, run_dir, callbacks=callbacks)
        assert result.steps_done == STEPS  # the outage never stopped training
        err = capsys.readouterr().err
        assert err.count("MLflow unreachable") == 2 and "reachable again" in err
        assert run.logger.outages == 2
        backlog = pending_path(FAST, run.run_id)
        assert backlog.exists() and not backlog.is_relative_to(run_dir)  # steps after 9 wait on disk

        server.start()
        sent = sync_pending(FAST, run_dir)
        assert sent > 0 and not backlog.exists()
        client = MlflowClient(server.uri)
        history = sorted(client.get_metric_history(run.run_id, "train/loss"), key=lambda m: m.step)
        assert [m.step for m in history] == list(range(1, STEPS + 1))  # each step exactly once
        assert [m.value for m in history] == pytest.approx([h["loss"] for h in result.history])
        assert client.get_run(run.run_id).data.params == {"train.lr": "0.003"}
    finally:
        server.stop()


def test_unreachable_store_at_start_fails_with_one_line_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(TrackingUnavailable) as info:
        with train_run(FAST, tmp_path / "run", "toy", params={}, resuming=False):
            pytest.fail("training must not start without a tracking store")
    message = str(info.value)
    assert "\n" not in message and "unreachable" in message and "127.0.0.1" in message
    assert not (tmp_path / "run" / RUN_FILE).exists()


def test_a_value_the_store_refuses_is_set_aside_and_the_rest_of_the_backlog_still_arrives(tmp_path, capsys):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("refusals")).info.run_id
    backlog = pending_path(TrackingConfig(pending_dir=str(tmp_path / "pending")), run_id)
    logger = MetricsLogger(client, run_id, FAST, backlog)
    too_long = "x" * 300  # MLflow refuses metric names over 250 characters
    for step in range(1, 41):  # an outage's backlog: 40 steps, one of them carrying the refused name
        logger.log_metrics({"train/loss": 1.0 / step, **({too_long: 0.5} if step == 17 else {})}, step=step)
    logger._spill()
    logger.log_metrics({"train/lr": 0.1}, step=41)  # and a value still in memory
    assert logger.flush(force=True)

    history = client.get_metric_history(run_id, "train/loss")
    assert sorted(m.step for m in history) == list(range(1, 41))  # every good value arrived
    assert [m.step for m in client.get_metric_history(run_id, "train/lr")] == [41]
    assert not backlog.exists()
    aside = [json.loads(line) for line in rejected_path(backlog).read_text().splitlines()]
    assert aside == [{"key": too_long, "value": 0.5, "timestamp": aside[0]["timestamp"], "step": 17}]
    assert "refused 1 of 41 metric values" in capsys.readouterr().err


def test_a_run_the_store_no_longer_has_keeps_its_backlog_aside_instead_of_deleting_it(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("gone")).info.run_id
    backlog = pending_path(TrackingConfig(pending_dir=str(tmp_path / "pending")), run_id)
    logger = MetricsLogger(client, run_id, FAST, backlog)
    logger.log_metrics({"train/loss": 0.5}, step=1)
    logger._spill()
    client.delete_run(run_id)
    logger.log_metrics({"train/loss": 0.25}, step=2)
    assert not logger.flush(force=True)
    assert not backlog.exists()
    kept = [json.loads(line)["value"] for line in rejected_path(backlog).read_text().splitlines()]
    assert kept == [0.5, 0.25]
