"""Maze-Hard (maze-30x30-hard-1k): generator, official labeller, imports, schema and evaluation helpers.

See docs/CONTRACTS.md for the dataset-module contract and /work/shared/reference/datasets.md for the facts the
generator is calibrated against.
"""

from hrm_pipeline.data.maze.dataset import MazeConfig, build_tables, leakage_key, schema
from hrm_pipeline.data.maze.generate import generate_split
from hrm_pipeline.data.maze.grid import (
    CHARS,
    VOCAB_SIZE,
    decode,
    dihedral,
    dihedral_compose,
    dihedral_inverse,
    dihedral_tokens,
    encode,
    exact_match,
    label,
    label_tokens,
    path_moves,
    valid_optimal_path,
)
from hrm_pipeline.data.maze.split import load_import

__all__ = [
    "CHARS",
    "VOCAB_SIZE",
    "MazeConfig",
    "build_tables",
    "decode",
    "dihedral",
    "dihedral_compose",
    "dihedral_inverse",
    "dihedral_tokens",
    "encode",
    "exact_match",
    "generate_split",
    "label",
    "label_tokens",
    "leakage_key",
    "load_import",
    "path_moves",
    "schema",
    "valid_optimal_path",
]
