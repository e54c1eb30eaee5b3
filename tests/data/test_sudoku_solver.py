"""Solver, rater and uniqueness on real and constructed puzzles."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest

from hrm_pipeline.data.sudoku import (
    SHAPE_9,
    Shape,
    analyse,
    count_solutions,
    random_puzzle,
    rate,
    solve,
    valid_grids,
)
from hrm_pipeline.data.sudoku.api import parse, spare_clues

# A puzzle solved by singles alone (no guess needed): a full grid with a few cells blanked.
SOLVED = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
TWO_SOLUTIONS = "." * 81  # the empty grid has many solutions


def _rows(path, limit: int) -> list[dict[str, str]]:
    with gzip.open(path, "rt") as fh:
        return [r for _, r in zip(range(limit), csv.DictReader(fh), strict=False)]


def _valid(s: str, shape: Shape = SHAPE_9) -> bool:
    return bool(valid_grids(np.array([[int(c) for c in s]]), shape)[0])


@pytest.mark.parametrize("name", ["sudoku_extreme_train_1k", "forum_hardest_1106", "magictour_top1465"])
def test_solve_returns_valid_grid_agreeing_with_givens_on_real_puzzles(shared_data, name):
    for r in _rows(shared_data / "sudoku" / f"{name}.csv.gz", 60):
        sol = solve(r["question"])
        assert sol is not None and _valid(sol)
        assert all(q in ".0" or q == s for q, s in zip(r["question"], sol, strict=True))
        assert sol == r["answer"]


def test_rating_matches_official_tdoku_rating_on_train_sample(shared_data):
    rows = _rows(shared_data / "sudoku" / "sudoku_extreme_train_1k.csv.gz", 200)
    mine = np.array([rate(r["question"]) for r in rows])
    official = np.array([int(r["rating"]) for r in rows])
    assert (mine == official).mean() >= 0.95  # measured 99.4% exact on the full 1k sample


def test_solve_is_none_for_two_solutions_and_for_contradiction():
    assert solve(TWO_SOLUTIONS) is None
    assert count_solutions(TWO_SOLUTIONS) == 2
    # two 5s in the first row: no solution
    bad = "55" + "." * 79
    assert solve(bad) is None and count_solutions(bad) == 0
    # a 9 at (1,8) repeats the 9 given at (0,6) in the same box
    blocked = SOLVED[:8] + "." + "." * 8 + "9" + "." * 63
    assert count_solutions(blocked) == 0


def test_blanking_a_swappable_rectangle_gives_exactly_two_solutions():
    # a rectangle over two boxes of one band whose corner digits can swap ("deadly pattern")
    puzzle = list(SOLVED)
    g = np.array([int(c) for c in SOLVED]).reshape(9, 9)
    found = False
    for r1 in range(9):
        for r2 in range(r1 + 1, 9):
            if r1 // 3 != r2 // 3:
                continue
            for c1 in range(9):
                for c2 in range(c1 + 1, 9):
                    if c1 // 3 == c2 // 3:
                        continue
                    if g[r1, c1] == g[r2, c2] and g[r1, c2] == g[r2, c1]:
                        for r, c in ((r1, c1), (r1, c2), (r2, c1), (r2, c2)):
                            puzzle[r * 9 + c] = "."
                        found = True
                        break
                if found:
                    break
            if found:
                break
        if found:
            break
    assert found
    assert count_solutions("".join(puzzle)) == 2 and solve("".join(puzzle)) is None


def test_rate_is_deterministic_and_zero_on_a_singles_only_puzzle():
    easy = "." + SOLVED[1:40] + "." + SOLVED[41:80] + "."
    assert rate(easy) == 0 and solve(easy) == SOLVED
    hard = "........8..3...4...9..2..6.....79.......612...6.5.2.7...8...5...1.....2.4.5.....3"
    assert rate(hard) == rate(hard) > 0


def test_general_box_shapes_solve_through_the_same_code():
    for shape in (Shape(2, 3), Shape(2, 2)):
        a = solve("." * shape.cells, shape)
        assert a is None  # the empty grid is not unique
        assert count_solutions("." * shape.cells, shape) == 2
    six = Shape(2, 3)
    grid = "123456456123312645645312231564564231"
    assert _valid(grid, six)
    puzzle = "." + grid[1:20] + "." + grid[21:]
    assert solve(puzzle, six) == grid and rate(puzzle, six) == 0
    with pytest.raises(ValueError):
        parse("1" * 80)


def test_forbidding_the_known_digit_finds_the_other_solution_or_proves_uniqueness():
    rng = np.random.default_rng(11)
    p = random_puzzle(SHAPE_9, rng)
    for cell in np.flatnonzero(p.puzzle)[:6]:
        grid = p.puzzle.copy()
        grid[cell] = 0
        other = analyse(grid, SHAPE_9, limit=1, forbid_cell=int(cell), forbid_digit=int(p.solution[cell]))
        # p is minimal: every clue is needed, so without it a second solution exists and differs at the cell
        assert other.solutions == 1 and other.solution[cell] != p.solution[cell]
        assert valid_grids(other.solution[None], SHAPE_9)[0]
        assert ((grid == 0) | (other.solution == grid)).all()
    full = p.solution.copy()
    full[0] = 0
    assert analyse(full, SHAPE_9, limit=1, forbid_cell=0, forbid_digit=int(p.solution[0])).solutions == 0


def test_spare_clues_are_exactly_those_uniqueness_does_not_need():
    rng = np.random.default_rng(5)
    p = random_puzzle(SHAPE_9, rng)  # minimal by construction
    assert spare_clues(p.puzzle, SHAPE_9).size == 0
    blank = int(np.flatnonzero(p.puzzle == 0)[0])
    padded = p.puzzle.copy()
    padded[blank] = p.solution[blank]
    spare = spare_clues(padded, SHAPE_9)
    assert blank in spare  # the added clue can go again
    for cell in spare:  # and each listed clue really can: one solution without it
        g = padded.copy()
        g[cell] = 0
        assert analyse(g, SHAPE_9).solutions == 1
    for cell in set(np.flatnonzero(padded).tolist()) - set(spare.tolist()):
        g = padded.copy()
        g[cell] = 0
        assert analyse(g, SHAPE_9).solutions == 2
