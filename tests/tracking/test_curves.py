"""Learning-curve files: one row per logged step, and a resumed run ends with the same rows as an
uninterrupted one (the rows it repeats are replaced, not duplicated)."""

import csv

import pytest
from helpers.kill_child import toy_train_data
from helpers.train import short_train_config, tiny_model_config

from hrm_pipeline.tracking.curves import CurvesWriter
from hrm_pipeline.train import train


class Interrupt(Exception):
    pass


def stop_at(step_to_stop: int):
    def callback(step, metrics):
        if step == step_to_stop and "train/loss" in metrics:
            raise Interrupt

    return callback


def read(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def data():
    return toy_train_data()


def run(tmp, data, *callbacks):
    cfg = short_train_config(max_steps=8, checkpoint_interval=3, eval_interval=4, eval_max_examples=8)
    writer = CurvesWriter(tmp / "curves.csv", tmp / "eval_curves.csv")
    return train(tiny_model_config(), cfg, data, data, tmp / "run", callbacks=[writer, *callbacks]), writer


def test_resumed_run_writes_the_same_curves_as_an_uninterrupted_one(tmp_path, data):
    full, writer = run(tmp_path / "full", data)
    rows = read(writer.paths[0])
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    assert [float(r["loss"]) for r in rows] == pytest.approx([h["loss"] for h in full.history], rel=0, abs=0)
    assert {"lr", "loss", "accuracy", "exact_accuracy", "steps", "examples_per_s"} <= set(rows[0])
    evals = read(writer.paths[1])
    assert [int(r["step"]) for r in evals] == [4, 8]  # periodic at 4; at the end the whole-split one

    # Killed at step 5 (rows 4 and 5 written, last checkpoint at 3), then resumed.
    with pytest.raises(Interrupt):
        run(tmp_path / "cut", data, stop_at(5))
    assert [int(r["step"]) for r in read(tmp_path / "cut" / "curves.csv")] == [1, 2, 3, 4, 5]
    resumed, writer = run(tmp_path / "cut", data)
    assert resumed.start_step == 3
    again = read(writer.paths[0])
    assert [int(r["step"]) for r in again] == list(range(1, 9))
    drop = ("examples_per_s", "solved_per_s")  # wall-clock figures differ between runs
    assert [{k: v for k, v in r.items() if k not in drop} for r in again] == [
        {k: v for k, v in r.items() if k not in drop} for r in rows
    ]
    assert read(writer.paths[1]) == evals


def test_a_row_cut_by_a_kill_is_dropped_and_new_columns_join_the_header(tmp_path):
    path = tmp_path / "curves.csv"
    path.write_text("step,loss\n1,0.5\n2,0.4\n3,0.3\n4")  # the kill cut row 4 short
    writer = CurvesWriter(path, tmp_path / "eval.csv")
    writer(3, {"train/loss": 0.31, "train/skipped": 1.0})  # resumed from step 2
    rows = read(path)
    assert [(r["step"], r["loss"]) for r in rows] == [("1", "0.5"), ("2", "0.4"), ("3", "0.31")]
    assert rows[0]["skipped"] == "" and rows[2]["skipped"] == "1.0"
    assert not (tmp_path / "eval.csv").exists()  # no eval metrics yet, no empty file


def test_a_metric_that_first_appears_later_widens_the_file_and_keeps_every_row(tmp_path):
    writer = CurvesWriter(tmp_path / "curves.csv", tmp_path / "eval_curves.csv")
    writer(1, {"train/loss": 2.0})  # no row halted yet: no accuracy at this step
    writer(2, {"train/loss": 1.5, "train/accuracy": 0.25})
    rows = read(writer.paths[0])
    assert [(r["step"], r["loss"], r["accuracy"]) for r in rows] == [("1", "2.0", ""), ("2", "1.5", "0.25")]
