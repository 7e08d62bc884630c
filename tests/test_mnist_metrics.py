"""W1 between 1-D empirical laws, against closed forms and the n^(-1/2) sampling rate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from mflab.mnist import w1, w1_to_reference


def _gauss_quantiles(n, mu=0.0, sd=1.0):
    """n points at the mid-quantiles of N(mu, sd²): the best n-point approximation of the law."""
    return mu + sd * norm.ppf((np.arange(n) + 0.5) / n)


def test_translation_is_exact():
    """W1(μ, μ shifted by δ) = |δ| for any 1-D law."""
    a = np.random.default_rng(0).standard_normal(1000)
    for delta in (-2.0, 0.3, 5.0):
        assert w1(a, a + delta) == pytest.approx(abs(delta), rel=1e-12)  # roundoff


def test_two_gaussians_closed_forms():
    rng = np.random.default_rng(1)
    n = 200_000
    a, b = rng.standard_normal(n), 0.7 + rng.standard_normal(n)
    # Equal variances: W1 = |μ1 − μ2| = 0.7. Sampling error of each empirical law is
    # ≈ 1/sqrt(n) ≈ 2e-3 in W1 (E W1(μ_n, μ) ≈ 0.56/sqrt(n) for N(0,1)); 0.01 is ~5 sd.
    assert abs(w1(a, b) - 0.7) < 0.01
    # Unequal variances, same mean: quantiles differ by (σ − 1) Φ⁻¹(u), so
    # W1 = |σ − 1| E|Z| = |σ − 1| sqrt(2/π). Mid-quantile samples have no sampling
    # noise; the tail discretisation error at n = 10⁵ is < 1e-4.
    sigma = 2.5
    exact = (sigma - 1) * np.sqrt(2 / np.pi)
    assert w1(_gauss_quantiles(100_000), _gauss_quantiles(100_000, sd=sigma)) == pytest.approx(
        exact, abs=1e-4
    )


def test_decreases_with_sample_size_at_rate_one_half():
    """Samples of one law: W1(μ_n, μ) → 0 like n^(-1/2) in 1-D (Bobkov & Ledoux 2019, §3)."""
    rng = np.random.default_rng(2)
    ref = _gauss_quantiles(400_000)  # stands for the law itself (error < 1e-5)
    ns = np.array([100, 1000, 10_000, 100_000])
    # mean over 8 draws per n so the fitted slope's noise stays small (sd ~0.03)
    d = np.array([np.mean([w1(rng.standard_normal(n), ref) for _ in range(8)]) for n in ns])
    assert np.all(np.diff(d) < 0)
    slope = np.polyfit(np.log(ns), np.log(d), 1)[0]
    assert -0.6 < slope < -0.4  # theory −1/2; ±0.1 is > 3 sd of the fit
    # w1_to_reference: same numbers keyed by N; the reference against itself is 0.
    samples = {int(n): rng.standard_normal(n) for n in ns}
    got = w1_to_reference({**samples, 0: ref}, ref)
    assert got[0] == 0.0 and list(got) == [*map(int, ns), 0]
    assert got[int(ns[0])] == w1(samples[int(ns[0])], ref)


def test_empty_sample_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        w1([], [1.0])
