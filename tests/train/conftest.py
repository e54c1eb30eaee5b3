"""Fixtures for the training tests: a toy dataset and the tiny model config (tests/helpers/train.py)."""

from __future__ import annotations

import pytest
from helpers.train import tiny_model_config

from hrm_pipeline.data.toy import ToySudokuConfig, build_toy


@pytest.fixture(scope="session")
def toy_data():
    return build_toy(ToySudokuConfig(seed=0, test_grids=48, puzzles_per_grid=4))


@pytest.fixture
def tiny_cfg():
    """The factory ``tiny_model_config(**overrides)``."""
    return tiny_model_config
