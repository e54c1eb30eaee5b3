"""The datasets the pipeline knows, by name: each a subpackage with the contract of docs/CONTRACTS.md."""

from __future__ import annotations

import importlib
from types import ModuleType

DATASETS = ("sudoku", "maze", "arc")


def dataset_module(name: str) -> ModuleType:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return importlib.import_module(f"hrm_pipeline.data.{name}")
