"""Two pipeline flow runs at once on one workspace: the second waits for the first's workspace slot (a Prefect
global concurrency limit), then finds every stage current; nothing runs twice, nothing is corrupted."""

import json
import re
import subprocess
import sys
from datetime import datetime

import pytest
from helpers.flow_project import PrefectServer, env, make_project, run

RUN_FLOW = (
    "import json; from flows.data import data_flow; "
    "print('RESULT', json.dumps(data_flow(datasets=['sudoku'])))"
)
LOG_LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| INFO +\| (.*)$")


def logged(output: str, pattern: str) -> list[datetime]:
    """When the Prefect log lines whose message matches ``pattern`` were written."""
    found = (LOG_LINE.match(line.strip()) for line in output.splitlines())
    hits = [m for m in found if m and re.search(pattern, m.group(2))]
    return [datetime.strptime(m.group(1), "%H:%M:%S.%f") for m in hits]


@pytest.mark.slow
def test_second_concurrent_flow_run_waits_for_the_first_and_reruns_nothing(tmp_path):
    ws = make_project(tmp_path)
    server = PrefectServer(tmp_path / "prefect").start()
    try:
        procs = [
            subprocess.Popen([sys.executable, "-c", RUN_FLOW], cwd=ws, env=env(**server.env),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)
        ]  # fmt: skip
        outputs = [p.communicate(timeout=400)[0] for p in procs]
    finally:
        server.stop()
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outputs)

    results = [json.loads(o.split("RESULT ", 1)[1].splitlines()[0]) for o in outputs]
    first, second = sorted(range(2), key=lambda i: list(results[i].values()) != ["ran", "ran"])
    assert set(results[first].values()) == {"ran"}
    assert set(results[second].values()) == {"skipped"}  # it saw the first's finished work, not a half of it
    first_tasks_done = logged(outputs[first], r"^Task run .* Finished in state Completed")
    (second_holds,) = logged(outputs[second], "holding the workspace slot")
    assert len(first_tasks_done) >= 3 and second_holds >= max(first_tasks_done)
    # The workspace is whole: DVC sees every stage current and the data still validates.
    assert "Running stage" not in run(["dvc", "repro", "--dry", "validate@sudoku"], ws)
    run([sys.executable, "-m", "hrm_pipeline.cli", "validate", "sudoku"], ws)
