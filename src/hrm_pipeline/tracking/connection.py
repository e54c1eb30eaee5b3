"""Which MLflow store to talk to, and talking to it without the client's minutes-long retry loops."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from hrm_pipeline.errors import InputError
from hrm_pipeline.tracking.config import TrackingConfig

# Set before mlflow is first imported (it reads them at import and at each request).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

ENV_URI = "MLFLOW_TRACKING_URI"
# Characters MLflow refuses in metric and tag names (it allows alphanumerics and "_-. :/"): "51+" -> "51_".
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_\-. :/]")


def safe_name(key: str) -> str:
    return _BAD_NAME_CHARS.sub("_", key)


class TrackingUnavailable(InputError):
    """The MLflow store cannot be reached (wrong URI or server down): one line, exit code 2."""


def resolve_uri(cfg: TrackingConfig) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the configured URI with a relative SQLite path made absolute."""
    uri = os.environ.get(ENV_URI) or cfg.uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        db = Path(uri.removeprefix(prefix)).resolve()
        db.parent.mkdir(parents=True, exist_ok=True)  # SQLAlchemy creates the file, not its folder
        uri = prefix + str(db)
    return uri


def is_local(uri: str) -> bool:
    return uri.startswith("sqlite:") or uri.startswith("file:") or "://" not in uri


@contextlib.contextmanager
def bounded_requests(cfg: TrackingConfig) -> Iterator[None]:
    """MLflow REST calls inside give up after ``request_retries`` retries of ``request_timeout_s`` each.

    MLflow reads these variables at every request, so setting them around our own calls leaves the rest of the
    process (a user's notebook) with MLflow's defaults.
    """
    wanted = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(cfg.request_retries),
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(cfg.request_timeout_s),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    }
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def use_store(uri: str) -> None:
    """Point MLflow's fluent API (pyfunc.log_model / load_model) at ``uri`` for this process.

    ``mlflow.set_tracking_uri`` (MLflow 3) also exports ``MLFLOW_TRACKING_URI``, which :func:`resolve_uri`
    reads as the user's own choice: a later config in the same process (a flow, a notebook) would be sent to
    this store, and so would every child process. The environment is left as it was."""
    before = os.environ.get(ENV_URI)
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop(ENV_URI, None)
    else:
        os.environ[ENV_URI] = before


def connect(cfg: TrackingConfig) -> tuple[MlflowClient, str]:
    """A client for the resolved store, checked to answer; TrackingUnavailable (one line) if it does not."""
    uri = resolve_uri(cfg)
    use_store(uri)  # the fluent API (pyfunc.log_model) must use the same store
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        with bounded_requests(cfg):
            client.search_experiments(max_results=1)
    except Exception as err:  # connection refused, timeout, bad URI: all mean "cannot track"
        raise TrackingUnavailable(f"MLflow tracking store {uri} is unreachable ({first_line(err)})") from None
    return client, uri


def ensure_experiment(client: MlflowClient, cfg: TrackingConfig, uri: str, dataset: str) -> str:
    name = cfg.experiment.replace("{dataset}", dataset)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    # A server chooses its own artifact root; a local store keeps artifacts in the repo folder of the config.
    location = Path(cfg.artifact_dir).resolve().as_uri() if is_local(uri) else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # created meanwhile by a concurrent process
        return client.get_experiment_by_name(name).experiment_id


# The part of a requests/urllib3 error chain a user can act on; the rest is a wall of wrapped reprs.
_CAUSES = re.compile(r"Connection (?:refused|reset)|timed out|Name or service not known|No route to host")
MAX_MESSAGE_CHARS = 200


def first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    cause = _CAUSES.search(text)
    if cause:
        return cause.group(0).lower()
    line = text.splitlines()[0]
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 3] + "..."
