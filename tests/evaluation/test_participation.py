"""The participation ratio on clouds whose covariance is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_pipeline.evaluation.participation import (
    participation_ratio,
    participation_ratio_of_covariance,
)


def test_isotropic_cloud_in_d_dimensions_has_pr_d():
    d = 7
    # +-e_i for every axis: the sample covariance is exactly a multiple of the identity.
    samples = np.concatenate([np.eye(d), -np.eye(d)])
    assert participation_ratio(samples) == pytest.approx(d)
    assert participation_ratio_of_covariance(np.eye(d)) == pytest.approx(d)


def test_a_line_has_pr_one_whatever_its_direction_and_scale():
    direction = np.random.default_rng(0).normal(size=12)
    samples = np.linspace(-3, 5, 9)[:, None] * direction
    assert participation_ratio(samples) == pytest.approx(1.0)


def test_known_unequal_variances():
    # Variances 3 and 1 on two axes: PR = (3 + 1)^2 / (9 + 1) = 1.6.
    a, b = np.sqrt(3.0), 1.0
    samples = np.array([[a, 0], [-a, 0], [0, b], [0, -b]])
    assert participation_ratio(samples) == pytest.approx(1.6)
    assert participation_ratio_of_covariance(np.diag([3.0, 1.0])) == pytest.approx(1.6)


def test_few_samples_in_many_dimensions_match_the_eigenvalue_definition():
    # N < D takes the Gram-matrix path; compare with the covariance's eigenvalues, states shaped (N, S, D).
    states = np.random.default_rng(1).normal(size=(6, 4, 5)) * np.arange(1, 6)
    eig = np.linalg.eigvalsh(np.cov(states.reshape(6, -1), rowvar=False))
    expected = eig.sum() ** 2 / (eig**2).sum()
    assert participation_ratio(states) == pytest.approx(expected)
    assert participation_ratio(states) <= 6 - 1 + 1e-9  # at most N - 1 directions carry variance


def test_shifting_every_sample_changes_nothing():
    samples = np.random.default_rng(2).normal(size=(50, 3))
    assert participation_ratio(samples + 100.0) == pytest.approx(participation_ratio(samples))


def test_degenerate_inputs():
    assert np.isnan(participation_ratio(np.ones((4, 3))))
    with pytest.raises(ValueError, match="at least 2"):
        participation_ratio(np.ones((1, 3)))
