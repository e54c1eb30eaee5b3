"""The schedule equals the reference's: 1-based step s = step + 1; warmup s / W for s < W; then a cosine over
(s - W) / max(1, N - W), clipped at 1. Expected values computed by hand from those formulas."""

import math

import pytest

from hrm_pipeline.train.schedule import lr_factor

N, W, FLOOR = 110, 10, 0.1


def _cosine(progress: float) -> float:
    return FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))


def test_warmup_is_linear_from_the_first_step():
    assert lr_factor(0, N, W, FLOOR) == pytest.approx(0.1)  # s = 1: 1/10
    assert lr_factor(4, N, W, FLOOR) == pytest.approx(0.5)  # s = 5
    assert lr_factor(8, N, W, FLOOR) == pytest.approx(0.9)  # s = 9, the last warmup step


def test_boundary_step_starts_the_cosine_at_full_rate():
    assert lr_factor(9, N, W, FLOOR) == pytest.approx(1.0)  # s = W: progress 0
    # One step later the cosine has already moved: progress 1/100 (the old schedule returned 1.0 here).
    assert lr_factor(10, N, W, FLOOR) == pytest.approx(_cosine(0.01))
    assert lr_factor(10, N, W, FLOOR) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 100)))


def test_middle_and_end_of_the_cosine():
    assert lr_factor(59, N, W, FLOOR) == pytest.approx(0.1 + 0.9 * 0.5)  # s = 60: progress 1/2, cos = 0
    assert lr_factor(34, N, W, FLOOR) == pytest.approx(_cosine(0.25))  # s = 35
    assert lr_factor(108, N, W, FLOOR) == pytest.approx(_cosine(0.99))  # s = 109
    assert lr_factor(109, N, W, FLOOR) == pytest.approx(FLOOR)  # s = N: the last step is at the floor
    assert lr_factor(500, N, W, FLOOR) == pytest.approx(FLOOR)  # clipped past the end
    values = [lr_factor(s, N, W, FLOOR) for s in range(W - 1, N)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


def test_min_ratio_one_is_constant_after_warmup_and_no_warmup_starts_on_the_cosine():
    assert all(lr_factor(s, 50, 5, 1.0) == 1.0 for s in range(4, 60))
    # W = 0: s = 1 is already progress 1/50, as in the reference.
    assert lr_factor(0, 50, 0, 0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 50)))
    assert math.isclose(lr_factor(24, 50, 0, 0.0), 0.5, abs_tol=1e-12)  # s = 25: half way
