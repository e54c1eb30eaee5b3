"""In CI (CI=true) a test whose dependency is missing fails instead of skipping, except GPU tests; every
run ends with the list of what it skipped."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
TESTS = """
import pytest

def test_needs_the_shared_data(shared_data):
    assert shared_data.is_dir()

@pytest.mark.gpu
@pytest.mark.skipif(True, reason="needs a CUDA device")
def test_on_a_gpu():
    pass

def test_plain():
    pass
"""


@pytest.fixture
def suite(tmp_path):
    root = tmp_path / "project"  # no ../shared/data beside it
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "conftest.py").write_text(CONFTEST.read_text())
    (root / "tests" / "test_x.py").write_text(TESTS)
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a CUDA device\n")
    return root


def run(root: Path, ci: str | None, workers: int = 0) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", str(workers), "tests"]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_locally_a_missing_dependency_skips_with_its_reason_and_is_listed_last(suite):
    out = run(suite, None)
    assert out.returncode == 0, out.stdout
    summary = out.stdout.split("skipped tests (2)")[1]
    assert "SKIPPED tests/test_x.py::test_needs_the_shared_data: ../shared/data is absent" in summary
    assert "SKIPPED tests/test_x.py::test_on_a_gpu: needs a CUDA device" in summary


@pytest.mark.parametrize("workers", [0, 2], ids=["one process", "two xdist workers"])
def test_in_ci_a_missing_dependency_fails_but_a_gpu_test_may_skip(suite, workers):
    """scripts/test.sh runs the suite on pytest-xdist workers: the skip list must come back from them."""
    out = run(suite, "true", workers)
    assert out.returncode == 1, out.stdout
    assert "1 passed, 1 skipped, 1 error" in out.stdout
    summary = out.stdout.split("skipped tests (2)")[1]
    assert "FAILED (CI) tests/test_x.py::test_needs_the_shared_data: ../shared/data is absent" in summary
    assert "SKIPPED tests/test_x.py::test_on_a_gpu" in summary
