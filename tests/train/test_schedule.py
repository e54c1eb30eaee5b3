import math

import pytest

from hrm_pipeline.train.schedule import lr_factor


def test_warmup_is_linear_and_reaches_one_at_the_last_warmup_step():
    assert lr_factor(0, 100, 10, 0.1) == pytest.approx(0.1)
    assert lr_factor(4, 100, 10, 0.1) == pytest.approx(0.5)
    assert lr_factor(9, 100, 10, 0.1) == pytest.approx(1.0)


def test_cosine_decays_from_one_to_min_ratio():
    assert lr_factor(10, 110, 10, 0.1) == pytest.approx(1.0)
    assert lr_factor(60, 110, 10, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway: cos(pi/2) = 0
    assert lr_factor(110, 110, 10, 0.1) == pytest.approx(0.1)
    assert lr_factor(500, 110, 10, 0.1) == pytest.approx(0.1)  # past the end it stays at the floor
    values = [lr_factor(s, 110, 10, 0.1) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_min_ratio_one_is_constant_after_warmup_and_no_warmup_starts_at_full_rate():
    assert all(lr_factor(s, 50, 5, 1.0) == 1.0 for s in range(5, 60))
    assert lr_factor(0, 50, 0, 0.5) == 1.0
    assert math.isclose(lr_factor(25, 50, 0, 0.0), 0.5, abs_tol=1e-12)
