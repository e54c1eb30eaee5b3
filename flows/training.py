"""Training flow: per family, train -> evaluate -> register on its validated data, then push.

The families are fanned out as concurrent chains of tasks: a family whose stage fails stops its own chain
only; the others run to the end, are recorded in dvc.lock and pushed, and the flow then fails naming it.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.stage_tasks import family_chains
from flows.workspace import apply_overrides, workspace_slot

TRAINING_STAGES = ("train", "evaluate", "register")


@flow(name="hrm-training", log_prints=True)
def training_flow(
    families: list[str] | None = None, overrides: dict[str, Any] | None = None, push_to_remote: bool = True
) -> dict[str, str]:
    """``families`` default to ``pipeline.families``; each stage runs only when DVC says its inputs changed;
    ``overrides`` go into params.yaml first."""
    with workspace_slot():
        apply_overrides(overrides)
        return family_chains(TRAINING_STAGES, families, push_to_remote=push_to_remote)


if __name__ == "__main__":
    training_flow()
