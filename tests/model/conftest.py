"""Fixtures for the model tests (the plain helpers are in tests/helpers/model.py)."""

from __future__ import annotations

import pytest
import torch
from helpers.model import tiny_config

from hrm_pipeline.model import HRMConfig


@pytest.fixture(autouse=True)
def _single_thread():
    """Tiny models gain nothing from intra-op threads, and on a loaded 2-core box thread contention made
    them ~30x slower; restored after each test so other packages' tests are unaffected."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cfg() -> HRMConfig:
    return tiny_config()
