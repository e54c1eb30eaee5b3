"""Puzzle strings in, answers out: the public solve / rate / uniqueness functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrm_pipeline.data.sudoku.solver import SHAPE_9, Shape, search, tables_for


@dataclass(frozen=True)
class Analysis:
    """What one search says about a puzzle."""

    solutions: int  # 0, 1, or 2 (= two or more)
    rating: int  # guesses until the first solution
    solution: np.ndarray  # (n*n,) digits of the first solution (zeros if none)


def parse(puzzle: str, shape: Shape = SHAPE_9) -> np.ndarray:
    """An n*n-character puzzle ('.' or '0' blank, digits 1..n) as an int64 digit array."""
    if len(puzzle) != shape.cells:
        raise ValueError(f"a {shape.n}x{shape.n} puzzle has {shape.cells} characters, got {len(puzzle)}")
    out = np.array([0 if ch in ".0" else int(ch) for ch in puzzle], dtype=np.int64)
    if out.max(initial=0) > shape.n:
        raise ValueError(f"digit above {shape.n} in puzzle")
    return out


def to_string(grid: np.ndarray, blank: str = ".") -> str:
    return "".join(blank if d == 0 else str(int(d)) for d in np.asarray(grid).reshape(-1))


def analyse(
    grid: np.ndarray, shape: Shape = SHAPE_9, *, limit: int = 2, forbid_cell: int = -1, forbid_digit: int = 0
) -> Analysis:
    """Search ``grid`` (digits, 0 = blank) up to ``limit`` solutions; rating counts guesses to the first.

    ``forbid_cell``/``forbid_digit``: search only solutions without that digit in that (blank) cell.
    """
    t = tables_for(shape)
    g = np.ascontiguousarray(grid, dtype=np.int64).reshape(-1)
    nsol, first, _total, sol = search(
        g, t.box_cells, t.h_perm, t.v_perm, t.n, t.br, t.bc, limit, False, True, forbid_cell, forbid_digit
    )
    return Analysis(int(nsol), int(first), sol)


def clue_needed(grid: np.ndarray, cell: int, shape: Shape = SHAPE_9) -> bool:
    """Whether the unique puzzle ``grid`` loses its uniqueness without the clue at ``cell``.

    Any other solution of the puzzle without that clue differs from the known one exactly there, so one
    search for a solution with another digit in the cell answers it.
    """
    g = np.array(grid, dtype=np.int64).reshape(-1)
    d = int(g[cell])
    g[cell] = 0
    return analyse(g, shape, limit=1, forbid_cell=int(cell), forbid_digit=d).solutions > 0


def spare_clues(grid: np.ndarray, shape: Shape = SHAPE_9) -> np.ndarray:
    """Clue cells of the unique puzzle ``grid`` that could each go without losing uniqueness (none: minimal
    puzzle)."""
    cells = np.flatnonzero(np.asarray(grid).reshape(-1))
    return np.array([c for c in cells if not clue_needed(grid, int(c), shape)], dtype=np.int64)


def rate(puzzle: str, shape: Shape = SHAPE_9) -> int:
    """Guesses until the FIRST solution (Sudoku-Extreme's difficulty); all guesses made if none exists."""
    return analyse(parse(puzzle, shape), shape, limit=1).rating


def solve(puzzle: str, shape: Shape = SHAPE_9) -> str | None:
    """The solution as an n*n-digit string, or None unless there is exactly one solution."""
    a = analyse(parse(puzzle, shape), shape, limit=2)
    return to_string(a.solution) if a.solutions == 1 else None


def count_solutions(puzzle: str, shape: Shape = SHAPE_9, limit: int = 2) -> int:
    """Number of solutions, counting stops at ``limit``."""
    return analyse(parse(puzzle, shape), shape, limit=limit).solutions
