"""Data flow: generate + validate every dataset, the datasets fanned out as concurrent tasks, then push."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.stage_tasks import push, stage_task
from flows.workspace import apply_overrides, workspace_slot
from hrm_pipeline.config import DATASETS


@flow(name="hrm-data", log_prints=True)
def data_flow(
    datasets: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    push_to_remote: bool = True,
) -> dict[str, str]:
    """Build and validate ``datasets`` (default all); ``overrides`` ({"sudoku.seed": 1}) go in params.yaml."""
    with workspace_slot():
        apply_overrides(overrides)
        futures = {}
        for name in datasets or DATASETS:
            gen = stage_task(f"generate@{name}").submit(f"generate@{name}")
            futures[f"generate@{name}"] = gen
            futures[f"validate@{name}"] = stage_task(f"validate@{name}").submit(
                f"validate@{name}", wait_for=[gen]
            )
        done = {stage: future.result() for stage, future in futures.items()}
        if push_to_remote:
            push(list(done))
        return done


if __name__ == "__main__":
    data_flow()
