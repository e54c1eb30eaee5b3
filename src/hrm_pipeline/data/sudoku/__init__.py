"""Sudoku-Extreme data: a tdoku-compatible solver/rater, a rating-mix generator, symmetry and tables.

Public API: ``rate``, ``solve``, ``count_solutions`` on n*n-character puzzle strings ('.' or '0' blank);
the dataset module contract (``SudokuConfig``, ``build_tables``, ``schema``, ``leakage_key``).
"""

from hrm_pipeline.data.sudoku.api import Analysis, analyse, count_solutions, parse, rate, solve, to_string
from hrm_pipeline.data.sudoku.dataset import (
    SudokuConfig,
    build_tables,
    check_variety,
    leakage_key,
    read_csv,
    schema,
    valid_grids,
)
from hrm_pipeline.data.sudoku.generate import MixGenerator, Puzzle, SearchParams, random_puzzle
from hrm_pipeline.data.sudoku.solver import SHAPE_9, Shape
from hrm_pipeline.data.sudoku.symmetry import apply_transform, canonical_form, canonical_key, random_transform

__all__ = [
    "SHAPE_9",
    "Analysis",
    "MixGenerator",
    "Puzzle",
    "SearchParams",
    "Shape",
    "SudokuConfig",
    "analyse",
    "apply_transform",
    "build_tables",
    "canonical_form",
    "canonical_key",
    "count_solutions",
    "check_variety",
    "leakage_key",
    "parse",
    "random_puzzle",
    "random_transform",
    "rate",
    "read_csv",
    "schema",
    "solve",
    "to_string",
    "valid_grids",
]
