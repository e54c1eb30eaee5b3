"""`hrm solve` as a user drives it: boards, ACT steps, checked validity, JSON, pictures, and one clear line
with exit code 2 for every kind of bad input."""

import json

import numpy as np
import pytest
from PIL import Image

from hrm_pipeline import cli
from hrm_pipeline.render import PIXELS

SOLUTION = "123456456123231564564231312645645312"
PUZZLE = "".join(ch if (i * 7) % 5 < 3 else "." for i, ch in enumerate(SOLUTION))


def follows_the_rules(answer: str, puzzle: str) -> bool:
    """6x6 sudoku rules, written out here independently of the code under test."""
    if len(answer) != 36 or not set(answer) <= set("123456"):
        return False
    g = np.array([int(c) for c in answer]).reshape(6, 6)
    units = [g[r] for r in range(6)] + [g[:, c] for c in range(6)]
    units += [g[r : r + 2, c : c + 3].ravel() for r in (0, 2, 4) for c in (0, 3)]
    kept = all(p in ".0" or p == a for p, a in zip(puzzle, answer, strict=True))
    return kept and all(sorted(u) == [1, 2, 3, 4, 5, 6] for u in units)


def checkpoint(models, family: str) -> list[str]:
    return ["--checkpoint", str(models / family / "model.pt"), "--data", str(models / family)]


def test_help_explains_every_option_and_version(hrm, tmp_path):
    out = hrm("solve", "--help", cwd=tmp_path)
    assert out.returncode == 0
    for option in ("--checkpoint", "--model-uri", "--max-steps", "--json", "--out", "--halt", "examples:"):
        assert option in out.stdout
    assert "solve" in hrm("--help", cwd=tmp_path).stdout
    assert hrm("--version", cwd=tmp_path).stdout.startswith("hrm-pipeline ")


def test_sudoku_prints_board_steps_and_validity_and_draws_it(hrm, models, tmp_path):
    png = tmp_path / "answer.png"
    out = hrm("solve", "sudoku", PUZZLE, *checkpoint(models, "sudoku"), "--out", str(png), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[2] == "-------+-------" and lines[0].count("|") == 1  # a 6x6 board in 2x3 boxes
    steps = int(next(ln for ln in lines if ln.startswith("ACT steps:")).split()[2])
    assert 1 <= steps <= 2  # Q-halting within the trained budget of the tiny model
    board_digits = "".join(ch for ln in lines[:8] for ch in ln if ch.isdigit() or ch == ".")
    verdict = next(ln for ln in lines if ln.startswith("valid:"))
    assert verdict.startswith("valid: yes" if follows_the_rules(board_digits, PUZZLE) else "valid: NO")
    assert Image.open(png).size == PIXELS


def test_json_for_machines_and_more_steps_than_trained(hrm, models, tmp_path):
    (tmp_path / "puzzles.txt").write_text(f"{PUZZLE}\n{PUZZLE.replace('.', '0')}\n")
    out = hrm(
        "solve", "sudoku", "puzzles.txt", *checkpoint(models, "sudoku"),
        "--json", "--max-steps", "5", "--halt", "max", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["family"] == "sudoku" and got["max_steps"] == 5 and len(got["answers"]) == 2
    for answer, name in zip(got["answers"], ["line 1", "line 2"], strict=True):
        assert answer["name"] == name and answer["puzzle"] == PUZZLE
        assert answer["steps"] == 5  # halt=max runs every segment, past the trained 2
        assert len(answer["solution"]) == 36
        assert answer["valid"] is follows_the_rules(answer["solution"], PUZZLE)


def test_bad_input_is_one_line_and_exit_2(hrm, models, tmp_path):
    out = hrm("solve", "sudoku", PUZZLE + "1", *checkpoint(models, "sudoku"), cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines()[-1] == "hrm: a 6x6 sudoku has 36 characters, got 37"
    assert "Traceback" not in out.stderr


def solve(capsys, *args: str) -> tuple[int, str, str]:
    """`hrm solve ...` in this process (the cases above already prove the subprocess path)."""
    rc = cli.main(["solve", *args, "--no-progress"])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.mark.parametrize(
    "family, text, cause",
    [
        ("sudoku", "1" + "." * 6 + "1" + "." * 28, "contradictory givens: digit 1 appears twice in box 1"),
        ("sudoku", PUZZLE[:-1] + "x", "bad character 'x'"),
        ("maze", "no_s", "no start cell 'S'"),
        ("maze", "no_g", "no goal cell 'G'"),
        ("arc", json.dumps({"test": [{"input": [[1] * 31] * 31}]}), "31x31 exceeds the 30x30 canvas"),
        ("arc", "{]", "an ARC task is JSON"),
    ],
)
def test_every_kind_of_bad_puzzle_is_refused_with_its_cause(
    capsys, models, tmp_path, monkeypatch, maze_rows, family, text, cause
):
    monkeypatch.chdir(tmp_path)
    if text == "no_s":
        text = "\n".join(r.replace("S", " ") for r in maze_rows)
    if text == "no_g":
        text = "\n".join(r.replace("G", " ") for r in maze_rows)
    path = tmp_path / "puzzle.txt"
    path.write_text(text)
    rc, out, err = solve(capsys, family, str(path), *checkpoint(models, family))
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("hrm: ") and cause in err


@pytest.mark.parametrize(
    "args, cause",
    [
        (["sudoku", PUZZLE], "no MLflow store at"),  # the default champion, nothing registered here
        (["sudoku", PUZZLE, "--model-uri", "models:/nothing@champion"], "no MLflow store at"),
        (["maze", "maze.txt", "--checkpoint", "{sudoku}"], "solves sudoku puzzles, not maze"),
        (["maze", "missing.txt", "--checkpoint", "{sudoku}"], "no such file: missing.txt"),
        (
            ["sudoku", PUZZLE, "--checkpoint", "{sudoku}", "--max-steps", "0"],
            "--max-steps must be at least 1",
        ),
        (["sudoku", PUZZLE, "--checkpoint", "{sudoku}", "--data", "nowhere"], "no dataset metadata at"),
        (["sudoku", PUZZLE, "--checkpoint", "missing/model.pt"], "no model file at missing/model.pt"),
    ],
)
def test_missing_or_mismatched_model_is_refused(
    capsys, models, tmp_path, monkeypatch, maze_rows, args, cause
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "maze.txt").write_text("\n".join(maze_rows))
    args = [a.replace("{sudoku}", str(models / "sudoku" / "model.pt")) for a in args]
    if "--checkpoint" in args and "--data" not in args:
        args += ["--data", str(models / "sudoku")]
    rc, out, err = solve(capsys, *args)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and cause in err


def test_maze_and_arc_answers_in_json(capsys, models, tmp_path, monkeypatch, maze_rows):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "maze.txt").write_text("\n".join(maze_rows) + "\n")
    rc, out, err = solve(capsys, "maze", "maze.txt", *checkpoint(models, "maze"), "--json")
    assert rc == 0, err
    (answer,) = json.loads(out)["answers"]
    assert [len(r) for r in answer["solution"].split("\n")] == [10] * 10
    assert isinstance(answer["valid"], bool) and answer["puzzle"] == "\n".join(maze_rows)

    task = {"train": [], "test": [{"input": [[1, 2], [3, 4]], "output": [[4]]}, {"input": [[5]]}]}
    (tmp_path / "task.json").write_text(json.dumps(task))
    png = tmp_path / "arc.png"
    rc, out, err = solve(capsys, "arc", "task.json", *checkpoint(models, "arc"), "--json", "--out", str(png))
    assert rc == 0, err
    first, second = json.loads(out)["answers"]
    assert first["valid"] is False or json.loads(first["solution"]) == [[4]]
    assert second["valid"] is None  # the task gives no output for this input: nothing to check against
    assert [Image.open(tmp_path / f"arc-{i}.png").size for i in (1, 2)] == [PIXELS, PIXELS]
