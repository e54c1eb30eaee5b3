"""Which stage failures the flows retry: only those a second try can fix (a crash, an unreachable store)."""

import sys
from pathlib import Path

import pytest
from prefect.states import Failed

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's flows/ package
from flows.stage_tasks import _worth_retrying  # noqa: E402
from hrm_pipeline.config import ConfigError  # noqa: E402
from hrm_pipeline.errors import InputError  # noqa: E402
from hrm_pipeline.train.loop import TrainingDiverged  # noqa: E402


def failed_with(err: BaseException):
    return Failed(data=err, message=str(err))


@pytest.mark.parametrize(
    "err",
    [
        TrainingDiverged("non-finite loss after 3 restores with a lowered lr"),
        InputError("no trained model"),
        ConfigError("train.lr: not a number"),
        FileNotFoundError("data/sudoku/metadata.json"),
    ],
)
def test_failures_that_repeat_on_the_same_input_are_not_retried(err):
    assert _worth_retrying(None, None, failed_with(err)) is False


@pytest.mark.parametrize(
    "err", [ConnectionError("mlflow unreachable"), RuntimeError("killed by the OOM killer")]
)
def test_transient_failures_are_retried(err):
    assert _worth_retrying(None, None, failed_with(err)) is True
