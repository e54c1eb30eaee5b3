"""The whole pipeline as one flow: data -> training -> release gate (the weekly retrain deployment).

Each stage still runs only when DVC says its inputs changed, so a week without new data or params retrains
nothing.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.data import data_flow
from flows.release import release_flow
from flows.training import training_flow
from flows.workspace import apply_overrides, workspace_slot


@flow(name="hrm-pipeline", log_prints=True)
def pipeline_flow(
    overrides: dict[str, Any] | None = None, promote_mode: str | None = None, push_to_remote: bool = True
) -> dict[str, Any]:
    """``overrides`` go into params.yaml first; ``promote_mode`` overrides ``registry.mode`` for the gate."""
    with workspace_slot():
        apply_overrides(overrides)
        return {
            "data": data_flow(push_to_remote=push_to_remote),
            "training": training_flow(push_to_remote=push_to_remote),
            "release": release_flow(mode=promote_mode),
        }


if __name__ == "__main__":
    pipeline_flow()
