"""Distances between the 1-D empirical laws of the hidden units (SPEC A4's number)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import wasserstein_distance


def w1(a, b) -> float:
    """Wasserstein-1 distance between the empirical laws of 1-D samples ``a`` and ``b``.

        W1(μ_a, μ_b) = ∫ |F_a(t) − F_b(t)| dt,

    F the empirical CDFs (scipy.stats.wasserstein_distance). For two Gaussians with
    equal variance it is |μ_1 − μ_2|; for samples of one law it decreases to 0 with
    the sample size (like n^{-1/2} in 1-D for laws with finite 2+δ moments).
    """
    a = np.ravel(np.asarray(a, dtype=np.float64))
    b = np.ravel(np.asarray(b, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        raise ValueError(f"w1 needs non-empty samples; got sizes {a.size} and {b.size}.")
    return float(wasserstein_distance(a, b))


def w1_to_reference(samples_by_N: Mapping[int, np.ndarray], ref) -> dict[int, float]:
    """W1 distance of each N's sample to a reference sample (SPEC A4).

    Typical use: ``samples_by_N = {N: c_i at epoch e}`` and ``ref`` the largest-N
    sample at the same epoch (its own entry then gives 0). Under the law of large
    numbers (Sirignano & Spiliopoulos 2020, Thm 1) the empirical laws of the c_i
    converge to one N-independent law, so the distances shrink as N grows, down to
    the reference's own sampling noise.

    Args:
      samples_by_N: ``{N: 1-D array}`` (any array is flattened).
      ref: 1-D reference sample.

    Returns:
      ``{N: W1(samples_by_N[N], ref)}``, in the order of ``samples_by_N``.
    """
    return {int(N): w1(s, ref) for N, s in samples_by_N.items()}
