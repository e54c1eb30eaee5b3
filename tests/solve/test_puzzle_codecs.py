"""Puzzle text <-> tokens: what users type is read right, refused with a named cause, and answers are checked
by the dataset's rules, never trusted."""

import json

import numpy as np
import pytest

from hrm_pipeline.data.sudoku.solver import Shape
from hrm_pipeline.errors import InputError
from hrm_pipeline.puzzles import ArcCodec, MazeCodec, SudokuCodec

SOLUTION = "123456456123231564564231312645645312"  # a valid 6x6 grid (2x3 boxes)
# Blanks in every box; the givens leave exactly one solution (checked below).
PUZZLE = "".join(ch if (i * 7) % 5 < 3 else "." for i, ch in enumerate(SOLUTION))


@pytest.fixture
def sudoku() -> SudokuCodec:
    return SudokuCodec(Shape(2, 3))


def tokens(digits: str) -> np.ndarray:
    return np.array([0 if c in ".0" else int(c) for c in digits]) + 1


def test_sudoku_text_becomes_digit_tokens_and_knows_its_unique_solution(sudoku):
    (p,) = sudoku.parse(PUZZLE)
    np.testing.assert_array_equal(p.inputs, tokens(PUZZLE))
    np.testing.assert_array_equal(p.expected, tokens(SOLUTION))
    # '0' is a blank as well; surrounding whitespace is ignored.
    (q,) = sudoku.parse("  " + PUZZLE.replace(".", "0") + "\n")
    np.testing.assert_array_equal(q.inputs, p.inputs)


@pytest.mark.parametrize(
    "text, cause",
    [
        (PUZZLE[:-1], "has 36 characters, got 35"),
        (PUZZLE[:-1] + "x", "bad character 'x' at position 36"),
        (PUZZLE[:-1] + "7", "bad character '7'"),  # 7 is no digit of a 6x6 sudoku
        ("11" + "." * 34, "digit 1 appears twice in row 1"),
        ("1" + "." * 5 + "1" + "." * 29, "digit 1 appears twice in column 1"),
        ("1" + "." * 6 + "1" + "." * 28, "digit 1 appears twice in box 1"),
        # No unit repeats a digit, yet cell 1 can hold none: 1-3 sit in its row, 4-6 in its column.
        (".231.." + "4....." + "5....." + "6....." + "." * 12, "no solution"),
    ],
)
def test_sudoku_bad_input_names_its_cause(sudoku, text, cause):
    with pytest.raises(InputError, match=cause):
        sudoku.parse(text)


def test_sudoku_file_holds_one_puzzle_per_line_and_errors_name_the_line(sudoku):
    puzzles = sudoku.parse(f"# my puzzles\n{PUZZLE}\n\n{PUZZLE.replace('.', '0')}\n")
    assert [p.name for p in puzzles] == ["line 2", "line 4"]
    with pytest.raises(InputError, match="line 3: a 6x6 sudoku has 36 characters"):
        sudoku.parse(f"{PUZZLE}\n{PUZZLE}\n{PUZZLE}1\n")
    with pytest.raises(InputError, match="empty"):
        sudoku.parse("\n  \n")


def test_sudoku_answer_is_checked_by_the_rules_not_by_the_label(sudoku):
    (p,) = sudoku.parse(PUZZLE)
    assert sudoku.check(p, tokens(SOLUTION))
    broken = list(SOLUTION)
    blank = PUZZLE.index(".")
    broken[blank] = "6" if broken[blank] != "6" else "5"
    assert not sudoku.check(p, tokens("".join(broken)))
    # A valid grid that changes a given (digits 1 and 2 swapped everywhere) is not an answer to this puzzle.
    relabelled = SOLUTION.translate(str.maketrans("12", "21"))
    assert not sudoku.check(p, tokens(relabelled))
    # A puzzle with several solutions: any valid grid keeping the givens counts.
    (open_puzzle,) = sudoku.parse("." * 36)
    assert open_puzzle.expected is None and "several solutions" in open_puzzle.note
    assert sudoku.check(open_puzzle, tokens(relabelled))
    # Pad / blank tokens in an answer are an incomplete grid.
    assert not sudoku.check(p, tokens(PUZZLE))


def test_sudoku_board_is_readable(sudoku):
    board = sudoku.board(tokens(SOLUTION))
    assert board.splitlines()[0] == " 1 2 3 | 4 5 6"
    assert board.splitlines()[2] == "-------+-------"
    assert sudoku.answer_text(tokens(PUZZLE)) == PUZZLE


def test_maze_lines_become_tokens_and_the_shortest_path_is_valid(maze_rows):
    codec = MazeCodec(len(maze_rows) ** 2)
    (p,) = codec.parse("\n".join(maze_rows) + "\n")
    label = codec.answer_text(p.expected).split("\n")
    assert label[1] == "#S       #" and label[2] == "#o       #"  # the labeller's path goes down first
    assert codec.check(p, p.expected)
    # Another shortest path (right first, then down) is just as valid: the check is optimality, not the label.
    other = [list(r) for r in maze_rows]
    for c in range(2, 9):
        other[1][c] = "o"
    for r in range(2, 8):
        other[r][8] = "o"
    from hrm_pipeline.data.maze.grid import encode

    assert codec.check(p, encode("".join("".join(r) for r in other))[0])
    assert not codec.check(p, p.inputs)  # no path at all
    # A single line of size*size characters is the same maze (the pyfunc's one-string form).
    (flat,) = codec.parse("".join(maze_rows))
    np.testing.assert_array_equal(flat.inputs, p.inputs)


@pytest.mark.parametrize(
    "edit, cause",
    [
        (lambda rows: [r.replace("S", " ") for r in rows], "no start cell 'S'"),
        (lambda rows: [r.replace("G", " ") for r in rows], "no goal cell 'G'"),
        (lambda rows: [rows[0], "#S#" + rows[1][3:], "##" + rows[2][2:], *rows[3:]], "no path from 'S'"),
        (lambda rows: rows[:-1], "has 10 lines of 10 characters, got 9 lines"),
        (lambda rows: rows[:3] + [rows[3][:-1]] + rows[4:], "line 4 has 9 characters, expected 10"),
        (lambda rows: rows[:2] + ["#o" + rows[2][2:]] + rows[3:], "line 3: bad character 'o'"),
    ],
)
def test_maze_bad_input_names_its_cause(maze_rows, edit, cause):
    with pytest.raises(InputError, match=cause):
        MazeCodec(100).parse("\n".join(edit(maze_rows)))


IDENTITY = {"dihedral": 0, "colour_perm": list(range(10))}
ROTATED = {"dihedral": 1, "colour_perm": [0, 2, 1, 3, 4, 5, 6, 7, 8, 9]}  # quarter turn, colours 1 <-> 2
FLIPPED = {"dihedral": 4, "colour_perm": [0, 1, 2, 4, 3, 5, 6, 7, 8, 9]}  # left-right, colours 3 <-> 4


def test_arc_task_test_inputs_are_puzzles_checked_against_given_outputs():
    codec = ArcCodec({"abc": [{"identifier": 5, **IDENTITY}]})
    task = {"train": [], "test": [{"input": [[1, 2], [3, 4]], "output": [[4, 3]]}, {"input": [[0]]}]}
    first, second = codec.parse(json.dumps(task), task_id="abc")
    assert first.puzzle_identifier == 5 and first.name == "test input 1"
    assert first.inputs.shape == (900,) and first.inputs[:3].tolist() == [3, 4, 1]  # colour+2, end marker
    assert codec.check(first, first.expected) is True
    assert codec.check(first, first.inputs) is False
    assert codec.check(second, second.inputs) is None  # no output given: cannot be checked
    assert json.loads(codec.answer_text(first.expected)) == [[4, 3]]
    (unknown,) = ArcCodec().parse(json.dumps({"test": [{"input": [[1]]}]}))
    assert unknown.puzzle_identifier == 0 and "unknown" in unknown.note


@pytest.mark.parametrize(
    "text, cause",
    [
        ("{not json", "not"),
        (json.dumps({"train": []}), '"test" list'),
        (json.dumps({"test": [{"input": [[1] * 31]}]}), "1x31 exceeds the 30x30 canvas"),
        (json.dumps({"test": [{"input": [[1] * 3] * 31}]}), "31x3 exceeds"),
        (json.dumps({"test": [{"input": [[1, 2], [3]]}]}), "equally long lists"),
        (json.dumps({"test": [{"input": [[10]]}]}), "colours must be 0..9"),
        (json.dumps({"test": [{"output": [[1]]}]}), '"input" grid'),
    ],
)
def test_arc_bad_input_names_its_cause(text, cause):
    with pytest.raises(InputError, match=cause):
        ArcCodec().parse(text)


def test_arc_known_task_runs_in_every_variant_and_the_inverted_answers_vote():
    from hrm_pipeline.data.arc.augment import Augmentation
    from hrm_pipeline.data.arc.encode import encode

    variants = [{"identifier": 5, **IDENTITY}, {"identifier": 6, **ROTATED}, {"identifier": 7, **FLIPPED}]
    codec = ArcCodec({"abc": variants})
    grid, target = np.array([[1, 2, 0], [3, 4, 0]]), np.array([[2, 1], [4, 3], [0, 0]])
    task = {"test": [{"input": grid.tolist(), "output": target.tolist()}]}
    (p,) = codec.parse(json.dumps(task), task_id="abc")
    augs = [Augmentation(v["dihedral"], tuple(v["colour_perm"])) for v in variants]
    rows = codec.model_rows(p)
    assert [ident for _, ident in rows] == [5, 6, 7]
    for (tokens, _), aug in zip(rows, augs, strict=True):  # each view is the input as that variant sees it
        np.testing.assert_array_equal(tokens, encode(aug.apply(grid)))

    wrong = np.array([[9]])
    # Two views answer the target in their own frame, one answers something else: the target wins the vote.
    preds = np.stack([encode(augs[0].apply(target)), encode(augs[1].apply(target)), encode(wrong)])
    tokens, steps = codec.combine(p, preds, np.array([2, 3, 1]), np.array([0.0, 0.0, 5.0]))
    assert codec.check(p, tokens) is True and steps == 3
    # One vote each: the higher halting Q-value breaks the tie.
    preds = np.stack(
        [encode(augs[0].apply(target)), encode(augs[1].apply(wrong)), encode(augs[2].apply(grid))]
    )
    tokens, _ = codec.combine(p, preds, np.array([1, 1, 1]), np.array([0.1, 0.9, 0.5]))
    assert json.loads(codec.answer_text(tokens)) == wrong.tolist()
