"""Connecting to a store leaves the process environment as it was: MLflow 3's set_tracking_uri exports
MLFLOW_TRACKING_URI, which resolve_uri reads as the user's choice, so one project's store leaked into the next
config of the same process and into every child process (a Prefect worker's flow run registered its models in
another project's store)."""

import os
import subprocess
import sys

from hrm_pipeline.tracking.config import TrackingConfig
from hrm_pipeline.tracking.connection import ENV_URI, connect, resolve_uri


def test_a_second_store_in_the_same_process_is_its_own_and_children_see_no_uri(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_URI, raising=False)
    first, second = (TrackingConfig(uri=f"sqlite:///{tmp_path / name / 'mlflow.db'}") for name in ("a", "b"))
    _, uri_a = connect(first)
    assert ENV_URI not in os.environ
    _, uri_b = connect(second)
    assert uri_a != uri_b and uri_b == resolve_uri(second) and str(tmp_path / "b") in uri_b
    child = subprocess.run(
        [sys.executable, "-c", f"import os; print(os.environ.get({ENV_URI!r}, 'unset'))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert child.stdout.strip() == "unset"


def test_a_uri_the_user_exported_still_wins_and_stays(tmp_path, monkeypatch):
    mine = f"sqlite:///{tmp_path / 'mine.db'}"
    monkeypatch.setenv(ENV_URI, mine)
    _, uri = connect(TrackingConfig(uri=f"sqlite:///{tmp_path / 'configured.db'}"))
    assert uri == mine and os.environ[ENV_URI] == mine
