"""End to end: a real Prefect server on a free loopback port, the deployments of prefect.yaml with their
cron schedules, a triggered run of the scheduled weekly-retrain deployment executed by a process worker, then
the run's state, the registered models (one per family) and DVC's agreement."""

import json
import re
import sys

import pytest
import torch
from helpers.flow_project import PrefectServer, make_project, run

FLOW_RUNS = """
import json
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    names = {d.id: d.name for d in client.read_deployments()}
    print(json.dumps([{"id": str(r.id), "deployment": names.get(r.deployment_id), "state": r.state_type.value}
                      for r in client.read_flow_runs()]))
"""
REGISTRY = """
import json, mlflow
from hrm_pipeline.config import load_params
mlflow.set_tracking_uri(load_params().tracking.uri)
client = mlflow.MlflowClient()
print(json.dumps({family: {alias: str(client.get_model_version_by_alias(f"hrm-{family}", alias).version)
                           for alias in ("challenger", "champion")} for family in ("sudoku", "maze")}))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = PrefectServer(tmp_path_factory.mktemp("prefect")).start()
    yield srv
    srv.stop()


def flow_runs(ws, server) -> list[dict]:
    return json.loads(run([sys.executable, "-c", FLOW_RUNS], ws, **server.env).strip().splitlines()[-1])


@pytest.mark.slow
def test_scheduled_deployment_run_by_a_worker_trains_and_registers_a_model(server, tmp_path):
    # sudoku trains as TRM with attention and TRM's halting, maze as params.yaml's HRM: the flows need nothing
    # of their own for either recurrence.
    trm = {"recurrence": "trm", "q_continue": False, "token_mixer": "attention"}
    ws = make_project(tmp_path, {"families": {"sudoku": {"model": trm}}})
    deployed = run(["bash", "scripts/prefect_deploy.sh"], ws, **server.env)
    for name in ("hrm-data/nightly-data", "hrm-pipeline/weekly-retrain", "hrm-training/train"):
        assert name in deployed
    # The cron schedules really create runs (SQLAlchemy 2.1 silently stops this: shared stack notes).
    scheduled = [r for r in flow_runs(ws, server) if r["state"] == "SCHEDULED"]
    assert {r["deployment"] for r in scheduled} >= {"nightly-data", "weekly-retrain"}

    out = run(["prefect", "deployment", "run", "hrm-pipeline/weekly-retrain"], ws, **server.env)
    run_id = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)
    run(["bash", "scripts/prefect_worker.sh", "--run-once"], ws, timeout=540, **server.env)

    state = {r["id"]: r["state"] for r in flow_runs(ws, server)}
    assert state[run_id] == "COMPLETED"
    for family, recurrence in (("sudoku", "trm"), ("maze", "hrm")):  # pipeline.families: one model each
        registry = json.loads((ws / "reports" / family / "registry.json").read_text())
        assert registry["version"] == "1" and registry["model_name"] == f"hrm-{family}"
        saved = torch.load(ws / "runs" / family / "model.pt", map_location="cpu", weights_only=True)
        assert saved["model_config"]["recurrence"] == recurrence
    aliases = json.loads(run([sys.executable, "-c", REGISTRY], ws).strip().splitlines()[-1])
    first = {"challenger": "1", "champion": "1"}  # a first model passes the gate
    assert aliases == {"sudoku": first, "maze": first}
    # The flow recorded every stage it ran: DVC has nothing left to do.
    assert "Running stage" not in run(["dvc", "repro", "--dry"], ws)
