"""The one workspace the flows share: its concurrency slot and the params.yaml overrides of a flow run."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import MissingContextError, ObjectAlreadyExists, ObjectNotFound
from ruamel.yaml import YAML

from hrm_pipeline.atomic import write_text
from hrm_pipeline.config import load_params

PARAMS_FILE = Path("params.yaml")
# Every flow writes the same data/, runs/, dvc.lock and params.yaml: one run at a time per server.
WORKSPACE_LIMIT = "hrm-workspace"
WORKSPACE_SLOTS = 1
_holding: ContextVar[bool] = ContextVar("holding_workspace", default=False)


@contextmanager
def workspace_slot(timeout_s: float | None = None) -> Iterator[None]:
    """Hold the workspace for the whole flow run; a second run waits (or gives up after ``timeout_s``).

    A subflow of a flow that holds the slot already has it (a second slot would wait forever).
    """
    if _holding.get():
        yield
        return
    _ensure_limit()
    get_run_logger().info("waiting for the workspace slot %r", WORKSPACE_LIMIT)
    with concurrency(WORKSPACE_LIMIT, occupy=1, timeout_seconds=timeout_s, strict=True):
        get_run_logger().info("holding the workspace slot %r", WORKSPACE_LIMIT)
        token = _holding.set(True)
        try:
            yield
        finally:
            _holding.reset(token)


def _ensure_limit() -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(WORKSPACE_LIMIT)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=WORKSPACE_LIMIT, limit=WORKSPACE_SLOTS)
                )
            except ObjectAlreadyExists:  # another run created it first
                pass


def apply_overrides(overrides: Mapping[str, Any] | None, path: Path = PARAMS_FILE) -> None:
    """Write a flow run's ``{"section.key": value}`` into params.yaml, so DVC records what the run used.

    Checked against the typed config first: a bad key or type fails before the file changes.
    """
    if not overrides:
        return
    load_params(path, [f"{key}={json.dumps(value)}" for key, value in overrides.items()])
    yaml = YAML()  # round-trip: the file's comments stay
    doc = yaml.load(path.read_text()) if path.exists() else None
    doc = doc if doc is not None else {}
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    buf = io.StringIO()
    yaml.dump(doc, buf)
    write_text(path, buf.getvalue())
    _logger().info("params.yaml overrides: %s", dict(overrides))


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:  # called outside a flow run (tests, scripts)
        return logging.getLogger(__name__)
