"""The statistics of a comparison: records, units, bands, samples to target, paired tests.

* **Records** (:func:`record_steps`): geometric in steps with ratio at most
  ``record_ratio`` (≤ 1.2), so the record after a target crossing is within 20 % of the
  crossing; :func:`crossing` then interpolates linearly in (log samples, log score).
* **Units** (:func:`unit_scores`): an ensemble is one unit: its replicas' scores are
  averaged before any statistic, so R coupled replicas never count as R seeds.
* **Paired tests** (:func:`paired_test`): methods share each seed's start and data stream,
  so a method is compared with the reference seed by seed — Wilcoxon's signed-rank test
  on the differences (two-sided; scipy's exact distribution for small samples).

Reference: SPEC C5 (revised); Wilcoxon, Biometrics Bulletin 1, 1945.
"""

from __future__ import annotations

import math

import numpy as np


def lower_median(values) -> float:
    """The lower median: the middle value, and of an even count the lower of the two middle
    ones — a value the sample has. (Final energies of Müller–Brown cluster at the minima
    −146.7, −108.2, −80.8: the usual midpoint of two middle values can be an energy no agent
    has.)"""
    return float(np.quantile(np.asarray(values, float), 0.5, method="lower"))


def record_steps(n_steps: int, ratio: float, first: float, align: int = 1) -> tuple[int, ...]:
    """Run-relative record steps in (0, n_steps) (0 and ``n_steps`` are recorded by the
    driver): from ⌈first·n_steps⌉, each the largest step at most ``ratio`` times the one
    before (at least one more), so no gap between records exceeds ``ratio`` where steps
    allow (below 1/(ratio − 1) steps every step is a record). Steps ≥ 20·``align`` are
    rounded down to multiples of ``align`` (the fast path's block)."""
    s = max(1, math.ceil(first * n_steps))
    out = []
    while s < n_steps:
        out.append(s)
        nxt = math.floor(s * ratio)
        if align > 1 and nxt >= 20 * align:
            nxt = (nxt // align) * align
        s = max(nxt, s + 1)
    return tuple(out)


def unit_scores(scores: np.ndarray) -> np.ndarray:
    """(seeds, records, replicas) → (seeds, records): one unit per seed, the mean over
    its ensemble's replicas."""
    s = np.asarray(scores, np.float64)
    if s.ndim != 3:
        raise ValueError(f"scores must be (seeds, records, replicas); got shape {s.shape}.")
    return s.mean(axis=2)


def quantiles(values, qs, axis=None) -> np.ndarray:
    """``np.quantile`` (linear interpolation) that treats ±inf as values beyond every
    finite one: a quantile that falls between a finite and an infinite order statistic, or
    between two infinite ones, is infinite (not NaN). NaNs are not expected."""
    v = np.asarray(values, np.float64)
    fin = v[np.isfinite(v)]
    lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 0.0)
    pad = 1.0 + hi - lo
    q = np.quantile(np.clip(v, lo - pad, hi + pad), qs, axis=axis)
    return np.where(q > hi, np.inf, np.where(q < lo, -np.inf, q))


def band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, 25 %, 75 %) over units, per record (``values``: (units, records))."""
    q = quantiles(values, [0.5, 0.25, 0.75], axis=0)
    return q[0], q[1], q[2]


def crossing(samples, values, target: float, higher: bool = False) -> float:
    """Samples at which one unit's curve first meets the target (``values ≤ target``, or
    ``≥`` when ``higher``), interpolated linearly in log(samples) against log(value)
    (the value itself when ``higher``) between the two records that bracket it; +inf if
    never met, the first record's samples if met there."""
    v = np.asarray(values, np.float64)
    s = np.asarray(samples, np.float64)
    ok = (v >= target) if higher else (v <= target)
    if not ok.any():
        return math.inf
    r = int(np.argmax(ok))
    if r == 0 or s[r - 1] <= 0 or not np.isfinite(v[r - 1]):
        return float(s[r])
    f = (lambda x: x) if higher else (lambda x: np.log(np.maximum(x, 1e-300)))
    a, b = f(v[r - 1]), f(v[r])
    w = 1.0 if a == b else (f(target) - a) / (b - a)
    return float(np.exp(np.log(s[r - 1]) + w * (np.log(s[r]) - np.log(s[r - 1]))))


def _snap(a: np.ndarray) -> np.ndarray:
    """``a`` ≥ 0 with each value (in increasing order) closer than 1e-12 of the largest to
    the one below it merged into that one, starting from 0, so that differences equal up to
    floating-point rounding share one rank, and those that small are zero."""
    out = a.copy()
    tol, prev = 1e-12 * a.max(), 0.0
    for i in np.argsort(a):
        if a[i] - prev <= tol:
            out[i] = prev
        prev = out[i]
    return out


def _asymptotic_name() -> str:
    """scipy's name of the normal approximation in ``wilcoxon``: "approx" before 1.15."""
    from scipy.stats import wilcoxon

    try:
        wilcoxon([1.0, 2.0, 3.0], method="asymptotic")
    except ValueError:
        return "approx"
    return "asymptotic"


def paired_test(x, y) -> dict[str, float]:
    """Wilcoxon signed-rank test of the paired samples ``x`` (a method) and ``y`` (the
    reference), seed by seed: the two-sided p-value, the median difference x − y and the
    number of pairs. Pairs where either is NaN are dropped; infinite values (never reached
    the target) are ranked beyond every finite one through their order alone. p is NaN
    for fewer than 2 informative pairs, 1 when every pair is tied. Zero differences are
    dropped (Wilcoxon 1945); p is exact for up to 50 untied differences and, with tied
    ranks, up to 13 (the sign-flip law of the ranks), else the tie-corrected normal law."""
    from scipy.stats import PermutationMethod, wilcoxon

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = x.size
    if n == 0:
        return {"p": math.nan, "median_diff": math.nan, "pairs": 0}
    # infinities: replace by a finite value above every finite one (ranks only)
    both = np.concatenate([x, y])
    fin = both[np.isfinite(both)]
    big = (np.max(np.abs(fin)) if fin.size else 1.0) * 4 + 1.0
    xs, ys = np.clip(x, -big, big), np.clip(y, -big, big)
    d = xs - ys
    with np.errstate(invalid="ignore"):  # inf − inf: a tie of two misses
        raw = x - y
    med = float(np.median(raw)) if np.all(np.isfinite(raw)) else float(np.median(d))
    # differences equal up to rounding (0.8 − 0.7 against 0.1, or against 0) are ties
    if np.any(d):
        d = np.sign(d) * _snap(np.abs(d))
    if np.count_nonzero(d) < 2:
        return {"p": 1.0 if np.count_nonzero(d) == 0 else math.nan, "median_diff": med,
                "pairs": int(n)}
    # zero differences are dropped here (Wilcoxon's rule) and the method is named, so that p
    # does not depend on scipy's version (1.13 falls back to the normal approximation when a
    # zero is present): the exact law without ties up to 50 pairs, the exact sign-flip law
    # of the tied ranks up to 13 (2¹³ patterns), the tie-corrected normal law beyond
    dz = d[d != 0]
    if dz.size <= 50 and np.unique(np.abs(dz)).size == dz.size:
        method = "exact"
    elif dz.size <= 13:
        method = PermutationMethod()
    else:
        method = _asymptotic_name()
    res = wilcoxon(dz, alternative="two-sided", method=method)
    return {"p": float(res.pvalue), "median_diff": med, "pairs": int(n)}
