"""The weak error of SGD against the distributional dynamics: bias = a N^−p + b ε^q.

Mei, Montanari & Nguyen's Theorem 2.1 bounds the *strong* error — |R_N(θ_{t/ε}) − R(ρ_t)|
for one run — by K e^{KT} sqrt(max(1/N, ε)) (up to log factors). The *bias* of the risk,
its mean over seeds,

    B(N, ε) = E R_N(θ_{t/ε}) − R(ρ_t) ≈ a N^{−p} + b ε^q,

is what mflab's data point to (issue 23: floors linear in ε at large N), with p = q = 1
expected of a weak error. This module holds the two estimators a study of that law needs:

* :func:`extrapolate` — Richardson in ε (or in 1/N) from two step sizes: with a bias
  a + b ε^q, the runs at ε and ε/r give the ε → 0 limit (the N-term alone);
* :func:`fit_weak_error` — the joint fit of a N^{−p} + b ε^q to per-seed biases of many
  (N, ε) cells, weighted by each cell's standard error, with bootstrap intervals over
  seeds.

References: Mei, Montanari & Nguyen, PNAS 115 (2018), Thm. 2.1; Richardson, Phil. Trans.
A 210 (1911); Efron & Tibshirani, *An Introduction to the Bootstrap* (1993), §13
(percentile intervals).
"""

from __future__ import annotations

import numpy as np

from mflab.scaling import variable_projection
from mflab.validation import check_int, check_positive


def extrapolate(coarse, fine, *, ratio: float = 2.0, order: float = 1.0):
    """The h → 0 limit of a quantity with error b h^q from its values at h and h/r:

        limit = (r^q · fine − coarse) / (r^q − 1)

    (q = 1, r = 2: 2 B(ε/2) − B(ε)). Exact for a bias a + b h^q; a further term c h^{q'}
    leaves c h^{q'} (r^{q−q'} − 1)/(r^q − 1) (e.g. −c h²/2 for q = 1, q' = 2, r = 2).
    Elementwise, so paired per-seed values give per-seed limits (their mean and standard
    error then carry the pairing).
    """
    ratio, order = check_positive("ratio", ratio), check_positive("order", order)
    if ratio <= 1:
        raise ValueError(f"ratio must be > 1 (fine = h/ratio); got {ratio}.")
    g = ratio**order
    return (g * np.asarray(fine, float) - np.asarray(coarse, float)) / (g - 1.0)


def _design(N, eps, p, q):
    return np.stack([np.power(N, -p), np.power(eps, q)], axis=1)


def _fit(N, eps, mean, se, start):
    """mean ≈ a N^−p + b ε^q by :func:`mflab.scaling.variable_projection` ((a, b) exact
    for each (p, q), the exponents bounded): returns ([a, p, b, q], chi2)."""
    (a, b), (p, q), chi2 = variable_projection(lambda pq: _design(N, eps, *pq), mean, se,
                                               start)
    return np.array([a, p, b, q]), chi2


def fit_weak_error(N, eps, bias, *, n_boot: int = 1000, level: float = 0.95,
                   seed: int = 0, start=(1.0, 1.0)) -> dict:
    """Fit B(N, ε) = a N^{−p} + b ε^q to per-seed biases, with bootstrap intervals.

    Args:
      N, eps: ``(k,)`` the cells' widths and step sizes (at least 5 cells, both N and ε
        taking at least 2 values).
      bias: ``(k, S)`` per-seed bias R_N − R(ρ_t) of each cell (S ≥ 2 seeds; NaN-free).
      n_boot: bootstrap replicates — each resamples the S seeds of every cell with
        replacement and refits; level: the intervals' coverage (percentile intervals).
      seed: of the bootstrap's generator. start: (p, q) where the search starts.

    Returns ``{"a", "p", "b", "q"}`` estimates, ``"intervals"`` {name: (lo, hi)}, ``"chi2"``
    (weighted residual sum of squares, ≈ k − 4 when the model holds) and ``"dof"``. The
    cell means are weighted by their standard errors sd/√S (floored at 1e-12 of the
    largest), in the fit and in every bootstrap replicate (fixed weights: a replicate that
    repeats one seed has no spread of its own).
    """
    N, eps = np.asarray(N, float), np.asarray(eps, float)
    bias = np.asarray(bias, float)
    if bias.ndim != 2 or bias.shape[0] != N.shape[0] or eps.shape != N.shape:
        raise ValueError(f"bias must be (cells, seeds) with one N and one eps per cell; got "
                         f"bias {bias.shape}, N {N.shape}, eps {eps.shape}.")
    k, S = bias.shape
    if k < 5 or S < 2 or len(set(N)) < 2 or len(set(eps)) < 2:
        raise ValueError(f"the fit needs >= 5 cells with >= 2 values of N and of eps and >= 2 "
                         f"seeds each; got {k} cells, {len(set(N))} N, {len(set(eps))} eps, "
                         f"{S} seeds.")
    if not np.all(np.isfinite(bias)) or np.any(N <= 0) or np.any(eps <= 0):
        raise ValueError("bias must be finite and N, eps > 0.")
    n_boot = check_int("n_boot", n_boot)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}.")

    def stats(b):
        se = b.std(axis=1, ddof=1) / np.sqrt(S)
        return b.mean(axis=1), np.maximum(se, 1e-12 * max(se.max(), 1e-300))

    mean, se = stats(bias)
    est, chi2 = _fit(N, eps, mean, se, np.asarray(start, float))
    rng = np.random.default_rng(seed)
    boots = np.empty((n_boot, 4))
    for i in range(n_boot):  # the weights stay the sample's: they define the estimator
        pick = rng.integers(0, S, size=(k, S))
        boots[i] = _fit(N, eps, np.take_along_axis(bias, pick, axis=1).mean(axis=1), se,
                        est[[1, 3]])[0]
    lo, hi = np.percentile(boots, [50 * (1 - level), 50 * (1 + level)], axis=0)
    names = ("a", "p", "b", "q")
    return {**dict(zip(names, est.tolist(), strict=True)),
            "intervals": {n: (float(x), float(y)) for n, x, y in zip(names, lo, hi, strict=True)},
            "chi2": chi2, "dof": k - 4}
