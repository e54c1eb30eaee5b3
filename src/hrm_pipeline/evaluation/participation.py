"""The participation ratio (PR): the effective dimensionality of a cloud of states, the paper's brain analogy.

PR = (sum_i l_i)^2 / sum_i l_i^2 over the eigenvalues l_i of the states' covariance: d when the variance
spreads evenly over d directions, 1 when it lies along one. The paper reports PR(z_H) ~ 89.95 vs PR(z_L)
~ 30.22 over test puzzles (a dimensionality hierarchy that is absent at initialisation).

NOTE: which states: one sample per test puzzle, its final-segment z_H (or z_L) over the grid positions (the
puzzle-embedding positions left out), flattened to positions x hidden. Puzzles are the trials and every unit
at every position a "neuron", as in the population analyses the paper borrows from; with N puzzles the PR is
at most N - 1, so compare PRs measured over the same number of puzzles.
"""

from __future__ import annotations

import numpy as np

FLOAT64_MAX_VALUES = 1 << 26  # 512 MiB of float64 samples


def participation_ratio(samples: np.ndarray) -> float:
    """PR of the sample covariance of ``samples`` (N, ...): each row one sample, flattened.

    Only traces are needed: (sum l)^2 = tr(C)^2 and sum l^2 = tr(C^2) = ||C||_F^2, and the N x N Gram matrix
    X X^T has the same non-zero spectrum as X^T X, so no eigendecomposition and no D x D matrix at large D.
    """
    samples = np.asarray(samples)
    # float64 where it fits; the paper-size maze states (512 x 900 x 512) would take 1.9 GB, so float32 there.
    dtype = np.float64 if samples.size <= FLOAT64_MAX_VALUES else np.float32
    x = samples.astype(dtype, copy=False).reshape(len(samples), -1)
    if x.shape[0] < 2:
        raise ValueError(f"the participation ratio needs at least 2 samples, got {x.shape[0]}")
    x = x - x.mean(axis=0)
    gram = (x @ x.T if x.shape[0] <= x.shape[1] else x.T @ x).astype(np.float64)  # the smaller of the two
    denom = float(np.sum(gram * gram))
    if denom == 0.0:
        return float("nan")  # every sample identical: no variance to spread
    return float(np.trace(gram) ** 2 / denom)


def participation_ratio_of_covariance(cov: np.ndarray) -> float:
    """PR of a given covariance matrix (symmetric, positive semi-definite)."""
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"a covariance matrix is square, got shape {cov.shape}")
    denom = float(np.sum(cov * cov))
    return float(np.trace(cov) ** 2 / denom) if denom else float("nan")
