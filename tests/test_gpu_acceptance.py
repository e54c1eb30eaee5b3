"""bench/gpu_acceptance.py --cpu-smoke: every section of the one-call GPU check runs and reports numbers.

The device machine is lent to few sessions and for 15 minutes; this keeps the script that spends that lease
from rotting between leases (same code paths as on the GPU, tiny sizes, CPU).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu_acceptance.py"


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("gpu_acceptance")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu-smoke", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rep = json.loads((out / "gpu_acceptance.json").read_text())
    rep["_markdown"] = (out / "gpu_acceptance.md").read_text()
    return rep


@pytest.mark.slow
def test_cpu_smoke_report_has_every_section_with_numbers(report) -> None:
    secs = report["sections"]
    expected = {"env", "data", "gpu_tests", "throughput", "inference", "throughput_compile", "training_run"}
    assert set(secs) == expected
    assert _number(secs["env"]["items"][0]["matmul_tflops"]) and secs["env"]["items"][0]["matmul_tflops"] > 0

    data = secs["data"]["items"][0]
    assert data["status"] == "ok" and data["rows"]["train"] > 0 and _number(data["total_s"])

    tests = secs["gpu_tests"]["items"][0]
    # No CUDA here: the gpu tests are collected and skipped, never silently absent.
    assert tests["status"] == "ok" and tests["tests"] >= 2 and tests["failed"] == 0

    for name in ("throughput", "throughput_compile"):
        rows = secs[name]["items"]
        seqs = {r["seq"] for r in rows if r["status"] == "ok"}
        assert seqs == {82, 901}, f"{name}: no numbers for some sequence length: {rows}"
        for r in rows:
            if r["status"] == "ok":
                assert all(_number(r[k]) and r[k] > 0 for k in ("examples_per_s", "tflops", "mfu"))
                assert r["finite"] and r["grad_accum"] * r["micro_batch"] == r["batch"]
            else:  # a backend the CPU lacks is a recorded failure, not a lost section
                assert r["status"] == "failed" and r["error"]
    assert all(r["compile"] for r in secs["throughput_compile"]["items"])

    inference = secs["inference"]["items"]
    assert {r["precision"] for r in inference} == {"fp32", "bf16"}
    assert all(r["status"] == "ok" and r["puzzles_per_s"] > 0 for r in inference)

    run = secs["training_run"]["items"][0]
    assert run["status"] == "ok" and run["steps"] > 0 and run["eval_curve"]
    assert all(0.0 <= c["exact_accuracy"] <= 1.0 for c in run["eval_curve"])
    assert run["last_loss"] < run["first_loss"]  # the paper recipe's loss falls even in seconds

    md = report["_markdown"]
    for heading in ("## Environment", "## pytest -m gpu", "## Training throughput", "## Inference"):
        assert heading in md
    assert "## Time-boxed training run" in md and "| step |" in md
