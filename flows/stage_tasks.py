"""The one task every flow uses: run a DVC stage's function from ``hrm_pipeline.stages``, then record it in
dvc.lock with ``dvc commit``, exactly as ``dvc repro`` would have.

Why not ``dvc repro`` as the task body: DVC holds its repo lock for the whole command, so tasks fanned out
over datasets would queue behind each other. The stage functions run concurrently here; only the status
check and the commit (hashing, a second or so) take DVC's lock, waiting for it instead of failing.

The task runs the stage's own ``cmd`` from dvc.yaml in-process (``hrm_pipeline.cli.dispatch``), so a flow
and `dvc repro` make the same call with the same flags.

The cache key is DVC's own: a stage whose deps, params and outs match dvc.lock is skipped. (Prefect's input
hashing cannot see the workspace: a rolled-back or deleted dataset changes no task argument.)
"""

from __future__ import annotations

import json
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from prefect import allow_failure, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from hrm_pipeline import cli
from hrm_pipeline.config import ConfigError, load_params
from hrm_pipeline.data.schema import ValidationFailed
from hrm_pipeline.data_versions import dvc
from hrm_pipeline.errors import InputError
from hrm_pipeline.train.loop import TrainingDiverged

PARAMS_FILE = "params.yaml"

# Retries only where a second try can succeed: training resumes from its last checkpoint after a crash,
# the registry and the remote may be briefly unreachable. Generation and validation are deterministic.
RETRIES = {"train": 1, "register": 2, "promote": 2}
RETRY_DELAY_S = 10
SERIAL = ("train",)  # groups whose stages run one family at a time


class StageFailed(RuntimeError):
    """DVC could not check or record a stage."""


class FamiliesFailed(RuntimeError):
    """One or more families' chains failed; the others finished and were recorded."""


def _worth_retrying(task, task_run, state) -> bool:
    try:
        state.result()
    except (ValidationFailed, InputError, ConfigError, FileNotFoundError, TrainingDiverged):
        # The same input fails the same way again; a diverged run has used up its own lowered-lr restores.
        return False
    except Exception:
        return True
    return False


def dvc_stages(root: str = ".") -> frozenset[str]:
    """The stage names dvc.yaml defines (foreach items expanded)."""
    path = Path(root).resolve()
    return _dvc_stages(path, (path / "dvc.yaml").stat().st_mtime_ns)


@cache
def _dvc_stages(root: Path, _mtime: int) -> frozenset[str]:
    out = dvc(root, "stage", "list", "--name-only")
    if out.returncode != 0:
        raise StageFailed(f"dvc stage list: {out.stderr.strip()}")
    return frozenset(out.stdout.split())


def is_current(stage: str, root: Path) -> bool:
    out = dvc(root, "status", "--json", stage)
    if out.returncode != 0:
        raise StageFailed(f"dvc status {stage}: {out.stderr.strip()}")
    return not json.loads(out.stdout or "{}")


@task(task_run_name="{stage}", cache_policy=NO_CACHE, retry_condition_fn=_worth_retrying)
def run_stage(stage: str, root: str = ".") -> str:
    """Run one stage (``generate@sudoku``, ``train@maze`` ...) unless DVC says it is up to date; record it."""
    log = get_run_logger()
    path = Path(root)
    tracked = stage in dvc_stages(root)
    if tracked and is_current(stage, path):
        log.info("%s: up to date in dvc.lock, skipped", stage)
        return "skipped"
    cli.dispatch(stage_argv(stage, path))
    if tracked:
        out = dvc(path, "commit", "--force", stage)
        if out.returncode != 0:
            raise StageFailed(f"dvc commit {stage}: {out.stderr.strip()}")
        log.info("%s: ran and recorded in dvc.lock", stage)
    return "ran"


def stage_argv(stage: str, root: Path) -> list[str]:
    """The ``hrm`` arguments of a stage, read from its ``cmd`` in dvc.yaml (``${item}`` filled in), so a flow
    runs exactly what `dvc repro` runs: a flag added to a ``cmd`` cannot drift from the flows."""
    group, _, item = stage.partition("@")
    spec = _dvc_yaml(root.resolve(), (root / "dvc.yaml").stat().st_mtime_ns)["stages"].get(group)
    if spec is None:
        raise StageFailed(f"dvc.yaml has no stage {group!r}")
    argv = shlex.split(spec.get("do", spec)["cmd"].replace("${item}", item))
    if argv[0] != "hrm":
        raise StageFailed(f"dvc.yaml stage {group!r} does not run `hrm`: {argv[0]!r}")
    return [*argv[1:], "--params", str(root / PARAMS_FILE)]


@cache
def _dvc_yaml(root: Path, _mtime: int) -> dict[str, Any]:
    return yaml.safe_load((root / "dvc.yaml").read_text())


def stage_task(stage: str):
    """``run_stage`` with the retry policy of the stage's group."""
    retries = RETRIES.get(stage.partition("@")[0], 0)
    return run_stage.with_options(retries=retries, retry_delay_seconds=RETRY_DELAY_S)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=RETRY_DELAY_S)
def push(stages_: list[str], root: str = ".") -> bool:
    """Send the stages' outputs to the default DVC remote (skipped, with a warning, when none is set)."""
    path = Path(root)
    if not dvc(path, "remote", "default").stdout.strip():
        get_run_logger().warning("no default DVC remote: outputs stay in the local cache only")
        return False
    out = dvc(path, "push", *[s for s in stages_ if s in dvc_stages(root)])
    if out.returncode != 0:
        raise StageFailed(f"dvc push: {out.stderr.strip()}")
    return True


def family_chains(
    groups: tuple[str, ...],
    families: list[str] | None = None,
    *,
    push_to_remote: bool = True,
    root: str = ".",
) -> dict[str, str]:
    """Run ``group@family`` for each family (default ``pipeline.families``), the groups in order within a
    family and the families concurrently; push what finished; then raise if any family failed.

    ``{stage: "ran" | "skipped" | "failed" | "not run"}``: a failed stage stops only its own family's chain.
    Trainings take turns (each wants every core, and one process shares torch's thread pool), each waiting
    for the previous family's training whether or not it succeeded.
    """
    names = families or load_params(Path(root) / PARAMS_FILE).pipeline.families
    futures = {}
    last_of_group: dict[str, Any] = {}
    for name in names:
        before: list[Any] = []
        for group in groups:
            stage = f"{group}@{name}"
            turn = [allow_failure(last_of_group[group])] if group in SERIAL and group in last_of_group else []
            futures[stage] = stage_task(stage).submit(stage, root, wait_for=before + turn)
            before = [futures[stage]]
            last_of_group[group] = futures[stage]
    done: dict[str, str] = {}
    for stage, future in futures.items():
        future.wait()
        state = future.state
        done[stage] = (
            future.result() if state.is_completed() else "failed" if state.is_failed() else "not run"
        )
    if push_to_remote:
        push([s for s, result in done.items() if result in ("ran", "skipped")], root)
    failed = sorted({s.partition("@")[2] for s, result in done.items() if result == "failed"})
    if failed:
        raise FamiliesFailed(
            f"failed: {', '.join(failed)} ({done}); the other families' results are recorded"
        )
    return done
