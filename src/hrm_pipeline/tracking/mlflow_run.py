"""The MLflow run of a training output folder: created by the train stage, resumed with it, reused by the
evaluate and register stages (its id is stored in ``runs/<dataset>/mlflow_run.json``).

Outage policy (chosen and tested in tests/faults/test_mlflow_outage.py): the store must answer when training
(or registering) starts, else the stage fails with one line before any work. Once training runs, an
unreachable store never stops it (nor the evaluation's logging): metrics and artifacts are buffered, spilled
to ``<tracking.pending_dir>/<run id>.jsonl`` (so a kill loses nothing; outside ``runs/``, so DVC outputs stay
as written), and sent when the store answers again: at the next flush, when the run is resumed, or by the
register stage (:func:`sync_pending`), which needs the store anyway.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hrm_pipeline.tracking.config import TrackingConfig
from hrm_pipeline.tracking.connection import (
    MlflowClient,
    MlflowException,
    bounded_requests,
    connect,
    ensure_experiment,
    first_line,
    safe_name,
)
from hrm_pipeline.tracking.provenance import git_commit

from mlflow.entities import Metric, Param  # isort: skip
from hrm_pipeline.atomic import write_json
from hrm_pipeline.nested import flatten

RUN_FILE = "mlflow_run.json"
# MLflow's REST API takes at most 1000 metrics and 100 params per log_batch request.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
# Errors that mean "the store answered and refused this data", not "the store is away": retrying cannot help.
# A refused value (a bad key or number) refuses its batch only; a missing or finished run refuses everything.
_VALUE_REFUSALS = {"INVALID_PARAMETER_VALUE", "BAD_REQUEST"}
_REFUSALS = _VALUE_REFUSALS | {"RESOURCE_DOES_NOT_EXIST", "INVALID_STATE"}
REJECTED_SUFFIX = ".rejected"


def _metric(key: str, value: float, timestamp: int, step: int) -> Metric:
    return Metric(safe_name(key), float(value), timestamp, step)


def _is_refusal(err: Exception) -> bool:
    return isinstance(err, MlflowException) and err.error_code in _REFUSALS


def pending_path(cfg: TrackingConfig, run_id: str) -> Path:
    """The backlog of a run: outside ``runs/`` so that spilling never changes a DVC output."""
    return Path(cfg.pending_dir) / f"{run_id}.jsonl"


def rejected_path(pending: Path) -> Path:
    """Where values the store refused are set aside (same line format as the backlog), for a human to read."""
    return pending.with_name(pending.name + REJECTED_SUFFIX)


def read_run_id(run_dir: str | Path) -> str | None:
    path = Path(run_dir) / RUN_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("run_id")


def _write_run_id(run_dir: Path, run_id: str, experiment_id: str, uri: str) -> None:
    write_json(run_dir / RUN_FILE, {"run_id": run_id, "experiment_id": experiment_id, "tracking_uri": uri})


class MetricsLogger:
    """Buffers metrics/artifacts for one run and sends them in batches; survives store outages.

    As a training callback it flushes at checkpoint steps (so the store holds every step a resume will not
    repeat), after evaluations, and at least every ``flush_interval_s``.
    """

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        cfg: TrackingConfig,
        pending: Path,
        checkpoint_interval: int = 0,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.cfg = cfg
        self.pending_path = Path(pending)
        self.checkpoint_interval = checkpoint_interval
        self._metrics: list[Metric] = []
        self._artifacts: list[tuple[str, str | None]] = []
        self._last_flush = time.monotonic()
        self._last_failure: float | None = None  # monotonic time of the last failed request; None = store up
        self.outages = 0  # distinct outages seen (for reports and tests)

    # -- the training callback ---------------------------------------------------------------------------
    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        self._metrics.extend(_metric(k, v, now, step) for k, v in metrics.items())
        at_checkpoint = self.checkpoint_interval > 0 and step % self.checkpoint_interval == 0
        is_eval = any(not k.startswith("train/") for k in metrics)
        if at_checkpoint or is_eval or time.monotonic() - self._last_flush >= self.cfg.flush_interval_s:
            self.flush()

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        self._metrics.extend(_metric(k, v, now, step) for k, v in metrics.items())

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._artifacts.append((str(Path(path).resolve()), artifact_path))

    # -- sending ------------------------------------------------------------------------------------------
    def flush(self, *, force: bool = False) -> bool:
        """Send what is buffered (and any spilled backlog); True when the store has it all."""
        self._last_flush = time.monotonic()
        if not (self._metrics or self._artifacts or self.pending_path.exists()):
            return True
        waiting = (
            self._last_failure is not None and time.monotonic() - self._last_failure < self.cfg.retry_after_s
        )
        if waiting and not force:
            self._spill()
            return False
        try:
            with bounded_requests(self.cfg):
                sent = self._send_backlog()
                self._send(self._metrics, self._artifacts)
        except Exception as err:  # any transport or server error: keep the data, keep training
            if _is_refusal(err):  # the run itself is refused (deleted, finished): nothing can be sent
                self._spill()
                if self.pending_path.exists():
                    with rejected_path(self.pending_path).open("a") as fh:
                        fh.write(self.pending_path.read_text())
                    self.pending_path.unlink()
                print(
                    f"hrm: MLflow refused the run's values ({first_line(err)}); set aside in "
                    f"{rejected_path(self.pending_path)}",
                    file=sys.stderr,
                )
                return False
            self._spill()
            if self._last_failure is None:
                self.outages += 1
                print(
                    f"hrm: MLflow unreachable ({first_line(err)}); the work goes on, its metrics are kept in "
                    f"{self.pending_path} and sent when MLflow answers again",
                    file=sys.stderr,
                )
            self._last_failure = time.monotonic()
            return False
        if self._last_failure is not None or sent:
            print(f"hrm: MLflow reachable again; {sent} buffered metric values sent", file=sys.stderr)
        self._last_failure = None
        self._metrics.clear()
        self._artifacts.clear()
        return True

    def _send(self, metrics: list[Metric], artifacts: list[tuple[str, str | None]]) -> None:
        refused: list[Metric] = []
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            batch = metrics[i : i + MAX_METRICS_PER_BATCH]
            try:
                self.client.log_batch(self.run_id, metrics=batch, synchronous=True)
            except MlflowException as err:
                # A deleted run refuses every value with the same code as one bad value: do not split then.
                if err.error_code not in _VALUE_REFUSALS or not _run_exists(self.client, self.run_id):
                    raise
                half = len(batch) // 2
                self._send_batch(batch[:half], refused)
                self._send_batch(batch[half:], refused)
        if refused:
            self._set_aside(refused, metrics)
        for path, artifact_path in artifacts:
            if not Path(path).exists():  # gone since it was queued: retrying could never send it
                print(f"hrm: {path} no longer exists; not logged to MLflow", file=sys.stderr)
                continue
            self.client.log_artifact(self.run_id, path, artifact_path)

    def _send_batch(self, batch: list[Metric], refused: list[Metric]) -> None:
        """Log ``batch``; when the store refuses a value, halve the batch until the refused values are alone
        (a few requests per bad value) so that the good ones around them still arrive."""
        if not batch:
            return
        try:
            self.client.log_batch(self.run_id, metrics=batch, synchronous=True)
        except MlflowException as err:
            if err.error_code not in _VALUE_REFUSALS:
                raise
            if len(batch) == 1:
                refused.extend(batch)
                return
            half = len(batch) // 2
            self._send_batch(batch[:half], refused)
            self._send_batch(batch[half:], refused)

    def _set_aside(self, refused: list[Metric], sent: list[Metric]) -> None:
        path = rejected_path(self.pending_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write("".join(_metric_line(m) + "\n" for m in refused))
        print(
            f"hrm: MLflow refused {len(refused)} of {len(sent)} metric values (e.g. {refused[0].key!r}); "
            f"the rest were logged, the refused ones set aside in {path}",
            file=sys.stderr,
        )

    def _send_backlog(self) -> int:
        if not self.pending_path.exists():
            return 0
        metrics: list[Metric] = []
        artifacts: list[tuple[str, str | None]] = []
        for line in self.pending_path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            if "artifact" in entry:
                artifacts.append((entry["artifact"], entry.get("artifact_path")))
            else:
                metrics.append(_metric(entry["key"], entry["value"], entry["timestamp"], entry["step"]))
        # NOTE: a failure halfway re-sends the whole backlog later; MLflow then holds some values twice
        # (same step, same value), which its history and plots tolerate.
        self._send(metrics, artifacts)
        self.pending_path.unlink()
        return len(metrics)

    def _spill(self) -> None:
        """Move the in-memory buffer to the pending file (append-only, one JSON object a line)."""
        if not (self._metrics or self._artifacts):
            return
        self.pending_path.parent.mkdir(parents=True, exist_ok=True)
        lines = [_metric_line(m) for m in self._metrics] + [
            json.dumps({"artifact": p, "artifact_path": a}) for p, a in self._artifacts
        ]
        with self.pending_path.open("a") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._metrics.clear()
        self._artifacts.clear()


def _metric_line(m: Metric) -> str:
    return json.dumps({"key": m.key, "value": _json_float(m.value), "timestamp": m.timestamp, "step": m.step})


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)  # "nan"/"inf": float() reads them back


@dataclasses.dataclass
class TrackedRun:
    client: MlflowClient
    run_id: str
    experiment_id: str
    uri: str
    resumed: bool
    logger: MetricsLogger


def flat_params(obj: Any, prefix: str = "") -> dict[str, str]:
    """A dataclass (or dict) as MLflow params: dotted keys, values as text cut to MLflow's limit."""
    data = dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj
    return {name: str(value)[:MAX_PARAM_CHARS] for name, value in flatten(data, prefix).items()}


@contextlib.contextmanager
def train_run(
    cfg: TrackingConfig,
    run_dir: str | Path,
    dataset: str,
    *,
    params: dict[str, str],
    resuming: bool,
    checkpoint_interval: int = 0,
) -> Iterator[TrackedRun]:
    """Open (or, when ``resuming``, reopen) the MLflow run of ``run_dir`` around a training call.

    The run ends FINISHED when the block returns, KILLED on Ctrl-C, FAILED on an error (best effort: an
    unreachable store does not mask the original error).
    """
    run_dir = Path(run_dir)
    client, uri = connect(cfg)
    with bounded_requests(cfg):
        experiment_id = ensure_experiment(client, cfg, uri, dataset)
        run_id = read_run_id(run_dir) if resuming else None
        resumed = run_id is not None and _run_exists(client, run_id)
        if resumed:
            client.update_run(run_id, status="RUNNING")
            _tag_changed_params(client, run_id, params)
        else:
            tags = {"dataset": dataset, "git_commit": git_commit(), "mlflow.runName": f"{dataset}-train"}
            run_id = client.create_run(experiment_id, tags=tags).info.run_id
            items = [Param(k, v) for k, v in params.items()]
            for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
                client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH], synchronous=True)
            _write_run_id(run_dir, run_id, experiment_id, uri)
    logger = MetricsLogger(client, run_id, cfg, pending_path(cfg, run_id), checkpoint_interval)
    logger.flush()  # the backlog a killed process left behind
    run = TrackedRun(client, run_id, experiment_id, uri, resumed, logger)
    try:
        yield run
    except BaseException as err:
        status = "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED"
        logger._spill()
        with contextlib.suppress(Exception), bounded_requests(cfg):
            client.set_terminated(run_id, status)
        raise
    if logger.flush(force=True):
        with contextlib.suppress(Exception), bounded_requests(cfg):
            client.set_terminated(run_id, "FINISHED")


def _tag_changed_params(client: MlflowClient, run_id: str, params: dict[str, str]) -> None:
    """MLflow params are write-once; a resume with other values (e.g. a longer max_steps) says so in tags."""
    logged = client.get_run(run_id).data.params
    for key, value in params.items():
        if key in logged and logged[key] != value:
            client.set_tag(run_id, f"resumed_with.{key}", value)


def _run_exists(client: MlflowClient, run_id: str) -> bool:
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except Exception:  # deleted, or from another store
        return False


def sync_pending(cfg: TrackingConfig, run_dir: str | Path) -> int:
    """Send the backlog a training run left in ``run_dir`` (the store must answer); returns values sent."""
    run_dir = Path(run_dir)
    run_id = read_run_id(run_dir)
    if run_id is None or not pending_path(cfg, run_id).exists():
        return 0
    client, _ = connect(cfg)
    logger = MetricsLogger(client, run_id, cfg, pending_path(cfg, run_id))
    with bounded_requests(cfg):
        return logger._send_backlog()
