"""The data flow leaves dvc.lock, params.yaml and the remote as `dvc repro` + `dvc push` would."""

import sys

import pytest
from helpers.flow_project import make_project, run
from omegaconf import OmegaConf

RUN_FLOW = (
    "import json, sys; from flows.data import data_flow; "
    "print('RESULT', json.dumps(data_flow(datasets=['sudoku', 'maze'], overrides={'sudoku.seed': 3})))"
)


@pytest.mark.slow
def test_data_flow_records_what_dvc_repro_would_and_skips_current_stages(tmp_path):
    ws = make_project(tmp_path)
    comment = "# CPU default profile"
    (ws / "params.yaml").write_text(f"{comment}\n" + (ws / "params.yaml").read_text())
    prefect = {"PREFECT_HOME": str(tmp_path / "prefect")}

    out = run([sys.executable, "-c", RUN_FLOW], ws, **prefect)
    first = out.split("RESULT ", 1)[1].splitlines()[0]
    assert all(v == "ran" for v in __import__("json").loads(first).values())
    text = (ws / "params.yaml").read_text()
    assert text.startswith(comment) and OmegaConf.load(ws / "params.yaml").sudoku.seed == 3

    # DVC agrees: every flow stage is current, so `dvc repro` has nothing to do and leaves dvc.lock alone.
    lock = (ws / "dvc.lock").read_text()
    for stage in ("generate@sudoku", "validate@sudoku", "generate@maze", "validate@maze"):
        assert f"{stage}:" in lock
    repro = run(["dvc", "repro", "validate@sudoku", "validate@maze"], ws)
    assert "Running stage" not in repro
    assert (ws / "dvc.lock").read_text() == lock
    assert (
        "up to date" in run(["dvc", "status", "-c"], ws).lower()
        or "in sync" in run(["dvc", "status", "-c"], ws).lower()
    )  # pushed: the remote has every output

    again = run([sys.executable, "-c", RUN_FLOW], ws, **prefect)
    assert '"ran"' not in again.split("RESULT ", 1)[1].splitlines()[0]
