"""Fixtures for the fault tests (plain helpers live in tests/helpers)."""

import pytest
import torch
from helpers import kill_child


@pytest.fixture(scope="session")
def toy_train():
    return kill_child.toy_train_data()


@pytest.fixture(autouse=True)
def _single_thread():
    """Tiny models on a loaded 2-core box: extra intra-op threads only spin; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
