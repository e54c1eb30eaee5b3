"""The evaluate step end to end on tiny datasets and a tiny trained model, in a temporary workspace."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers.model import tiny_config_for
from matplotlib.image import imread

from hrm_pipeline import stages
from hrm_pipeline.config import load_params
from hrm_pipeline.data.storage import load_split, read_meta
from hrm_pipeline.errors import InputError
from hrm_pipeline.evaluation.metrics import score
from hrm_pipeline.evaluation.run import model_path, run_evaluation
from hrm_pipeline.inference import Predictor
from hrm_pipeline.train import TrainConfig, train

REPO = Path(__file__).resolve().parents[2]
TINY_DATA = {
    "sudoku": ["sudoku.train_size=12", "sudoku.test_size=10", "sudoku.num_aug=1"],
    "maze": [
        "maze.size=8", "maze.min_path_moves=8", "maze.train_size=6", "maze.test_size=6",
        "maze.length_bin_edges=[]", "maze.length_bin_weights=[]", "maze.augment_dihedral=false",
    ],
    "arc": ["arc.max_tasks=2", "arc.num_aug=3"],
}  # fmt: skip
HALT_MAX_STEPS = 2


def _workspace(root: Path, dataset: str, extra: list[str] = ()):
    overrides = [
        f"paths.data_dir={root / 'data'}",
        f"paths.runs_dir={root / 'runs'}",
        f"paths.reports_dir={root / 'reports'}",
        f"pipeline.dataset={dataset}",
        *TINY_DATA[dataset],
        *extra,
    ]
    return load_params(REPO / "params.yaml", overrides)


def _build(root: Path, dataset: str):
    """Generate the tiny dataset and train a tiny model on it for a few steps."""
    params = _workspace(root, dataset)
    stages.generate(params, dataset, progress=False)
    data_dir = params.dataset_dir(dataset)
    meta = read_meta(data_dir)
    model_cfg = tiny_config_for(meta, HALT_MAX_STEPS)
    train_cfg = TrainConfig(
        global_batch_size=8, lr=3e-3, lr_warmup_steps=1, epochs=100, max_steps=3, eval_interval=0,
        checkpoint_interval=0, progress=False, num_threads=1, device="cpu",
    )  # fmt: skip
    train(model_cfg, train_cfg, load_split(data_dir, "train"), None, Path(params.paths.runs_dir) / dataset)
    return params


@pytest.fixture(scope="module")
def sudoku_ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_sudoku")
    params = _build(root, "sudoku")
    # The train stage's curve tables (written by its tracking callbacks, which this test does not run).
    curves = root / "reports" / "train"
    curves.mkdir(parents=True)
    (curves / "curves.csv").write_text("step,loss,accuracy,exact_accuracy\n1,2.0,0.3,0.0\n2,1.5,0.5,0.1\n")
    (curves / "eval_curves.csv").write_text("step,accuracy,exact_accuracy\n2,0.4,0.0\n")
    return root, params


def _eval(root: Path, dataset: str, extra: list[str] = ()):
    return run_evaluation(_workspace(root, dataset, ["evaluate.device=cpu", *extra]), progress=False)


@pytest.mark.slow
def test_sudoku_metrics_agree_with_the_model_and_files_are_complete(sudoku_ws):
    root, params = sudoku_ws
    result = _eval(root, "sudoku")
    reports = root / "reports"
    written = json.loads((reports / "metrics.json").read_text())
    assert written["exact_accuracy"] == result.nested["exact_accuracy"]

    # The headline is the paper's evaluation: every test puzzle runs the trained number of segments.
    test = load_split(params.dataset_dir("sudoku"), "test")
    pred = Predictor.from_file(model_path(params)).predict(test.inputs, max_steps=HALT_MAX_STEPS)
    expected = score(pred.tokens, test.labels)
    m = result.metrics
    assert m["num_examples"] == len(test)
    assert m["exact_accuracy"] == pytest.approx(expected.exact_accuracy)
    assert m["token_accuracy"] == pytest.approx(expected.token_accuracy)
    assert m["scaling.1x.token_accuracy"] == m["token_accuracy"]
    assert [m[f"scaling.{f}x.max_steps"] for f in (1, 2, 4)] == [2, 4, 8]
    assert 1 <= m["act.mean_steps"] <= HALT_MAX_STEPS
    assert 1 < m["participation_ratio.z_H"] <= len(test) - 1
    assert 1 < m["participation_ratio.z_L"] <= len(test) - 1

    buckets = written["sudoku"]["buckets"]
    assert sum(b["count"] for b in buckets.values()) == len(test)
    assert pl.read_csv(reports / "eval" / "steps.csv")["puzzles"].sum() == len(test)
    scaling = pl.read_csv(reports / "eval" / "scaling.csv")
    assert scaling["max_steps"].to_list() == [2, 4, 8]

    for name in ("scaling", "steps_hist", "accuracy_by_bucket", "learning_curves"):
        image = imread(reports / "eval" / "plots" / f"{name}.png")
        assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0  # drawn, not blank
    assert all(p.is_file() for p in result.files)
    report = reports / "eval" / "report.html"
    assert report in result.files
    html = report.read_text()
    assert "plots/scaling.png" in html and html.count("gallery/") >= 1  # plots and pictures linked
    assert not [p for p in reports.iterdir() if p.name.startswith(".")]  # no half-built folder left behind


@pytest.mark.slow
def test_max_examples_evaluates_a_seeded_subsample(sudoku_ws):
    root, _ = sudoku_ws
    first = _eval(root, "sudoku", ["evaluate.max_examples=4", "evaluate.scaling_factors=[1]"])
    again = _eval(root, "sudoku", ["evaluate.max_examples=4", "evaluate.scaling_factors=[1]"])
    assert first.metrics["num_examples"] == 4 and first.metrics == again.metrics


@pytest.mark.slow
def test_a_model_of_another_dataset_is_refused(sudoku_ws, tmp_path):
    root, params = sudoku_ws
    other = _workspace(tmp_path, "maze")
    stages.generate(other, "maze", progress=False)
    (tmp_path / "runs" / "maze").mkdir(parents=True)
    (tmp_path / "runs" / "maze" / "model.pt").write_bytes(model_path(params).read_bytes())
    with pytest.raises(InputError, match="trained on sequences of"):
        _eval(tmp_path, "maze")


def test_a_missing_model_names_the_command_to_run(tmp_path):
    params = _workspace(tmp_path, "sudoku")
    stages.generate(params, "sudoku", progress=False)
    with pytest.raises(FileNotFoundError, match="hrm train"):
        run_evaluation(params, progress=False)


@pytest.mark.slow
def test_maze_reports_the_valid_optimal_path_rate(tmp_path):
    _build(tmp_path, "maze")
    m = _eval(tmp_path, "maze").metrics
    # Exact answers are valid optimal paths, so the rate can only be higher.
    assert m["maze.valid_optimal_rate"] >= m["exact_accuracy"]
    assert "scaling.4x.valid_optimal_rate" in m


@pytest.mark.slow
def test_arc_votes_over_variants_per_test_input(tmp_path):
    params = _build(tmp_path, "arc")
    result = _eval(tmp_path, "arc")
    m = result.metrics
    test = pl.read_parquet(params.dataset_dir("arc") / "test.parquet")
    inputs = test.select("task_id", "pair_index").unique()
    assert m["arc.num_test_inputs"] == inputs.height and m["arc.num_tasks"] == test["task_id"].n_unique()
    table = pl.read_csv(tmp_path / "reports" / "eval" / "arc_inputs.csv")
    assert table["variants"].sum() == test.height  # every variant voted on its own test input
    assert m["arc.pass_at_2"] >= m["arc.pass_at_1"]
    assert m["arc.pass_at_2_per_input"] >= m["arc.pass_at_2"]  # a solved task has all its inputs passed
    assert np.isfinite(m["scaling.2x.pass_at_2"])
