"""Shared tiny fixtures for the training tests: a small model config and a toy dataset."""

from __future__ import annotations

import pytest

from hrm_pipeline.data.toy import ToySudokuConfig, build_toy
from hrm_pipeline.model import HRMConfig


def tiny_model_config(num_puzzle_identifiers: int = 1, **overrides) -> HRMConfig:
    fields = dict(
        vocab_size=6,
        seq_len=16,
        num_puzzle_identifiers=num_puzzle_identifiers,
        hidden_size=32,
        num_heads=2,
        H_layers=1,
        L_layers=1,
        H_cycles=2,
        L_cycles=2,
        puzzle_emb_ndim=0,
        halt_max_steps=3,
    )
    fields.update(overrides)
    return HRMConfig(**fields)


@pytest.fixture(scope="session")
def toy_data():
    return build_toy(ToySudokuConfig(seed=0, test_grids=48, puzzles_per_grid=4))


@pytest.fixture
def tiny_cfg():
    """The factory ``tiny_model_config(**overrides)`` (a fixture: test folders are not packages)."""
    return tiny_model_config
