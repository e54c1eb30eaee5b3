"""Data flow: generate + validate every dataset, the datasets fanned out as concurrent tasks, then push."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.stage_tasks import push, stage_task
from flows.workspace import apply_overrides, workspace_slot
from hrm_pipeline.data.catalog import DATASETS
from hrm_pipeline.data_versions import commit_version


@flow(name="hrm-data", log_prints=True)
def data_flow(
    datasets: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    push_to_remote: bool = True,
    commit: bool = False,
) -> dict[str, str]:
    """Build and validate ``datasets`` (default all); ``overrides`` ({"sudoku.seed": 1}) go in params.yaml.

    ``commit`` git-commits dvc.lock and params.yaml afterwards, making the new data version addressable.
    """
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
        if commit and "ran" in done.values():
            sha = commit_version(message=f"data: {', '.join(datasets or DATASETS)} (flow run)")
            get_run_logger().info("data version %s", sha or "unchanged")
        return done


if __name__ == "__main__":
    data_flow()
