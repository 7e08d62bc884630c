"""``summary.md`` of study C5, from the run directory's files alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

from mflab.studies.optnets import methods as M
from mflab.studies.optnets.problems import PROBLEMS, score_name


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.{digits}g}"


NAMES = {"eps": "ε", "eps_eff": "ε_eff", "friction": "φ", "compensation": "c", "tau": "τ",
         "lam": "λ'", "coupling": "c_HJ", "ratio": "η2/η1", "eta1": "η1", "eta2": "η2",
         "gamma": "γ"}


def _point(text: str) -> str:
    p = json.loads(text) if isinstance(text, str) else text
    if not p:
        return "fixed"
    return ", ".join(f"{NAMES.get(k, k)} = {_fmt(v)}" for k, v in p.items())


def _p(v) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2g}"


def summary_markdown(run_dir: Path) -> str:
    """Setup and protocol, per problem the choices and the paired comparison, timings."""
    from mflab.runs.io import read_config, read_meta, read_table

    cfg, meta = read_config(run_dir), read_meta(run_dir)
    tuning, res = read_table(run_dir, "tuning"), read_table(run_dir, "results")
    ms = cfg["batch_sizes"]
    smoke = cfg["tuning_seeds"] < 3 or cfg["seeds"] < 10
    spin = all(PROBLEMS[p].family == "s3" for p in cfg["problems"])
    title = ("C7 — optimisers on the 3-spin kernel networks" if spin
             else "C5 — optimisers on the networks")
    lines = [f"# {title}, at equal budget per ensemble, tuned alike", ""]
    if smoke:
        lines += [f"**Smoke scale** ({cfg['tuning_seeds']} tuning, {cfg['seeds']} comparison "
                  "seeds; the protocol asks 3 and 10): these tables show the machinery and "
                  "support no claim.", ""]
    lines += [
        f"Problems {', '.join(cfg['problems'])}; {_widths(cfg)}; batch sizes "
        f"m = {', '.join(map(str, ms))}. Protocol (`mflab.compare`): every "
        "ensemble draws the same samples whatever its replicas (B6, B10: R = "
        f"{cfg['replicas']}, with SGD at batch R·m as their control); each method's grids "
        f"are scored on {cfg['tuning_seeds']} tuning seed(s) (median of the final "
        "validation score; A4: held-out training images) and a grid whose choice is at an "
        f"edge grows by a decade, at most {cfg['max_extensions']} times (then the choice is "
        f"flagged); the chosen point runs on {cfg['seeds']} comparison seeds shared by every "
        "method (same start, same data stream). Statistics are over seeds (an ensemble is "
        "one unit): median [25 %, 75 %]; p: Wilcoxon signed-rank test, paired by seed, "
        "against B1 SGD at the same m (final score; samples to target), for B6/B10 "
        "against their control, and for the configured pairs one method against another. "
        "Samples to target are interpolated in log-log between "
        f"records at most {cfg['record_ratio']:g}× apart. *exact*: the same method, values "
        "and steps with the exact gradient (the mechanism control).", ""]
    cb = (read_table(run_dir, "critical_batch")
          if (Path(run_dir) / "tables" / "critical_batch.csv").exists() else None)
    lb = (read_table(run_dir, "liu_belkin")
          if (Path(run_dir) / "tables" / "liu_belkin.csv").exists() else None)
    for p in cfg["problems"]:
        lines += _problem_section(p, cfg, tuning, res)
        lines += _critical_batch_line(p, cfg, cb)
        lines += _liu_belkin_lines(p, cfg, lb)
    lines += ["## Timings", "", "| cell | wall time (s) |", "|---|---|"]
    for k, v in meta.get("timings", {}).items():
        lines.append(f"| {k} | {v:.0f} |")
    lines += ["", "Figures: `figures/risk_P.png` (per problem: score vs samples, steps and "
              "wall time; median and IQR band over seeds; one colour per method, controls "
              "dashed, exact-gradient runs dotted), `figures/overview.png`, "
              "`figures/tuning_P.png`. Tables: `tables/tuning.csv`, `tables/results.csv`, "
              "`tables/critical_batch.csv` (A1–A3, S3), `tables/liu_belkin.csv` and "
              "`tables/tangent_curvature.csv` (B4lb: its parameters; λ_j, L₁(j), κ̃(j) per "
              "mode j)."]
    return "\n".join(lines) + "\n"


def _widths(cfg: dict) -> str:
    """The widths of the problems run: N (A1–A3), N_mnist (A4), n (S3)."""
    fams = {PROBLEMS[p].family for p in cfg["problems"]}
    out = []
    if fams & {"a1", "a2", "a3"}:
        out.append(f"N = {cfg['N']} (A1–A3)")
    if "a4" in fams:
        out.append(f"N = {cfg['N_mnist']} (A4)")
    if "s3" in fams:
        out.append(f"n = {cfg['spin_n']} kernel units (S3)")
    return ", ".join(out)


def _problem_section(p: str, cfg: dict, tuning, res) -> list[str]:
    score = score_name(p)
    a4 = PROBLEMS[p].family == "a4"
    r = res[res.problem == p]
    fam = PROBLEMS[p].family
    if a4:
        what = f"test accuracy ≥ {cfg['target_accuracy']:g}"
    elif fam == "s3":
        what = (f"risk = L/(½E f²) ≤ {cfg['target_s3']:g} (a stated level; the loss is "
                f"exact); n = {cfg['spin_n']} kernel units")
    else:
        dd, err = cfg[f"dd_risk_{fam}"], cfg[f"dd_error_{fam}"]
        what = (f"risk ≤ {cfg['target_factor'] * dd:.4g} ({cfg['target_factor']:g} × DD "
                f"stationary risk {dd:g}, whose error estimate is {err:g})")
    lines = [f"## {PROBLEMS[p].label}", "", f"Target: {what}.", "",
             "| entry | m | chosen point | tuning score | grids | flags |",
             "|---|---|---|---|---|---|"]
    t = tuning[tuning.problem == p] if len(tuning) else tuning
    for (m, entry), grp in (t.groupby(["m", "entry"], sort=False) if len(t) else []):
        ch = grp[grp.chosen]
        rs = r[(r.m == m) & (r.entry == entry) & (r.variant == "stochastic")]
        flags = rs["flags"].iloc[0] if len(rs) and isinstance(rs["flags"].iloc[0], str) else ""
        point = _point(ch.point.iloc[0]) if len(ch) else "every point diverged"
        sc = _fmt(float(ch.score.iloc[0]), 4) if len(ch) else "∞"
        lines.append(f"| {M.label(entry)} | {m} | {point} | {sc} | {len(grp)} points, "
                     f"{grp['round'].max() + 1} round(s) | {flags} |")
    lines += ["", f"| entry | m | variant | final {score} | samples to target (share) | "
              "p vs SGD (final; target) | p vs control |", "|---|---|---|---|---|---|---|"]
    for _, q in r.iterrows():
        tgt = (f"{_fmt(q.get('samples_to_target'), 3)} ({q.get('share_reaching', 0):.0%})"
               if "samples_to_target" in q else "—")
        vs_ref = f"{_p(q.get('p_final_vs_ref'))}; {_p(q.get('p_target_vs_ref'))}"
        vs_ctl = f"{_p(q.get('p_final_vs_control'))}; {_p(q.get('p_target_vs_control'))}"
        lines.append(f"| {M.label(q.entry)} | {q.m} | {q.variant} | {_fmt(q.final, 3)} "
                     f"[{_fmt(q.final_q25, 3)}, {_fmt(q.final_q75, 3)}] | {tgt} | {vs_ref} | "
                     f"{vs_ctl} |")
    return lines + [""] + _pairs_table(r, cfg)


def _critical_batch_line(p: str, cfg: dict, cb) -> list[str]:
    """Where the batch sizes lie against the problem's critical batch m* at the start."""
    if cb is None or p not in set(cb.problem):
        return []
    q = cb[cb.problem == p].iloc[0]
    lo, hi = sorted((q.m_star, q.m_star_held_out))
    return [f"Critical batch at the start (Liu & Belkin's m* = tr H / λ_max(H) of the tangent "
            f"features, {int(q.samples)} samples; `tables/critical_batch.csv`): between "
            f"{lo:.3g} and {hi:.3g} (λ_max of the whole sample, biased up, and the "
            f"held-out Rayleigh quotient, biased down); with the largest ‖φ‖² in place of "
            f"tr H, {q.m_star_sup:.3g}. Batch sizes compared: "
            f"{', '.join(map(str, cfg['batch_sizes']))}.", ""]


def _liu_belkin_lines(p: str, cfg: dict, lb) -> list[str]:
    """B4lb's parameters and the constants they came from, per batch size."""
    if lb is None or p not in set(lb.problem):
        return []
    lines = ["B4lb, MaSS at Liu & Belkin's parameters (not tuned; the constants of the "
             f"loss's tangent curvature at the start on its top modes, "
             f"{cfg['lb_samples']} samples; μ = max(L₁(m)/T, λ_K), K = {cfg['lb_modes']}; "
             "*capped*: the budget resolves modes below λ_K, so κ̃ is a lower estimate; "
             "`tables/liu_belkin.csv`). The last column: the decay per step their theory "
             "bounds for MaSS and for SGD at 1/L₁(m), on a quadratic:", "",
             "| m | T | modes | L₁ | L | μ | κ̃ | κ_m | κ̃_m | η1 | η2 | γ | "
             "1/√(κ_m κ̃_m); 1/κ_m |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, q in lb[lb.problem == p].iterrows():
        lines.append(
            f"| {q.m} | {q.steps} | {q.modes}{' (capped)' if q.capped else ''} | "
            f"{q.L1:.3g} | {q.L:.3g} | {q.mu:.3g} | {q.kappa_tilde:.3g} | {q.kappa_m:.3g} | "
            f"{q.kappa_tilde_m:.3g} | {q.eta1:.3g} | {q.eta2:.3g} | {q.gamma:.4g} | "
            f"{1 - q.rate:.2e}; {1 - q.rate_sgd:.2e} |")
    return lines + [""]


def _pairs_table(r, cfg: dict) -> list[str]:
    """The configured method-against-method tests (``pairs``) that this problem ran."""
    rows = []
    for pair in cfg.get("pairs", ()):
        a, b = pair.split(":")
        col = f"p_final_vs_{b}"
        if col not in r:
            continue
        for _, q in r[(r.entry == a) & r[col].notna()].iterrows():
            rows.append(f"| {M.label(a)} − {M.label(b)} | {q.m} | {q.variant} | "
                        f"{_fmt(q[f'diff_final_vs_{b}'], 3)} | {_p(q[col])} | "
                        f"{_fmt(q.get(f'ratio_target_vs_{b}'), 3)} | "
                        f"{_p(q.get(f'p_target_vs_{b}'))} |")
    if not rows:
        return []
    return ["| pair | m | variant | median paired difference of the final score | p (final) "
            "| median paired ratio of samples to target | p (samples to target) |",
            "|---|---|---|---|---|---|---|", *rows, ""]


#: The report's claims (SPEC C5) that a cell's paired tests answer: problem → (claim, the
#: methods that should end below SGD).
CLAIMS = {
    "A2-bad": ("(a) Nesterov and MaSS escape the bad start where SGD stays", ("B2", "B4")),
    "A3-stalls": ("(c) restart-Nesterov and MaSS beat SGD on A3", ("B3", "B4")),
    "A3-trains": ("(c) restart-Nesterov and MaSS beat SGD on A3", ("B3", "B4")),
    **{f"S3-d{d}": ("fig. 15: plain SGD performs the worst (B2, B3, B4, B10 end below it)",
                    ("B2", "B3", "B4", "B10")) for d in (3, 4, 5)},
}

#: Seeds below which a paired test cannot settle a claim (SPEC C5 asks ≥ 10).
MIN_UNITS = 10


def headline_rows(run_dir: Path) -> list:
    """Per (problem, m): the best method's final score against SGD's, with the paired
    Wilcoxon p-value; and where the report makes a claim about the cell, its verdict."""
    from mflab.runs.io import read_table
    from mflab.studies.base import Headline

    res = read_table(run_dir, "results")
    res = res[res["variant"] == "stochastic"]
    rows = []
    for (p, m), cell in res.groupby(["problem", "m"], sort=False):
        sgd = cell[cell["entry"] == "B1"]
        if not len(sgd):
            continue
        sgd = sgd.iloc[0]
        best = cell.loc[cell["final"].idxmin()]
        units = int(sgd["units"])
        score = ("L/(½E f²)" if PROBLEMS[p].family == "s3"
                 else score_name(p).replace("_", " "))
        spread = (f"IQR over {units} seeds [{_fmt(best['final_q25'])}, "
                  f"{_fmt(best['final_q75'])}] | [{_fmt(sgd['final_q25'])}, "
                  f"{_fmt(sgd['final_q75'])}]")
        if best["entry"] != "B1":
            spread += f"; paired Wilcoxon p = {_p(best['p_final_vs_ref'])}"
        verdict = ""
        if p in CLAIMS:
            claim, who = CLAIMS[p]
            verdict = claim + ": " + _verdict(cell, who, units)
        rows.append(Headline(f"{p}, m = {m}: final {score}, best ({M.label(best['entry'])}) "
                             "| B1 SGD", f"{_fmt(best['final'])} | {_fmt(sgd['final'])}",
                             spread, verdict))
    return rows


def _verdict(cell, who: tuple[str, ...], units: int) -> str:
    """``borne out`` when every method of ``who`` ends below SGD with p < 0.05 (paired),
    ``contradicted`` when one ends above with p < 0.05, else ``not settled``."""
    parts, signs = [], []
    for e in who:
        r = cell[cell["entry"] == e]
        if not len(r):
            return "not run"
        r = r.iloc[0]
        p, diff = r["p_final_vs_ref"], r["diff_final_vs_ref"]
        parts.append(f"{e} − B1 = {_fmt(diff)} (p = {_p(p)})")
        signs.append(0 if not (p < 0.05) else (-1 if diff < 0 else 1))
    if units < MIN_UNITS:
        head = f"not settled ({units} seeds; the protocol asks ≥ {MIN_UNITS})"
    elif all(s < 0 for s in signs):
        head = "borne out"
    elif any(s > 0 for s in signs):
        head = "contradicted"
    else:
        head = "not settled"
    return head + ": " + "; ".join(parts)
