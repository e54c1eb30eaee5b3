"""Bad configuration, in params.yaml or a -S override: one line naming the key (and the expected type where
there is one), exit code 2, and nothing written: the check runs before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hrm_pipeline import cli

REPO = Path(__file__).resolve().parents[2]

BAD_OVERRIDES = [
    ("train.lr=fast", "key 'train.lr'", "Float"),
    ("train.max_steps=ten", "key 'train.max_steps'", "Integer"),
    ("train.compile=maybe", "key 'train.compile'", "bool"),
    ("train.lr=[1,2]", "key 'train.lr'", "Float"),
    ("train.lr=null", "key 'train.lr'", "float"),
    ("train.precision=fp8", "train: precision", "'fp32' or 'bf16'"),
    ("train.global_batch_size=0", "train: global_batch_size", "positive"),
    ("train.nonfinite_lr_factor=2", "train: nonfinite_lr_factor", "(0, 1)"),
    ("trian.lr=1", "unknown key 'trian'", ""),
    ("model.hiden_size=3", "unknown key 'model.hiden_size'", ""),
    ("model.num_heads=3", "model: hidden_size", "divisible by num_heads"),
    ("sudoku.train_size=abc", "key 'sudoku.train_size'", "Integer"),
    ("pipeline.dataset=mnist", "pipeline.dataset", "sudoku, maze, arc"),
    ("train.lr", "override 'train.lr'", "key=value"),
]
BAD_FILES = [
    ("train:\n  lr: fast\n", "key 'train.lr'", "Float"),
    ("train:\n  lrr: 0.1\n", "unknown key 'train.lrr'", ""),
    ("trian:\n  lr: 0.1\n", "unknown key 'trian'", ""),
    ("model:\n  H_cycles: two\n", "key 'model.H_cycles'", "Integer"),
    ("train:\n  lr: [unclosed\n", "not valid YAML at line 3", ""),
    ("train:\n  lr: 1\n  lr: 2\n", "not valid YAML at line 3", "duplicate key lr"),
]


def run_cli(ws: Path, monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(ws)
    code = cli.main(list(args))
    return code, capsys.readouterr().err


def assert_refused(ws: Path, code: int, err: str, needles: tuple[str, ...]) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hrm: config error:"), err
    for needle in needles:
        assert needle in lines[0]
    assert sorted(p.name for p in ws.iterdir()) == ["params.yaml"]  # no data, runs or reports started


@pytest.mark.parametrize("command", [("train",), ("generate", "sudoku")], ids=["train", "generate"])
@pytest.mark.parametrize("override, key, expected", BAD_OVERRIDES, ids=[o for o, _, _ in BAD_OVERRIDES])
def test_bad_override_is_refused_naming_the_key(
    tmp_path, monkeypatch, capsys, command, override, key, expected
):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    code, err = run_cli(tmp_path, monkeypatch, capsys, *command, "--no-progress", "-S", override)
    assert_refused(tmp_path, code, err, (key, expected))


@pytest.mark.parametrize("text, key, expected", BAD_FILES, ids=[f"file{i}" for i in range(len(BAD_FILES))])
def test_bad_params_file_is_refused_naming_the_key(tmp_path, monkeypatch, capsys, text, key, expected):
    (tmp_path / "params.yaml").write_text(text)
    code, err = run_cli(tmp_path, monkeypatch, capsys, "train", "--no-progress")
    assert_refused(tmp_path, code, err, (key, expected))


@pytest.mark.parametrize("command", [("train",), ("generate", "sudoku")], ids=["train", "generate"])
def test_a_missing_params_file_is_refused_not_read_as_the_paper_size_defaults(
    tmp_path, monkeypatch, capsys, command
):
    code, err = run_cli(tmp_path, monkeypatch, capsys, *command, "--no-progress")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "params.yaml: no such params file" in lines[0], err
    assert list(tmp_path.iterdir()) == []  # nothing started
    code, err = run_cli(tmp_path, monkeypatch, capsys, *command, "--no-progress", "--params", "typo.yaml")
    assert code == 2 and "typo.yaml" in err and len(err.strip().splitlines()) == 1
