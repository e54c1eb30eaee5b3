"""Release flow: the promotion gate. Moves alias ``champion`` to the challenger only if it wins the gate."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.stage_tasks import stage_task
from flows.workspace import apply_overrides, workspace_slot
from hrm_pipeline import stages
from hrm_pipeline.config import load_params


@flow(name="hrm-release", log_prints=True)
def release_flow(mode: str | None = None, rollback: bool = False) -> str:
    """``mode`` (disabled | dry-run | enabled) overrides ``registry.mode``; ``rollback`` moves champion back.

    A rollback is an action on the registry, not a pipeline product, so it bypasses DVC.
    """
    with workspace_slot():
        if rollback:
            decision = stages.promote(load_params(), rollback=True)
            get_run_logger().info("rollback: %s", decision)
            return "rolled back"
        apply_overrides({"registry.mode": mode} if mode else None)
        return stage_task("promote")("promote")


if __name__ == "__main__":
    release_flow()
