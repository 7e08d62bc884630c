"""The weak-error estimators (issue 23) against synthetic biases of known form."""

import numpy as np
import pytest

from mflab.meanfield.weak_error import extrapolate, fit_weak_error


def test_richardson_in_eps_recovers_a_known_linear_bias():
    # B(ε) = A + bε + cε²: two step sizes remove the linear term exactly and leave −cε²/2
    A, b, c = 0.0123, 80.0, -3.0e4
    eps = np.array([4e-4, 1e-4, 2.5e-5])

    def B(e):
        return A + b * e + c * e**2

    np.testing.assert_allclose(extrapolate(B(eps), B(eps / 2)), A - c * eps**2 / 2,
                               rtol=0, atol=1e-15)
    # a purely linear bias is removed exactly, per seed and for any ratio
    seeds = np.random.default_rng(0).normal(size=(2, 8)) * 1e-3
    lin = A + seeds[0]
    np.testing.assert_allclose(extrapolate(lin + b * 1e-4, lin + b * 1e-4 / 3, ratio=3), lin,
                               rtol=0, atol=1e-14)
    # a bias of order q = 2 with order=2
    np.testing.assert_allclose(extrapolate(A + c * eps**2, A + c * (eps / 2) ** 2, order=2),
                               A, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="ratio must be > 1"):
        extrapolate(1.0, 1.0, ratio=0.5)


def _cells():
    N = np.repeat(100.0 * 2.0 ** np.arange(8), 3)  # 100 … 12 800
    eps = np.tile([2.5e-5, 1e-4, 4e-4], 8)
    return N, eps


def test_the_joint_fit_recovers_exponents_exactly_from_exact_cell_means():
    # per-seed deviations of zero mean in every cell: the means are the law itself
    N, eps = _cells()
    law = 3.0 / N**0.9 + 80.0 * eps**1.1
    dev = 1e-3 * np.tile([1.0, -1.0, 2.0, -2.0], (N.size, 1))
    fit = fit_weak_error(N, eps, law[:, None] + dev, n_boot=20, start=(0.7, 1.3))
    for name, true in (("a", 3.0), ("p", 0.9), ("b", 80.0), ("q", 1.1)):
        assert fit[name] == pytest.approx(true, rel=1e-6), name
    assert fit["chi2"] < 1e-10 and fit["dof"] == N.size - 4


def test_the_joint_fit_and_its_intervals_on_noisy_seeds_contain_the_law():
    # the weak-error law a/N + bε with per-run fluctuations of sd 0.2/√N (16 seeds a cell):
    # the estimates sit within their 95 % bootstrap intervals of the truth, and the
    # residuals are those of the noise (χ² ≈ degrees of freedom). Over 40 such data sets
    # (seeds 100…139, measured once) the intervals covered the truth 93–95 % of the time.
    N, eps = _cells()
    rng = np.random.default_rng(7)
    bias = (3.0 / N + 80.0 * eps)[:, None] + rng.normal(size=(N.size, 16)) * (
        0.2 / np.sqrt(N))[:, None]
    fit = fit_weak_error(N, eps, bias, n_boot=200, seed=1)
    for name, true in (("a", 3.0), ("p", 1.0), ("b", 80.0), ("q", 1.0)):
        lo, hi = fit["intervals"][name]
        assert lo < true < hi and lo < fit[name] < hi, (name, fit[name], lo, hi)
    assert 0.3 * fit["dof"] < fit["chi2"] < 2.5 * fit["dof"]
    assert fit["intervals"]["p"][1] - fit["intervals"]["p"][0] < 0.5


def test_the_fit_refuses_too_little_data():
    N, eps = _cells()
    with pytest.raises(ValueError, match=">= 5 cells"):
        fit_weak_error(N[:4], eps[:4], np.ones((4, 3)))
    with pytest.raises(ValueError, match="bias must be"):
        fit_weak_error(N, eps, np.ones((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        fit_weak_error(N, eps, np.full((N.size, 3), np.nan))
