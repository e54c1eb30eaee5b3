"""Training flow: train -> evaluate -> register on the validated data of ``pipeline.dataset``, then push."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.stage_tasks import push, stage_task
from flows.workspace import apply_overrides, workspace_slot

TRAINING_STAGES = ("train", "evaluate", "register")


@flow(name="hrm-training", log_prints=True)
def training_flow(overrides: dict[str, Any] | None = None, push_to_remote: bool = True) -> dict[str, str]:
    """Each stage runs only when DVC says its inputs changed; ``overrides`` go into params.yaml first."""
    with workspace_slot():
        apply_overrides(overrides)
        done = {stage: stage_task(stage)(stage) for stage in TRAINING_STAGES}
        if push_to_remote:
            push(list(done))
        return done


if __name__ == "__main__":
    training_flow()
