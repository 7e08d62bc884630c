"""Width-scaling laws with intervals: y(n) = L_∞ + A n^{−p} fitted to per-seed values.

Rotskoff & Vanden-Eijnden (CPAM 2022, §3–4) show that the loss of a mean-field network of
n units exceeds its n → ∞ limit by O(1/n) at fixed time: E L_n(t) = L_∞(t) + A(t)/n + …
(SPEC D2). The law concerns the *mean* over initialisations, so it is fitted to the mean
over seeds of each width's values,

    ȳ(n) ≈ L_∞ + A n^{−p},

weighted by each mean's standard error. (L_∞, A) enter linearly and are solved exactly for
each p (variable projection); p by a bounded least-squares search. Intervals are
percentile bootstrap intervals over seeds (Efron & Tibshirani 1993, §13). With *nested*
units — seed s's network of width n is the first n units of its network of width 2n —
the widths of one seed are correlated, so the bootstrap resamples whole seeds (the same
seed indices in every width, ``paired=True``); independent draws per width resample each
width's seeds on their own.

A fit of medians, or of log y without the offset L_∞, measures a different law; at t = 0
the law is exact with p = 1 (the loss of a mean of n iid units, :func:`~mflab.spherical.
initial_excess`), which the tests use.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from mflab.validation import check_int

#: Bounds of the exponent search (a law outside them is reported at the bound).
P_BOUNDS = (0.05, 8.0)


def variable_projection(design, mean, se, start):
    """Weighted least squares of mean ≈ design(θ) @ coef (Golub & Pereyra, SIAM J. Numer.
    Anal. 10, 1973): the linear coefficients are solved exactly for each θ, the exponents
    θ by a trust-region search within ``P_BOUNDS`` from ``start`` (unbounded, a bootstrap
    replicate can send an exponent where the design overflows).

    Args:
      design: θ ↦ ``(k, m)`` columns; mean, se: ``(k,)`` values and their standard errors
        (weights 1/se); start: the first θ (clipped into the bounds).

    Returns ``(coef, θ, chi2)``, chi2 the weighted residual sum of squares.
    """
    w = 1.0 / se

    def linear(theta):
        X = design(theta) * w[:, None]
        coef, *_ = np.linalg.lstsq(X, mean * w, rcond=None)
        return coef, X @ coef - mean * w

    res = optimize.least_squares(lambda theta: linear(theta)[1],
                                 np.clip(np.atleast_1d(start), *P_BOUNDS), bounds=P_BOUNDS,
                                 xtol=1e-12, ftol=1e-14)
    coef, r = linear(res.x)
    return coef, res.x, float(r @ r)


def _fit(n, mean, se, p0):
    """mean ≈ L + A n^−p by :func:`variable_projection`: returns ([L, A, p], chi2)."""
    (L, A), (p,), chi2 = variable_projection(
        lambda th: np.stack([np.ones_like(n), n ** (-th[0])], axis=1), mean, se, p0)
    return np.array([L, A, p]), chi2


def _stats(values):
    S = values.shape[1]
    se = values.std(axis=1, ddof=1) / np.sqrt(S)
    scale = max(se.max(), 1e-12 * np.abs(values).max(), 1e-300)
    return values.mean(axis=1), np.maximum(se, 1e-12 * scale)


def fit_power_law(n, values, *, paired: bool = True, n_boot: int = 1000,
                  level: float = 0.95, seed: int = 0, start: float = 1.0) -> dict:
    """Fit ȳ(n) = L_∞ + A n^{−p} to per-seed values, with bootstrap intervals.

    Args:
      n: ``(k,)`` distinct widths (k ≥ 4: three parameters and one degree of freedom).
      values: ``(k, S)`` per-seed values at each width (S ≥ 2 seeds, finite).
      paired: resample seeds jointly across widths (nested units: seed s is one unit of
        every width) rather than per width.
      n_boot: bootstrap replicates; level: coverage of the percentile intervals.
      seed: of the bootstrap's generator. start: the exponent the search starts from.

    Returns ``{"L_inf", "A", "p"}`` estimates, ``"intervals"`` {name: (lo, hi)},
    ``"chi2"`` (weighted residual sum of squares; with paired seeds the widths are
    correlated, so it is a diagnostic, not a χ² statistic), ``"dof"`` (k − 3) and
    ``"n_range"`` (smallest, largest width). The means are weighted by their standard
    errors sd/√S (floored at 1e-12 of the largest), in the fit and in every bootstrap
    replicate (fixed weights: a replicate that repeats one seed has no spread of its own).
    """
    n = np.asarray(n, float)
    values = np.asarray(values, float)
    if values.ndim != 2 or values.shape[0] != n.shape[0] or n.ndim != 1:
        raise ValueError(f"values must be (widths, seeds) with one width per row; got "
                         f"values {values.shape}, n {n.shape}.")
    k, S = values.shape
    if k < 4 or S < 2 or len(set(n.tolist())) != k:
        raise ValueError(f"the fit needs >= 4 distinct widths and >= 2 seeds each; got "
                         f"{len(set(n.tolist()))} distinct of {k} widths, {S} seeds.")
    if not np.all(np.isfinite(values)) or np.any(n <= 0):
        raise ValueError("values must be finite and the widths n > 0.")
    n_boot = check_int("n_boot", n_boot)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}.")
    mean, se = _stats(values)
    est, chi2 = _fit(n, mean, se, float(np.clip(start, *P_BOUNDS)))
    rng = np.random.default_rng(seed)
    boots = np.empty((n_boot, 3))
    for i in range(n_boot):  # the weights stay the sample's: they define the estimator
        pick = (np.broadcast_to(rng.integers(0, S, size=S), (k, S)) if paired
                else rng.integers(0, S, size=(k, S)))
        boots[i] = _fit(n, np.take_along_axis(values, pick, axis=1).mean(axis=1), se,
                        est[2])[0]
    lo, hi = np.percentile(boots, [50 * (1 - level), 50 * (1 + level)], axis=0)
    names = ("L_inf", "A", "p")
    return {**dict(zip(names, est.tolist(), strict=True)),
            "intervals": {m: (float(x), float(y)) for m, x, y in zip(names, lo, hi, strict=True)},
            "chi2": chi2, "dof": k - 3, "n_range": (int(n.min()), int(n.max()))}
