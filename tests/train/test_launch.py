"""What a torchrun worker reports travels as JSON: the package's own exceptions come back as themselves."""

from __future__ import annotations

from hrm_pipeline.train import launch
from hrm_pipeline.train.loop import TrainingDiverged


def test_a_workers_error_comes_back_as_the_same_exception_and_a_foreign_one_as_text(tmp_path, monkeypatch):
    monkeypatch.setenv(launch._RESULT_DIR_ENV, str(tmp_path))
    launch._report(1, "error", TrainingDiverged("lr too high"))
    status, err = launch._read(tmp_path / launch._RESULT_NAME.format(rank=1))
    assert status == "error" and type(err) is TrainingDiverged and str(err) == "lr too high"
    launch._report(2, "error", KeyError("x"))
    status, err = launch._read(tmp_path / launch._RESULT_NAME.format(rank=2))
    assert type(err) is RuntimeError and "KeyError" in str(err)


def test_a_report_that_is_not_json_is_a_failure_not_code(tmp_path):
    bad = tmp_path / "rank0.json"
    bad.write_bytes(b"\x80\x04not json")
    status, err = launch._read(bad)
    assert status == "error" and "did not load" in str(err)
