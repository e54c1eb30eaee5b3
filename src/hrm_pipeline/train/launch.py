"""Multi-process training from the train stage: ``train.nproc_per_node: N`` re-runs the stage under torchrun.

``hrm_pipeline.stages.train`` (what ``hrm train``, so ``dvc repro``, and the Prefect flows call) hands a
run with N > 1 to :func:`relaunch_stage`: it writes the resolved params to a file, starts
``python -m torch.distributed.run --standalone --nproc_per_node N -m hrm_pipeline.train.launch ...`` and
waits. Each of the N workers loads those params and calls the same stage function, which now finds
``WORLD_SIZE`` set and trains as one rank (:mod:`hrm_pipeline.train.distributed`: NCCL on GPUs, one GPU
per rank; gloo on the CPU). Rank 0 sends its result (or its exception) back through a file, so the caller
gets the ``TrainResult`` (or the same exception, e.g. ``TrainingDiverged``) as from a one-process run.
Every worker logs ``rank R of N`` to stderr when it joins the group (the record that the run was parallel).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from hrm_pipeline.errors import InputError

_RESULT_DIR_ENV = "HRM_LAUNCH_RESULT_DIR"
_RESULT_NAME = "rank{rank}.json"


class LaunchFailed(RuntimeError):
    """torchrun ended without any worker reporting a result or an exception (a worker was killed)."""


def in_worker() -> bool:
    """True inside a process that torchrun (or a test harness) started as one rank of a group."""
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def check_devices(nproc: int, device: str) -> None:
    """One rank per GPU: refuse more ranks than GPUs before any process starts."""
    import torch

    if nproc < 1:
        raise InputError(f"train.nproc_per_node must be >= 1, got {nproc}")
    wants_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if wants_cuda and torch.cuda.device_count() < nproc:
        raise InputError(
            f"train.nproc_per_node={nproc} needs {nproc} GPUs, this machine has {torch.cuda.device_count()}"
        )


def relaunch_stage(stage: str, params: Any, nproc: int, device: str, **kwargs: Any) -> Any:
    """Run ``hrm_pipeline.stages.<stage>(params, **kwargs)`` in ``nproc`` torchrun workers; rank 0's return
    value comes back (or the first exception a rank raised is raised here)."""
    from omegaconf import OmegaConf

    from hrm_pipeline.config import to_plain

    check_devices(nproc, device)
    with tempfile.TemporaryDirectory(prefix="hrm-launch-") as tmp:
        # The resolved params as YAML: every worker loads exactly what this process was given.
        params_file = Path(tmp) / "params.yaml"
        params_file.write_text(OmegaConf.to_yaml(OmegaConf.create(to_plain(params))))
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"stage": stage, "params": str(params_file), "kwargs": kwargs}))
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            __name__,
            str(job),
        ]
        code = _run(cmd, {**os.environ, _RESULT_DIR_ENV: tmp})
        outcomes = [_read(Path(tmp) / _RESULT_NAME.format(rank=r)) for r in range(nproc)]
    ok = outcomes[0]
    if code == 0 and ok is not None and ok[0] == "ok":
        return ok[1]
    for outcome in outcomes:  # rank 0's exception first, else the first rank that raised
        if outcome is not None and outcome[0] == "error":
            raise outcome[1]
    raise LaunchFailed(f"torchrun with {nproc} processes exited {code} without a result; see its log above")


def _run(cmd: list[str], env: dict[str, str]) -> int:
    """Start torchrun and wait; SIGTERM / Ctrl-C reach it (it stops its workers) instead of orphaning it."""
    proc = subprocess.Popen(cmd, env=env)
    forwarding = threading.current_thread() is threading.main_thread()  # signal handlers: main thread only
    previous = signal.getsignal(signal.SIGTERM)
    if forwarding:
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.send_signal(signal.SIGINT)
                proc.wait()
                raise
    finally:
        if forwarding:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


# Results and errors travel as JSON, not pickle: a file must never be able to run code in the caller.
def _read(path: Path) -> tuple[str, Any] | None:
    if not path.exists():
        return None
    try:
        obj = json.loads(path.read_text())
        return (obj["status"], _result(obj["value"]) if obj["status"] == "ok" else _error(obj["value"]))
    except Exception as err:
        return ("error", RuntimeError(f"a training rank failed; its report did not load ({err})"))


def _result(value: dict[str, Any]) -> Any:
    from hrm_pipeline.train.evaluate import EvalResult
    from hrm_pipeline.train.loop import TrainResult

    evals = [(int(step), EvalResult(**r)) for step, r in value["evals"]]
    final = EvalResult(**value["final_eval"]) if value["final_eval"] is not None else None
    path = Path(value["model_path"]) if value["model_path"] is not None else None
    return TrainResult(**{**value, "evals": evals, "final_eval": final, "model_path": path})


def _error(value: dict[str, str]) -> Exception:
    """The worker's exception again when it is one of the package's own (so e.g. TrainingDiverged keeps its
    exit code), else a RuntimeError with its text."""
    module, name, message = value["module"], value["type"], value["message"]
    if module.split(".")[0] == "hrm_pipeline":
        try:
            cls = getattr(importlib.import_module(module), name)
            if isinstance(cls, type) and issubclass(cls, Exception):
                return cls(message)
        except Exception:
            pass
    return RuntimeError(f"{name}: {message}")


def _report(rank: int, status: str, value: Any) -> None:
    folder = os.environ.get(_RESULT_DIR_ENV)
    if not folder:
        return
    if status == "ok":
        payload = dataclasses.asdict(value)
        payload["model_path"] = None if value.model_path is None else str(value.model_path)
    else:
        payload = {"module": type(value).__module__, "type": type(value).__name__, "message": str(value)}
    path = Path(folder) / _RESULT_NAME.format(rank=rank)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"status": status, "value": payload}, default=str))
    os.replace(tmp, path)


def _worker(job_path: str) -> int:
    """One torchrun worker: run the stage; rank 0 reports its result, any rank its exception."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("hrm: %(message)s"))
    dist_log = logging.getLogger("hrm_pipeline.train.distributed")
    dist_log.addHandler(handler)
    dist_log.setLevel(logging.INFO)
    rank = int(os.environ.get("RANK", "0"))
    job = json.loads(Path(job_path).read_text())
    stage, params_file, kwargs = job["stage"], job["params"], job["kwargs"]
    try:
        # Entry-point imports (this module runs as a torchrun worker's main, like hrm_pipeline.cli).
        from hrm_pipeline import stages
        from hrm_pipeline.config import load_params

        result = getattr(stages, stage)(load_params(params_file), **kwargs)
    except Exception as err:
        _report(rank, "error", err)
        print(f"hrm: rank {rank}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    if rank == 0:
        _report(rank, "ok", result)
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1]))
