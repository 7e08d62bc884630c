"""Tables and the Markdown summary of study D2, from the run directory's arrays only.

Losses are relative, L/(½E f²). Every statistic is over seeds, the independent units; the
widths of one seed share units (nested), so the fits' bootstrap resamples whole seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mflab.runs.io import read_arrays
from mflab.scaling import fit_power_law
from mflab.studies.markdown import markdown_table


def sgd_cells(c) -> list[tuple[str, int, int, float, tuple[int, ...]]]:
    """("sgd", d, n, dt, batch sizes) of SGD's noise part: per dt, every P of the grid at
    width sgd_n (one flow run shared by them); then the widths sgd_ns at dt = max(sgd_dts)
    with P = max(1, round(sgd_batch_per_unit · n))."""
    cfg = c if isinstance(c, dict) else c.to_dict()
    d, batches = cfg["sgd_dim"], tuple(cfg["sgd_batches"])
    grid = [("sgd", d, cfg["sgd_n"], dt, batches) for dt in cfg["sgd_dts"]]
    dt = max(cfg["sgd_dts"])
    return grid + [("sgd", d, n, dt, (sgd_batch(cfg, n),)) for n in cfg["sgd_ns"]]


def sgd_batch(cfg: dict, n: int) -> int:
    """P along the width series: dt/P ∝ 1/n."""
    return max(1, round(cfg["sgd_batch_per_unit"] * n))


def sgd_suffix(dt: float, batches: tuple[int, ...]) -> str:
    """The arrays' name suffix of an SGD cell."""
    return f"_dt{dt:g}_P{'-'.join(map(str, batches))}"


def _arrays(run_dir: Path, name: str):
    path = Path(run_dir) / "arrays" / f"{name}.npz"
    return read_arrays(run_dir, name) if path.exists() else None


def _cfg(config) -> dict:
    return config if isinstance(config, dict) else config.to_dict()


def _fit_rows(ns, values, n_boot) -> list[dict]:
    """Fits over every width and over the widths ≥ 4× the smallest (the law is asymptotic:
    how the exponent moves when the small widths leave the fit is part of the result)."""
    rows = [{"range": "all"} | _fit_row(ns, values, n_boot)]
    lo = 4 * min(ns)
    rows.append({"range": f"n >= {lo}"} | _fit_row(
        ns, [v if n >= lo else None for n, v in zip(ns, values, strict=True)], n_boot))
    return rows


def _fit_row(ns, values, n_boot) -> dict:
    """Fit columns of one law (NaN where fewer than 4 widths are complete); ``chi2/dof``
    far above 1 (say > 10) means no L_∞ + A n^−p describes the means, whatever the
    intervals (they measure the seeds' spread, not the model's misfit)."""
    keep = [i for i, v in enumerate(values) if v is not None and np.all(np.isfinite(v))]
    if len(keep) < 4:
        return {k: float("nan") for k in ("L_inf", "L_inf_lo", "L_inf_hi", "A", "A_lo",
                                          "A_hi", "p", "p_lo", "p_hi", "chi2/dof")} | {
            "n_min": 0, "n_max": 0, "widths": len(keep)}
    fit = fit_power_law([ns[i] for i in keep], np.stack([values[i] for i in keep]),
                        n_boot=n_boot)
    row = {}
    for k in ("L_inf", "A", "p"):
        row[k] = fit[k]
        row[f"{k}_lo"], row[f"{k}_hi"] = fit["intervals"][k]
    return row | {"chi2/dof": fit["chi2"] / fit["dof"], "n_min": fit["n_range"][0],
                  "n_max": fit["n_range"][1], "widths": len(keep)}


def build_tables(run_dir: Path, config) -> dict[str, pd.DataFrame]:
    """``spectrum``, ``flow`` (mean and standard error per d, t, n), ``flow_fits`` (per d, t;
    at t = 0 with the exact law's L_∞ = 1 and A), ``converged``, ``converged_fits`` and
    ``timing`` (each cell's wall time: where the run's time went)."""
    c = _cfg(config)
    out: dict[str, pd.DataFrame] = {}
    spec = _arrays(run_dir, "spectrum")
    if spec is not None:
        rows = []
        for i, d in enumerate(spec["dims"]):
            lam = spec["eigenvalues"][i]
            for ell, (v, m) in enumerate(zip(lam, spec["multiplicity"][i], strict=True)):
                rows.append({"d": int(d), "alpha": float(spec["alpha"][i]), "ell": ell,
                             "multiplicity": int(m), "lambda": float(v),
                             "tau = 1/lambda": 1.0 / float(v),
                             "lambda_0/lambda": float(lam[0] / v)})
        out["spectrum"] = pd.DataFrame(rows)
    flow, fits, timing = [], [], []
    for d in c["dims"]:
        cells = [_arrays(run_dir, f"flow_d{d}_n{n}") for n in c["ns"]]
        if not any(x is not None for x in cells):
            continue
        for k, t in enumerate(c["times"]):
            values = [None if x is None else x["loss"][k] for x in cells]
            for n, v in zip(c["ns"], values, strict=True):
                if v is not None:
                    ok = v[np.isfinite(v)]
                    flow.append({"d": d, "t": t, "n": n, "mean": float(ok.mean()),
                                 "se": float(ok.std(ddof=1) / np.sqrt(ok.size)),
                                 "seeds": int(ok.size)})
            theory = {}
            if t == 0 and spec is not None:
                half = float(next(x for x in cells if x is not None)["half"])
                from mflab.spherical import matched_weight_scale
                from mflab.studies import three_spin_train as T

                i = list(spec["dims"]).index(d)
                a = T.couplings_for(d, c["target_seed"])
                c0 = c["c0_factor"] * float(matched_weight_scale(a, float(spec["alpha"][i])))
                theory = {"theory L_inf": 1.0,
                          "theory A": float(spec["initial_A"][i]) * c0 * c0 / half}
            fits += [{"d": d, "t": t} | row | theory
                     for row in _fit_rows(c["ns"], values, c["n_boot"])]
        timing += [{"part": "flow", "d": d, "n": n, "seconds": _seconds(x)}
                   for n, x in zip(c["ns"], cells, strict=True) if x is not None]
    if flow:
        out["flow"] = pd.DataFrame(flow)
        out["flow_fits"] = pd.DataFrame(fits)
    conv, cfits = [], []
    for d in c["conv_dims"]:
        cells = [_arrays(run_dir, f"converged_d{d}_n{n}") for n in c["conv_ns"]]
        previous = None
        for n, x in zip(c["conv_ns"], cells, strict=True):
            if x is None:
                continue
            S = x["loss"].size
            slope = (float("nan") if previous is None else
                     float(np.log(x["loss"].mean() / previous[1]) / np.log(n / previous[0])))
            previous = (n, x["loss"].mean())
            conv.append({"d": d, "n": n, "mean": float(x["loss"].mean()),
                         "local slope": slope, "seconds": _seconds(x),
                         "se": float(x["loss"].std(ddof=1) / np.sqrt(S)),
                         "rf_mean": float(x["rf_loss"].mean()),
                         "median iterations": float(np.median(x["iterations"])),
                         "converged": int(x["converged"].sum()),
                         "stalled": int(x["stalled"].sum()),
                         "median rate": float(np.median(x["rate"])), "seeds": S})
        if any(x is not None for x in cells):
            cfits += [{"d": d} | row for row in _fit_rows(
                c["conv_ns"], [None if x is None else x["loss"] for x in cells], c["n_boot"])]
    if conv:
        out["converged"] = pd.DataFrame(conv)
        out["converged_fits"] = pd.DataFrame(cfits)
        timing += [{"part": "converged", "d": r["d"], "n": r["n"], "seconds": r["seconds"]}
                   for r in conv]
    out |= _sgd_tables(run_dir, c)
    for job in sgd_cells(c):
        if (x := _arrays(run_dir, f"sgd_d{job[1]}_n{job[2]}" + sgd_suffix(*job[3:]))):
            timing.append({"part": "sgd", "d": job[1], "n": job[2], "seconds": _seconds(x)})
    if timing:
        out["timing"] = pd.DataFrame(timing)
    return out


def _sgd_row(sgd, gd, **labels) -> dict:
    """Means over seeds of SGD's and the flow's loss and of their paired difference."""
    ok = np.isfinite(sgd) & np.isfinite(gd)
    sgd, gd = sgd[ok], gd[ok]
    S = int(ok.sum())

    def se(v):
        return float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")

    return labels | {"sgd": float(sgd.mean()), "sgd_se": se(sgd), "gd": float(gd.mean()),
                     "gd_se": se(gd), "excess": float((sgd - gd).mean()),
                     "excess_se": se(sgd - gd), "seeds": S}


def noise_slope(dt, P, excess, n_boot: int, seed: int = 0) -> dict:
    """Two least-squares fits of the mean excess over the cells (``excess`` is
    ``(cells, seeds)``, the seeds shared by every cell): its log-log slope against dt/P
    (``slope``; the SDE approximation's first order predicts 1), and its exponents in dt and
    in 1/P separately, log E = k + a log dt − b log P (``a_dt``, ``b_P``; a = b when the excess
    depends on dt/P alone; NaN unless the cells hold two dt and two P). 95 % percentile
    bootstrap over seeds: a replicate resamples the same seeds in every cell. NaN where a
    mean excess is not positive (no logarithm)."""
    dt, P = np.asarray(dt, float), np.asarray(P, float)
    excess = np.asarray(excess, float)
    x = np.log(dt / P)
    design = np.stack([np.ones_like(dt), np.log(dt), -np.log(P)], axis=1)
    two = len(set(dt)) >= 2 and len(set(P)) >= 2

    def fits(e):
        m = e.mean(axis=1)
        if not np.all(m > 0):
            return (float("nan"),) * 3
        ab = np.linalg.lstsq(design, np.log(m), rcond=None)[0][1:] if two else (np.nan,) * 2
        return (float(np.polyfit(x, np.log(m), 1)[0]), float(ab[0]), float(ab[1]))

    est = fits(excess)
    rng = np.random.default_rng(seed)
    S = excess.shape[1]
    boot = np.array([fits(excess[:, rng.integers(0, S, S)]) for _ in range(n_boot)])
    boot = boot[np.all(np.isfinite(boot[:, :1]), axis=1)]
    lo, hi = (np.percentile(boot, [2.5, 97.5], axis=0) if len(boot) >= 0.9 * n_boot
              else np.full((2, 3), np.nan))
    out = {}
    for i, name in enumerate(("slope", "a_dt", "b_P")):
        out |= {name: est[i], f"{name}_lo": float(lo[i]), f"{name}_hi": float(hi[i])}
    return out | {"dt/P min": float(np.exp(x.min())), "dt/P max": float(np.exp(x.max())),
                  "cells": int(x.size), "seeds": S}


def _sgd_tables(run_dir: Path, c: dict) -> dict[str, pd.DataFrame]:
    """``sgd_grid`` (dt × P at width sgd_n), ``sgd_noise`` (the slope of the excess in dt/P),
    ``sgd_widths`` (P ∝ n) and ``sgd_fits`` (SGD's and the flow's losses along the widths,
    fitted to L_∞ + A n^−p like the flow's)."""
    d, out, batches = c["sgd_dim"], {}, tuple(c["sgd_batches"])

    def cell(n, dt, Ps):
        return _arrays(run_dir, f"sgd_d{d}_n{n}" + sgd_suffix(dt, Ps))

    grid, excess = [], []
    for dt in c["sgd_dts"]:
        if (x := cell(c["sgd_n"], dt, batches)) is not None:
            for k, P in enumerate(batches):
                grid.append(_sgd_row(x["loss_sgd"][k], x["loss_gd"], n=c["sgd_n"], dt=dt,
                                     P=P, **{"dt/P": dt / P}))
                excess.append(x["loss_sgd"][k] - x["loss_gd"])
    if not grid:
        return out
    out["sgd_grid"] = pd.DataFrame(grid)
    if len({r["dt/P"] for r in grid}) >= 2 and np.all(np.isfinite(excess)):
        out["sgd_noise"] = pd.DataFrame([noise_slope([r["dt"] for r in grid],
                                                     [r["P"] for r in grid],
                                                     np.stack(excess), c["n_boot"])])
    dt = max(c["sgd_dts"])
    series = [cell(n, dt, (sgd_batch(c, n),)) for n in c["sgd_ns"]]
    rows = [_sgd_row(x["loss_sgd"][0], x["loss_gd"], n=n, dt=dt, P=sgd_batch(c, n),
                     **{"dt/P": dt / sgd_batch(c, n)})
            for n, x in zip(c["sgd_ns"], series, strict=True) if x is not None]
    if rows:
        out["sgd_widths"] = pd.DataFrame(rows)
        fits = []
        for run in ("sgd", "gd"):
            values = [None if x is None else x[f"loss_{run}"].reshape(-1, x["loss_gd"].size)[0]
                      for x in series]
            fits += [{"run": {"sgd": "SGD, dt/P ∝ 1/n", "gd": "flow (exact gradient)"}[run]}
                     | row for row in _fit_rows(c["sgd_ns"], values, c["n_boot"])]
        out["sgd_fits"] = pd.DataFrame(fits)
    return out


def _seconds(arrays) -> float:
    """A cell's wall time (NaN for cells saved before cells recorded it)."""
    return float(arrays["seconds"]) if "seconds" in arrays else float("nan")


_FIT_FMT = {k: ".3g" for k in ("L_inf", "L_inf_lo", "L_inf_hi", "A", "A_lo", "A_hi",
                               "theory L_inf", "theory A", "chi2/dof")} | {
    "p": ".2f", "p_lo": ".2f", "p_hi": ".2f", "t": "g"}


def summary_markdown(run_dir: Path, cfg: dict, tables: dict[str, pd.DataFrame]) -> str:
    """The run's summary: setting, spectrum, fixed-time and converged tables with fits."""
    lines = [
        "# D2 — Rotskoff & Vanden-Eijnden's O(1/n) on the 3-spin kernel networks", "",
        f"Target couplings from key {cfg['target_seed']}; α = {cfg['alpha_d']:g}/d; "
        f"c_i ~ U[−c0, c0], c0 = {cfg['c0_factor']:g} · √(3E f²)/E φ; centres uniform on "
        "S^(d−1)(√d), **nested** (seed s's network of width n is the first n units of its "
        "widest one). Losses L/(½E f²), exact (1 = the loss of f_n ≡ 0). Fits: mean over "
        "seeds = L_∞ + A n^−p, weighted by standard errors; 95 % percentile bootstrap "
        f"intervals over whole seeds ({cfg['n_boot']} replicates).", ""]
    if "spectrum" in tables:
        lines += ["## Spectrum of K (Funk–Hecke)", "",
                  "The weights' flow at fixed centres relaxes the degree-ℓ harmonics in "
                  "mean-field time τ_ℓ = 1/λ_ℓ; the cubic target needs ℓ = 3, and a stable "
                  "time step is ≲ 1/λ_0, so it takes ≳ λ_0/λ_3 steps.", "",
                  markdown_table(tables["spectrum"], {"alpha": ".3g", "lambda": ".3e",
                                           "tau = 1/lambda": ".3e",
                                           "lambda_0/lambda": ".3e"}), ""]
    if "flow_fits" in tables:
        lines += [f"## Fixed mean-field time (exact-gradient flow, dt = {cfg['dt']:g}, "
                  f"{cfg['seeds']} seeds, n = {', '.join(map(str, cfg['ns']))})", "",
                  markdown_table(tables["flow_fits"], _FIT_FMT), "",
                  "At t = 0 the law is exact (theory columns: L_∞ = 1, A = c0² K(1)/6 "
                  "relative to ½E f², p = 1); the fit must cover them. Each law is fitted "
                  "over every width and over the widths ≥ 4× the smallest; chi2/dof ≫ 1 "
                  "(say > 10) means no power law with offset describes the means.", "",
                  "Mean and standard error per width (`tables/flow.csv`):", "",
                  markdown_table(tables["flow"], {"t": "g", "mean": ".5g", "se": ".2e"}), ""]
    if "converged" in tables:
        lines += [f"## Converged training (exact weights c = n K⁺F, L-BFGS centres, "
                  f"{cfg['conv_seeds']} seeds, at most {cfg['max_iter']} iterations, "
                  f"gtol {cfg['gtol']:g})", "",
                  markdown_table(tables["converged"], {"mean": ".3e", "local slope": "+.2f",
                                            "seconds": ".0f",
                                            "se": ".2e", "rf_mean": ".3e",
                                            "median iterations": "g", "median rate": ".2e"}),
                  "", "`rf_mean`: the random-feature optimum of the initial centres (weights "
                  "alone). `converged`: seeds whose relative decay rate fell below gtol; "
                  "`stalled`: seeds whose line search made no progress for 10 iterations; "
                  "the others ran out of iterations, and their loss is an upper bound of "
                  "the converged one. `local slope`: d log(mean)/d log n from the previous "
                  "width.", "",
                  markdown_table(tables["converged_fits"], _FIT_FMT), ""]
    if "sgd_grid" in tables:
        lines += _sgd_markdown(cfg, tables)
    if "timing" in tables:
        t = tables["timing"]
        by = t.groupby("part")["seconds"].sum(min_count=1)
        lines += ["## Where the time went", "",
                  "Wall time of the cells where they ran, summed per part (a pool or cluster "
                  "runs several at once): "
                  + ", ".join(f"{k} {v:.0f} s" if np.isfinite(v) else f"{k} not recorded"
                              for k, v in by.items()) + " (`tables/timing.csv`).", ""]
    return "\n".join(lines)


def _sgd_markdown(cfg: dict, tables: dict[str, pd.DataFrame]) -> list[str]:
    """The summary's section on SGD's noise."""
    fmt = {k: ".4g" for k in ("sgd", "gd")} | {
        k: ".2e" for k in ("sgd_se", "gd_se", "excess", "excess_se", "dt/P")} | {"dt": "g"}
    lines = [f"## SGD's noise (d = {cfg['sgd_dim']}, read at t = {cfg['sgd_time']:g}, "
             f"{cfg['sgd_seeds']} seeds)", "",
             "Plain SGD on P fresh uniform points per step against the exact-gradient flow "
             "at the same time step dt, from the same networks; `excess` = mean over seeds "
             "of L_SGD − L_GD (paired), relative to ½E f². To first order in dt/P (the SDE "
             "approximation) the excess is ∝ dt/P: slope 1 in the table below.", "",
             f"Grid at n = {cfg['sgd_n']}:", "",
             markdown_table(tables["sgd_grid"], fmt), ""]
    if "sgd_noise" in tables:
        lines += ["Log-log slope of the mean excess against dt/P, and its exponents in dt "
                  "and 1/P fitted separately, log excess = k + a_dt log dt − b_P log P (a_dt "
                  "= b_P if the excess depends on dt/P alone); least squares over the grid, "
                  "95 % bootstrap over seeds:", "",
                  markdown_table(tables["sgd_noise"],
                                 {k: ".2f" for k in ("slope", "slope_lo", "slope_hi", "a_dt",
                                                     "a_dt_lo", "a_dt_hi", "b_P", "b_P_lo",
                                                     "b_P_hi")}
                                 | {"dt/P min": ".3g", "dt/P max": ".3g"}), ""]
    if "sgd_widths" in tables:
        lines += [f"Widths with P = max(1, round({cfg['sgd_batch_per_unit']:g} n)) at dt = "
                  f"{max(cfg['sgd_dts']):g} (dt/P ∝ 1/n, RVE's prescription):", "",
                  markdown_table(tables["sgd_widths"], fmt), "",
                  markdown_table(tables["sgd_fits"], _FIT_FMT), ""]
    return lines
