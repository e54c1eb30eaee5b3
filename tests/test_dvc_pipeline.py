"""The whole chain on a tiny profile in a fresh git+DVC repo, tracked by a real `mlflow server` on 127.0.0.1:
`dvc repro` runs generate -> validate -> train -> evaluate -> register -> promote, reruns only what changed,
and the champion it registers loads with `mlflow.pyfunc.load_model("models:/...@champion")` and answers a
puzzle; a second model that is no better leaves the champion where it was."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.flow_project import TINY as FLOW_TINY
from helpers.mlflow_server import MlflowServer
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
# The flows' tiny profile, with one training thread and a small evaluation.
TINY = {
    **FLOW_TINY,
    "train": {**FLOW_TINY["train"], "num_threads": 1},
    "evaluate": {"gallery_size": 1, "scaling_factors": [1, 2]},
}
MODEL = "hrm-sudoku"


def run(cmd: list[str], cwd: Path, extra_env: dict[str, str] | None = None, check: bool = True):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "OMP_NUM_THREADS": "1",
        **{
            f"GIT_{who}_{what}": val
            for who in ("AUTHOR", "COMMITTER")
            for what, val in (("NAME", "t"), ("EMAIL", "t@t"))
        },
        **(extra_env or {}),
    }
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def sudoku_grid_ok(puzzle: str, solution: str, box_rows: int, box_cols: int) -> bool:
    """Independent of the package: a full grid, every unit a permutation of 1..n, givens kept."""
    n = box_rows * box_cols
    if len(solution) != n * n or not solution.isdigit():
        return False
    g = np.array([int(c) for c in solution]).reshape(n, n)
    units = [*g, *g.T] + [
        g[r : r + box_rows, c : c + box_cols].ravel()
        for r in range(0, n, box_rows)
        for c in range(0, n, box_cols)
    ]
    givens_kept = all(p in ".0" or p == s for p, s in zip(puzzle, solution, strict=True))
    return givens_kept and all(sorted(u) == list(range(1, n + 1)) for u in units)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    with MlflowServer(tmp_path_factory.mktemp("mlflow")) as server:
        yield server


@pytest.mark.slow
def test_whole_chain_registers_a_champion_and_reruns_only_what_changed(tmp_path, mlflow_server, monkeypatch):
    ws = tmp_path / "project"
    ws.mkdir()
    shutil.copytree(REPO / "src", ws / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "dvc.yaml", ws / "dvc.yaml")
    params = OmegaConf.merge(OmegaConf.load(REPO / "params.yaml"), TINY)
    OmegaConf.save(params, ws / "params.yaml")
    server = {"MLFLOW_TRACKING_URI": mlflow_server.uri}
    run(["git", "init", "-q"], ws)
    run(["dvc", "init", "-q"], ws)
    run(["git", "add", "-A"], ws)
    run(["git", "commit", "-qm", "init"], ws)
    commit = run(["git", "rev-parse", "HEAD"], ws).stdout.strip()

    first = run(["dvc", "repro"], ws, server).stdout
    assert {"generate@sudoku", "validate@arc", "train", "evaluate", "register", "promote"} <= stages_run(
        first
    )
    assert (ws / "runs" / "sudoku" / "model.pt").exists()
    lock = yaml.safe_load((ws / "dvc.lock").read_text())
    assert "reports/validation/sudoku.json" in str(lock["stages"]["validate@sudoku"])
    assert json.loads((ws / "reports/validation/maze.json").read_text())["passed"]
    curves = pd.read_csv(ws / "reports/train/curves.csv")
    assert curves["step"].tolist() == [1, 2, 3, 4]

    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], ws).stdout)
    shown = json.dumps(metrics)
    assert "reports/metrics.json" in shown and "exact_accuracy" in shown
    plots = run(["dvc", "plots", "show", "--json"], ws).stdout
    assert "reports/train/curves.csv" in plots and "reports/train/eval_curves.csv" in plots

    # The registry: one version, tagged with the code commit and DVC's hash of the data; both aliases on it.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    import mlflow.pyfunc
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.uri, mlflow_server.uri)
    (v1,) = client.search_model_versions(f"name='{MODEL}'")
    data_md5 = next(o["md5"] for o in lock["stages"]["generate@sudoku"]["outs"] if o["path"] == "data/sudoku")
    assert v1.tags["git_commit"] == commit and v1.tags["dvc_data_md5"] == data_md5
    assert "metric.exact_accuracy" in v1.tags
    for alias in ("champion", "challenger"):
        assert str(client.get_model_version_by_alias(MODEL, alias).version) == str(v1.version)
    run_metrics = client.get_run(v1.run_id).data.metrics  # train, eval and test metrics in one run
    assert {"train/loss", "eval/exact_accuracy", "test/exact_accuracy"} <= set(run_metrics)

    # The champion, as a user loads it, solves a test puzzle (checked here independently of the package).
    test = pd.read_parquet(ws / "data/sudoku/test.parquet")
    blanks = np.asarray(test["inputs"][0]) - 1  # tokens are digit + 1; 0 = blank
    puzzle = "".join("." if d == 0 else str(d) for d in blanks)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    out = model.predict(pd.DataFrame({"puzzle": [puzzle]}))
    assert list(out.columns) == ["solution", "steps", "valid"]
    row = out.iloc[0]
    box = params.sudoku
    assert bool(row["valid"]) == sudoku_grid_ok(puzzle, row["solution"], box.box_rows, box.box_cols)
    assert 1 <= int(row["steps"]) <= params.model.halt_max_steps

    again = run(["dvc", "repro"], ws, server).stdout
    assert "Running stage" not in again

    # New maze data and a longer training: maze stages, and the model chain, rerun; nothing else.
    params.maze.seed = 1
    params.train.max_steps = 6
    OmegaConf.save(params, ws / "params.yaml")
    third = run(["dvc", "repro"], ws, server).stdout
    assert stages_run(third) == {"generate@maze", "validate@maze", "train", "evaluate", "register", "promote"}
    curves = pd.read_csv(ws / "reports/train/curves.csv")
    assert curves["step"].tolist() == [1, 2, 3, 4, 5, 6]  # resumed at 4: the first rows kept, once each
    versions = {str(v.version) for v in client.search_model_versions(f"name='{MODEL}'")}
    assert versions == {"1", "2"}
    v2 = client.get_model_version(MODEL, "2")
    assert v2.run_id == v1.run_id  # the resumed training continued its MLflow run
    assert client.get_run(v1.run_id).data.tags["resumed_with.train.max_steps"] == "6"
    steps = [m.step for m in client.get_metric_history(v1.run_id, "train/loss")]
    assert sorted(set(steps)) == [1, 2, 3, 4, 5, 6]
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "2"
    decision = json.loads((ws / "reports/promotion.json").read_text())
    champion = str(client.get_model_version_by_alias(MODEL, "champion").version)
    gain = decision["challenger_metric"] - decision["champion_metric"]
    assert champion == ("2" if gain > 0 else "1") and decision["action"] == (
        "promoted" if gain > 0 else "kept"
    )

    if champion == "1":  # nothing to roll back to: one line, exit code 2
        back = run(["hrm", "promote", "--rollback"], ws, server, check=False)
        assert back.returncode == 2 and "no previous champion" in back.stderr
        assert len(back.stderr.strip().splitlines()) == 1
    else:
        run(["hrm", "promote", "--rollback"], ws, server)
        assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
