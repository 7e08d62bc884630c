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
    """``tuning``, ``comparison`` and ``problem`` from the saved arrays."""
    c = _cfg(config)
    tuning, comparison = [], []
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
    columns = {"tuning": ["d", "method", "dt", "median final loss", "chosen"],
               "comparison": ["d", "method", "label", "dt", "steps", "samples", "time",
                              "median loss at 1/10", "median final loss", "q25", "q75",
                              "diverged seeds"]}
    columns["problem"] = ["d", "alpha", "E f^2", "E phi", "c0", "1/(E phi)^2"]
    prob = _arrays(run_dir, "problem")
    problem = [] if prob is None else [
        {"d": int(d), "alpha": al, "E f^2": m2, "E phi": ephi, "c0": c0,
         "1/(E phi)^2": 1.0 / ephi**2}
        for d, al, m2, ephi, c0 in zip(prob["d"], prob["alpha"], prob["second_moment"],
                                       prob["kernel_mean"], prob["c0"], strict=True)]
    rows = {"tuning": tuning, "comparison": comparison, "problem": problem}
    return {k: pd.DataFrame(rows[k], columns=columns[k]) for k in columns}


def summary_markdown(run_dir: Path, cfg: dict, tables: dict[str, pd.DataFrame]) -> str:
    """The run's summary: setting, each d's constants, the comparison and the slices."""
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
    lines += ["", "Figures: `figures/three-spin-losses.png` (fig. 15), "
              "`figures/three-spin-slices.png` (fig. 16). The loss against n (SPEC D2) is "
              "study `three-spin-scaling`'s."]
    return "\n".join(lines) + "\n"
