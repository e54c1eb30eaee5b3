"""Release flow: the promotion gate of each family. Moves alias ``champion`` of ``hrm-<family>`` to its
challenger only if it wins the gate."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.stage_tasks import family_chains
from flows.workspace import apply_overrides, workspace_slot
from hrm_pipeline import stages
from hrm_pipeline.config import load_params


@flow(name="hrm-release", log_prints=True)
def release_flow(
    mode: str | None = None, rollback: bool = False, families: list[str] | None = None
) -> dict[str, str]:
    """``mode`` (disabled | dry-run | enabled) overrides ``registry.mode``; ``rollback`` moves the champion of
    each of ``families`` (default ``pipeline.families``) back.

    A rollback is an action on the registry, not a pipeline product, so it bypasses DVC.
    """
    with workspace_slot():
        if rollback:
            params = load_params()
            done = {}
            for name in families or params.pipeline.families:
                decision = stages.promote(params.for_family(name), rollback=True)
                get_run_logger().info("rollback of %s: %s", name, decision)
                done[f"promote@{name}"] = "rolled back"
            return done
        apply_overrides({"registry.mode": mode} if mode else None)
        return family_chains(("promote",), families, push_to_remote=False)


if __name__ == "__main__":
    release_flow()
