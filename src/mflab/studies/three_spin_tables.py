"""Tables and the Markdown summary of study C7, computed from the run directory's arrays only.

Losses are relative, L/(½E f²) (1 = the loss of f_n ≡ 0). Bands and table entries are the
median and the interquartile range over seeds; a diverged seed is left out of them and
counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mflab.runs.io import read_arrays
from mflab.studies import three_spin_train as T
from mflab.studies.markdown import markdown_table as _md


def _arrays(run_dir: Path, name: str) -> dict[str, np.ndarray] | None:
    path = Path(run_dir) / "arrays" / f"{name}.npz"
    return read_arrays(run_dir, name) if path.exists() else None


def _cfg(config) -> dict:
    return config if isinstance(config, dict) else config.to_dict()


def build_tables(run_dir: Path, config) -> dict[str, pd.DataFrame]:
    """``tuning``, ``comparison``, ``scaling`` and ``slopes`` from the saved arrays."""
    c = _cfg(config)
    tuning, comparison, scaling, slopes, dtcheck = [], [], [], [], []
    for d in c["dims"]:
        for m in c["methods"]:
            cur = _arrays(run_dir, f"curves_d{d}_{m}")
            tune = _arrays(run_dir, f"tune_d{d}_{m}")
            half = None if cur is None else float(cur["half"])
            if tune is not None and half is not None:
                for dt, s in zip(tune["dt_grid"], tune["scores"], strict=True):
                    tuning.append({"d": d, "method": m, "dt": float(dt),
                                   "median final loss": s / half,
                                   "chosen": bool(dt == tune["chosen"])})
            if cur is None:
                continue
            q25, q50, q75 = T.quartiles(cur["loss"][-1] / half)
            tenth = np.searchsorted(cur["steps"], cur["steps"][-1] // 10)
            comparison.append({
                "d": d, "method": m, "label": T.METHODS[m].label, "dt": float(cur["dt"]),
                "steps": int(cur["steps"][-1]), "samples": int(cur["samples"][-1]),
                "time": float(cur["time"][-1]),
                "median loss at 1/10": float(T.quartiles(cur["loss"][tenth] / half)[1]),
                "median final loss": float(q50),
                "q25": float(q25), "q75": float(q75),
                "diverged seeds": int(np.sum(cur["diverged"] >= 0))})
    lo, hi = c["fit_range"]
    modes = T.scale_modes(c)
    for d in c["scale_dims"]:
        for which in (0, 2):  # read at T/10 and at T
            rf = []
            for mode, dt in modes.items():
                steps = T.read_steps(c["scale_time"], dt)
                ns, med = [], []
                for n in c["scale_ns"]:
                    a = _arrays(run_dir, f"scale_d{d}_{mode}_n{n}")
                    if a is None or steps[which] not in a["steps"]:
                        continue
                    row = _scaling_row(a, d, mode, dt, n, steps[which], steps)
                    scaling.append(row)
                    if "random-feature optimum" in row:
                        rf.append((n, row["random-feature optimum"]))
                    if np.isfinite(row["median loss"]):
                        ns.append(n)
                        med.append(row["median loss"])
                t = steps[which] * dt
                slopes.append(_slope_row(d, mode, dt, t, np.array(ns), np.array(med), lo, hi))
            if rf and which == 2:
                n_rf, v_rf = map(np.array, zip(*rf, strict=True))
                slopes.append(_slope_row(d, "RF", float("nan"), 0.0, n_rf, v_rf, lo, hi))
        dtcheck.extend(_dtcheck_rows(run_dir, d, c))
    columns = {"tuning": ["d", "method", "dt", "median final loss", "chosen"],
               "comparison": ["d", "method", "label", "dt", "steps", "samples", "time",
                              "median loss at 1/10", "median final loss", "q25", "q75",
                              "diverged seeds"],
               "scaling": ["d", "mode", "dt", "n", "initial loss", "time", "median loss", "q25",
                           "q75",
                           "decay over [T/2, T]", "diverged seeds", "random-feature optimum"],
               "slopes": ["d", "mode", "dt", "t", "fit range", "slope", "slope se",
                          "all-n range", "all-n slope", "local slopes"],
               "dtcheck": ["d", "n", "t", "dt", "median loss", "dt/10: median loss",
                           "max relative difference"]}
    columns["problem"] = ["d", "alpha", "E f^2", "E phi", "c0", "1/(E phi)^2"]
    prob = _arrays(run_dir, "problem")
    problem = [] if prob is None else [
        {"d": int(d), "alpha": al, "E f^2": m2, "E phi": ephi, "c0": c0,
         "1/(E phi)^2": 1.0 / ephi**2}
        for d, al, m2, ephi, c0 in zip(prob["d"], prob["alpha"], prob["second_moment"],
                                       prob["kernel_mean"], prob["c0"], strict=True)]
    rows = {"tuning": tuning, "comparison": comparison, "scaling": scaling, "slopes": slopes,
            "dtcheck": dtcheck, "problem": problem}
    return {k: pd.DataFrame(rows[k], columns=columns[k]) for k in columns}


def _scaling_row(a: dict, d: int, mode: str, dt: float, n: int, k: int,
                 steps: tuple[int, int, int]) -> dict:
    """Loss quartiles over seeds at step k, the decay exponent d log L/d log t of the median
    over [T/2, T] (``steps`` = those at T/10, T/2, T), and the random-feature optimum."""
    rel = a["loss"] / float(a["half"])
    q25, q50, q75 = T.quartiles(rel[np.searchsorted(a["steps"], k)])
    row = {"d": d, "mode": mode, "dt": dt, "n": n, "initial loss": float(np.median(rel[0])),
           "time": float(a["time"][a["steps"] == k][0]), "median loss": float(q50),
           "q25": float(q25), "q75": float(q75), "decay over [T/2, T]": float("nan"),
           "diverged seeds": int(np.sum((a["diverged"] >= 0) & (a["diverged"] <= k)))}
    if k == steps[2] and steps[1] > 0:
        half_med = T.quartiles(rel[np.searchsorted(a["steps"], steps[1])])[1]
        row["decay over [T/2, T]"] = float(np.log(q50 / half_med) / np.log(steps[2] / steps[1]))
    if "rf_loss" in a:
        row["random-feature optimum"] = float(np.median(a["rf_loss"]) / a["half"])
    return row


def _dtcheck_rows(run_dir: Path, d: int, c: dict) -> list[dict]:
    """GD at dt and at dt/10 from the same networks, compared at T/10."""
    check = _arrays(run_dir, f"dtcheck_d{d}")
    dt = c["scale_dt"]
    main = _arrays(run_dir, f"scale_d{d}_GD_n{c['dt_check_n']}")
    if check is None or main is None:
        return []
    k = T.read_steps(c["scale_time"], dt)[0]
    coarse = main["loss"][np.searchsorted(main["steps"], k)] / float(main["half"])
    fine = check["loss"][-1] / float(check["half"])
    return [{"d": d, "n": c["dt_check_n"], "t": float(check["time"][-1]), "dt": dt,
             "median loss": float(np.median(coarse)), "dt/10: median loss":
             float(np.median(fine)), "max relative difference":
             float(np.max(np.abs(coarse - fine) / fine))}]


def _slope_row(d: int, mode: str, dt: float, t: float, ns: np.ndarray, med: np.ndarray,
               lo: int, hi: int) -> dict:
    inside = (ns >= lo) & (ns <= hi)
    slope, se = T.loglog_slope(ns[inside], med[inside])
    full, _ = T.loglog_slope(ns, med)
    local = T.local_slopes(ns, med) if ns.size > 1 else np.array([])
    return {"d": d, "mode": mode, "dt": dt, "t": t, "fit range": f"{lo}-{hi}", "slope": slope,
            "slope se": se,
            "all-n range": f"{ns.min() if ns.size else ''}-{ns.max() if ns.size else ''}",
            "all-n slope": full, "local slopes": " ".join(f"{s:+.2f}" for s in local)}


def summary_markdown(run_dir: Path, cfg: dict, tables: dict[str, pd.DataFrame]) -> str:
    """The run's summary: setting, comparison, tuning, loss-vs-n and slope tables."""
    alpha = "5/d" if cfg["alpha"] is None else f"{cfg['alpha']:g}"
    comp = tables["comparison"]
    lines = [
        "# C7 — kernel networks on the sphere learn the spherical 3-spin energy", "",
        f"Target couplings from key {cfg['target_seed']}; α = {alpha}; c_i ~ U[−c0, c0], "
        f"c0 = {cfg['c0_factor']:g} · √(3E f²)/E φ; centres uniform on S^(d−1)(√d). Loss "
        "L/(½E f²), computed exactly (1 = the loss of f_n ≡ 0); median [q25, q75] over seeds.",
        "", "Each d's constants (closed forms; E φ = E_μ φ(x, z) is the mass of one kernel, and "
        "the weights relax on mean-field times ∝ 1/(E φ)², docs/three-spin-model.md):", "",
        _md(tables["problem"], {"alpha": ".4g", "E f^2": ".4g", "E phi": ".4g", "c0": ".4g",
                                "1/(E phi)^2": ".3g"}),
        "", f"## Optimisers at equal cost (n = {cfg['n']}, batch {cfg['batch']}, "
        f"{cfg['budget']} oracle calls = {cfg['budget'] * cfg['batch']} samples per seed, "
        f"{cfg['n_seeds']} seeds)", "",
        f"Time step dt (mean-field, η = n·dt) per method: the best median final loss over "
        f"dt ∈ {tuple(cfg['dt_grid'])} on {cfg['n_seeds']} tuning seeds (`tables/tuning.csv`"
        f"); B10: M = {cfg['b10_M']}, burn-in {cfg['b10_burn_in']}, γ_mf = Δ_mf = M·dt, "
        f"thermal excess {cfg['b10_excess']:g} · ½E f², λ = 0.", "",
        _md(comp, {"dt": "g", "time": "g", "median loss at 1/10": ".2e",
                   "median final loss": ".3e", "q25": ".2e", "q75": ".2e"}), "",
        "`median loss at 1/10`: after a tenth of the steps (the same share of the budget).",
        ""]
    for d in cfg["dims"]:
        s = read_arrays(run_dir, f"slice_d{d}") if (Path(run_dir) / "arrays" /
                                                    f"slice_d{d}.npz").exists() else None
        if s is not None:
            lines.append(f"Slice d = {d}: best f_n is {s['method']} seed {int(s['seed'])} "
                         f"(final loss {float(s['relative_loss']):.3e}).")
    lo, hi = cfg["fit_range"]
    sgd_dts = ", ".join(f"{v:g}" for v in cfg["scale_sgd_dts"])
    lines += ["", f"## Loss vs n (read at mean-field times t = T/10 and T = "
              f"{cfg['scale_time']:g}; GD dt = {cfg['scale_dt']:g}, SGD (batch {cfg['batch']}) "
              f"dt = {sgd_dts}; {cfg['scale_seeds']} seeds)", "",
              f"Fitted slope of log(median loss) vs log n over n ∈ [{lo}, {hi}] (± its "
              "standard error), over all n, and between consecutive n. RF: the random-"
              "feature optimum of the initial centres (weights fitted exactly, centres "
              "fixed). Rotskoff & Vanden-Eijnden predict O(1/n) (slope −1) for SGD and a "
              "faster decay for GD at long times. `decay over [T/2, T]`: d log L/d log t "
              "of the median between T/2 and T (0 = converged). RF rows: t = 0.", "",
              _md(tables["slopes"], {"dt": "g", "t": "g", "slope": "+.3f",
                                     "slope se": ".3f", "all-n slope": "+.3f"}), "",
              _md(tables["scaling"], {"dt": "g", "initial loss": ".3g", "time": "g",
                                      "median loss": ".3e",
                                      "q25": ".2e", "q75": ".2e", "decay over [T/2, T]":
                                      "+.2f", "random-feature optimum": ".3e"}), "",
              "Discretisation check: GD with dt/10 from the same networks, compared at T/10 "
              "(relative difference of each seed's loss):", "",
              _md(tables["dtcheck"], {"t": "g", "dt": "g", "median loss": ".4e",
                                      "dt/10: median loss": ".4e",
                                      "max relative difference": ".2e"}), "",
              "Figures: `figures/three-spin-losses.png` (fig. 15), "
              "`figures/three-spin-slices.png` (fig. 16), `figures/three-spin-scaling.png` "
              "(loss vs n, loss vs t per n)."]
    return "\n".join(lines) + "\n"
