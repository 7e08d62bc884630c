"""``summary.md`` of study C5, from the run directory's files alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

from mflab.studies.optnets import methods as M
from mflab.studies.optnets.problems import PROBLEMS, score_name


def _fmt(v: float, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.{digits}g}"


def _point(text: str) -> str:
    p = json.loads(text)
    names = {"eps": "ε", "eps_eff": "ε_eff", "gamma": "γ", "compensation": "c", "tau": "τ",
             "lam": "λ'", "coupling": "c", "eta2/eta1": "η2/η1"}
    return ", ".join(f"{names.get(k, k)} = {_fmt(v)}" for k, v in p.items())


def summary_markdown(run_dir: Path) -> str:
    """Setup, tuning choices, final scores and samples to target per problem, timings."""
    from mflab.runs.io import read_config, read_meta, read_table

    cfg, meta = read_config(run_dir), read_meta(run_dir)
    tuning, res = read_table(run_dir, "tuning"), read_table(run_dir, "results")
    ms = cfg["batch_sizes"]
    lines = [
        "# C5 — optimisers on the networks, at equal sample budget, fairly tuned", "",
        f"Problems {', '.join(cfg['problems'])}; N = {cfg['N']} (A1–A3), {cfg['N_mnist']} "
        f"(A4); batch sizes m = {', '.join(map(str, ms))}. Each method is tuned on seed 0 "
        f"(grid below, score: final risk, or final test risk for A4, +inf if diverged), then "
        f"run on {cfg['n_seeds']} other seeds; B6 and B10 run ensembles of {cfg['replicas']} "
        "replicas (each replica is a unit of the statistics) and again with λ = 0. "
        "Medians and [25 %, 75 %] over units.", "",
        "Budgets (samples per replica; equal for every method — a step of B8/B10 costs "
        f"m·L = m·{cfg['hj_inner_steps']} samples):", ""]
    for p in cfg["problems"]:
        fam = PROBLEMS[p].family
        lines.append(f"- {p}: " + ", ".join(f"m = {m}: {b}" for m, b in
                                          zip(ms, cfg[f"budget_{fam}"], strict=True)))
    lines += ["", "Grids (m = 1; at batch m × m^" + f"{cfg['eps_batch_power']:g}): ε of A1 "
              f"{cfg['eps_a1']}, A2 {cfg['eps_a2']}, A3 {cfg['eps_a3']}, A4 {cfg['eps_a4']}; "
              f"B3: the ε grid × {cfg['restart_grid_factors']}; "
              f"B2 γ ∈ {cfg['nesterov_gammas']}; B4 c ∈ {cfg['mass_compensations']} (γ = "
              f"{cfg['mass_gamma']}); B5 τ ∈ {cfg['temperatures']}; B6/B10 λ' ∈ "
              f"{cfg['lambdas']}; B8 coupling c ∈ {cfg['hj_couplings']} (L = "
              f"{cfg['hj_inner_steps']}, burn-in {cfg['hj_burn_in']}, ρ = {cfg['hj_relax']}, "
              f"restart {cfg['hj_restart']}). Units: `mflab.studies.optnets.methods`.", ""]
    for p in cfg["problems"]:
        lines += _problem_section(p, cfg, tuning, res)
    lines += ["## Timings", "", "| phase | wall time (s) |", "|---|---|"]
    for k, v in meta.get("timings", {}).items():
        lines.append(f"| {k} | {v:.0f} |")
    lines += ["", "Figures: `figures/risk_P.png` (per problem: score vs samples, steps and "
              "wall time; median and IQR band; one colour per method, λ = 0 dashed), "
              "`figures/overview.png`, `figures/tuning_P.png` (tuning score vs ε). Tables: "
              "`tables/tuning.csv`, `tables/results.csv`."]
    return "\n".join(lines) + "\n"


def _problem_section(p: str, cfg: dict, tuning, res) -> list[str]:
    score = score_name(p)
    a4 = PROBLEMS[p].family == "a4"
    r = res[res.problem == p]
    target = float(r.target.iloc[0]) if len(r) else math.nan
    what = (f"test accuracy ≥ {target:g}" if a4 else
            f"risk ≤ {target:.4g} ({cfg['target_factor']:g} × DD stationary risk)")
    budgets = dict(zip(cfg["batch_sizes"], cfg[f"budget_{PROBLEMS[p].family}"], strict=True))
    lines = [f"## {PROBLEMS[p].label}", "", f"Target: {what}. Mean-field time at the end: "
             "t = (budget/m)·ε (every oracle call advances the clock by ε; for B8/B10 the "
             "inner steps).", "",
             "| method | m | chosen point | t at the end | tuning score | at grid edge |",
             "|---|---|---|---|---|---|"]
    t = tuning[(tuning.problem == p) & tuning.chosen]
    for _, row in t.iterrows():
        t_end = budgets[row.m] / row.m * json.loads(row.point)["eps"]
        lines.append(f"| {M.label(row.method)} | {row.m} | {_point(row.point)} | "
                     f"{_fmt(t_end, 3)} | {_fmt(row.score, 4)} | {'yes' if row.edge else ''} |")
    failed = set(tuning[tuning.problem == p].groupby(["m", "method"]).groups) - set(
        zip(t.m, t.method, strict=True))
    for m, meth in sorted(failed):
        lines.append(f"| {M.label(meth)} | {m} | every grid point diverged | | ∞ | |")
    head = "| method | " + " | ".join(
        f"m = {m}: final {score} | m = {m}: samples to target (share)" for m in
        cfg["batch_sizes"]) + " |"
    lines += ["", head, "|---|" + "---|---|" * len(cfg["batch_sizes"])]
    for key in dict.fromkeys(r.method):
        cells = []
        for m in cfg["batch_sizes"]:
            q = r[(r.method == key) & (r.m == m)]
            if not len(q):
                cells += ["—", "—"]
                continue
            q = q.iloc[0]
            final = (f"{_fmt(q[f'final {score} (median)'], 3)} "
                     f"[{_fmt(q.q25, 3)}, {_fmt(q.q75, 3)}]")
            if a4:
                final += f", acc {_fmt(q['final test accuracy (median)'], 4)}"
            cells += [final, f"{_fmt(q['samples to target (median)'], 3)} "
                             f"({q['share reaching target']:.0%})"]
        lines.append(f"| {M.label(key)} | " + " | ".join(cells) + " |")
    return lines + [""]
