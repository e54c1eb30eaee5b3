"""`hrm evaluate` as a user meets it when a step before it is missing: one line and the right exit code."""

from __future__ import annotations

from pathlib import Path

from hrm_pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["-S", "sudoku.train_size=8", "-S", "sudoku.test_size=4", "-S", "sudoku.num_aug=0"]


def test_evaluate_names_the_missing_step(tmp_path, capsys):
    args = [
        "--params", str(REPO / "params.yaml"), *TINY,
        "-S", f"paths.data_dir={tmp_path / 'data'}",
        "-S", f"paths.runs_dir={tmp_path / 'runs'}",
        "-S", f"paths.reports_dir={tmp_path / 'reports'}",
    ]  # fmt: skip
    assert main(["generate", "sudoku", "--no-progress", *args]) == 0
    capsys.readouterr()

    assert main(["evaluate", "--no-progress", *args]) == 1  # the data is not known to be valid
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "hrm validate sudoku" in err

    assert main(["validate", "sudoku", *args]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "hrm train" in err
    assert not (tmp_path / "reports" / "metrics.json").exists()
