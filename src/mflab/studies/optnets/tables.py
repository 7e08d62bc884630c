"""Tuning choices and result tables of study C5, from job results or from the saved files.

The unit of a comparison is one network trained with the whole budget: one per seed for
B1–B5 and B8, one per replica of each seed's ensemble for B6 and B10 (every replica drew
the budget). Medians and interquartile ranges are over those units; "share" is the share of
units that reach the target.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def choose(rows: list[dict]) -> dict | None:
    """The grid point with the lowest finite score (the first in grid order on ties), or
    ``None`` when every point diverged (score +inf or NaN)."""
    best = None
    for r in rows:
        s = r["score"]
        if math.isfinite(s) and (best is None or s < best["score"]):
            best = r
    return best


def on_edge(rows: list[dict], chosen: dict) -> bool:
    """Whether the chosen ε is the smallest or largest of its grid (the grid may not
    bracket the best step)."""
    eps = sorted({r["eps_grid"] for r in rows})
    return len(eps) > 1 and chosen["eps_grid"] in (eps[0], eps[-1])


def units(a: np.ndarray) -> np.ndarray:
    """(seeds, records, agents) → (units, records): every agent of every seed is a unit."""
    a = np.asarray(a, np.float64)
    return np.moveaxis(a, 2, 1).reshape(-1, a.shape[1])


def band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, 25 %, 75 %) over units, per record (``values``: (units, records))."""
    q = np.quantile(values, [0.5, 0.25, 0.75], axis=0)
    return q[0], q[1], q[2]


def crossing(samples: np.ndarray, values: np.ndarray, target: float, higher: bool) -> float:
    """Samples at which one unit first meets the target (``values ≥ target`` when
    ``higher``, else ``≤``), interpolated linearly in log(samples) against log(value)
    (value itself when ``higher``) between the records that bracket it; +inf if never."""
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


def summary_rows(curves: dict, score: str, target: float, higher_target: bool,
                 target_metric: str) -> list[dict]:
    """One row per method: final score (median, IQR), final accuracy where recorded,
    samples to target (median over units; inf when fewer than half reach it) and the
    share reaching it, the share of units that diverged."""
    rows = []
    for key, c in curves.items():
        s = units(c[score])
        tgt = units(c[target_metric])
        samples = np.asarray(c["samples"][0], np.float64)
        hits = np.array([crossing(samples, t, target, higher_target) for t in tgt])
        med, lo, hi = band(s[:, -1:])
        row = {"method": key, "units": s.shape[0], "budget": int(samples[-1]),
               f"final {score} (median)": float(med[0]), "q25": float(lo[0]),
               "q75": float(hi[0]), "samples to target (median)": float(np.median(hits)),
               "share reaching target": float(np.mean(np.isfinite(hits))),
               "diverged": float(np.mean(np.asarray(c["diverged"]) >= 0))}
        if "test_accuracy" in c:
            row["final test accuracy (median)"] = float(np.median(units(c["test_accuracy"])[:, -1]))
        rows.append(row)
    return rows


def curve_name(problem: str, m: int, variant: str) -> str:
    """Name of the arrays of one (problem, m, method) comparison."""
    return f"curves_{problem}_m{m}_{variant}"


def read_curves(run_dir: Path, problem: str, m: int, methods) -> dict[str, dict]:
    """The saved comparison arrays of (problem, m), per method and λ = 0 variant."""
    from mflab.runs.io import read_arrays

    out = {}
    for meth in methods:
        for variant in (meth, f"{meth}-lam0"):
            if (Path(run_dir) / "arrays" / f"{curve_name(problem, m, variant)}.npz").exists():
                out[variant] = read_arrays(run_dir, curve_name(problem, m, variant))
    return out
