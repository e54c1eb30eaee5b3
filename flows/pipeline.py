"""The whole pipeline as one flow: data, then per family train -> evaluate -> register -> promote (the weekly
retrain deployment).

Each stage still runs only when DVC says its inputs changed, so a week without new data or params retrains
nothing. The families' chains run concurrently and independently: one family's failure leaves the others
trained, registered, promoted and recorded (the flow then fails, naming it).
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.data import data_flow
from flows.stage_tasks import family_chains
from flows.training import TRAINING_STAGES
from flows.workspace import apply_overrides, workspace_slot

MODEL_STAGES = (*TRAINING_STAGES, "promote")


@flow(name="hrm-pipeline", log_prints=True)
def pipeline_flow(
    overrides: dict[str, Any] | None = None,
    promote_mode: str | None = None,
    push_to_remote: bool = True,
    families: list[str] | None = None,
) -> dict[str, Any]:
    """``overrides`` go into params.yaml first; ``promote_mode`` overrides ``registry.mode`` for the gate;
    ``families`` default to ``pipeline.families``."""
    with workspace_slot():
        apply_overrides({**(overrides or {}), **({"registry.mode": promote_mode} if promote_mode else {})})
        return {
            "data": data_flow(push_to_remote=push_to_remote),
            "models": family_chains(MODEL_STAGES, families, push_to_remote=push_to_remote),
        }


if __name__ == "__main__":
    pipeline_flow()
