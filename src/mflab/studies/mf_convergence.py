"""Convergence study: how fast SGD on N units approaches the DD (Theorem 2.1 of the report).

Mei, Montanari & Nguyen (PNAS 2018, Thm. 3) bound the gap between the risk of one SGD
run with N units and step ε, and the risk of the distributional dynamics, at times
t ≤ T, by C(T)·sqrt(max(1/N, ε))·(...). On the A1 model (isotropic Gaussians,
piecewise-linear σ) this study measures R_N(θ^{⌊t/ε⌋}) − R(ρ_t) at a few fixed times, for
a grid of N and ε and several seeds, and reads it with two estimators (:func:`gap_table`):

* **mean |gap|**: the per-run |R_N − R(ρ_t)|, averaged over seeds and times — the
  quantity the theorem bounds (one run); it contains the run's fluctuation,
  O(sqrt(1/N)), which does *not* average out;
* **|mean gap|**: the signed gap averaged over seeds first, then its absolute value
  (averaged over times) — the bias of the risk (O(1/N) self-interaction, O(ε)
  discretisation); with S seeds it cannot fall below the fluctuation's standard error
  ≈ sd/sqrt(S).

Slopes are read locally, between consecutive N (or ε), each with its range
(:func:`local_slopes`), because the gap crosses over from the N-dominated to the
ε-dominated regime near N ≈ 1/ε and one line fitted across it fits neither.

The DD reference is the radial solver (:class:`mflab.meanfield.dd.RadialDD`) with many
radii and a small step; its own error estimate is saved and must be far below the gaps
it is compared with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import jax
import numpy as np

from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.runs.context import RunContext
from mflab.runs.io import read_arrays, read_config
from mflab.studies.base import Headline, Study
from mflab.studies.meanfield_common import DD_MAX_STEPS, check_dd_steps
from mflab.studies.mf_isotropic import sgd_dd_memory


def _cell_name(N: int, eps: float) -> str:
    return f"gap_N{N}_eps{eps:g}"


class Cell(NamedTuple):
    """One (N, ε) cell as a self-contained job: every seed's SGD at width N and step ε,
    recorded at the config's ``times``. It carries the config (a dict), the run's key data
    and the precision, and runs alike wherever it lands.

    Seed s starts from the same units and draws the same data stream at every ε (its key
    depends on N and s only), so runs at ε and ε/2 are paired: their difference, and the
    Richardson combination 2 b(ε/2) − b(ε), carry much less of the initial fluctuation.
    """

    N: int
    eps: float
    config: dict
    key_data: tuple[int, ...]
    x64: bool

    def __call__(self) -> dict[str, np.ndarray]:
        from mflab.meanfield import IsotropicGaussians, init_particles, sigma_a1, unit_a
        from mflab.studies.meanfield_common import sgd_trajectories

        c, t0 = self.config, time.perf_counter()
        with jax.enable_x64(self.x64):
            units, data = unit_a(sigma_a1()), IsotropicGaussians(delta=c["delta"], d=c["d"])
            key = jax.random.fold_in(np.asarray(self.key_data, np.uint32), self.N)
            keys = jax.random.split(key, c["n_seeds"] + 1)
            th0 = np.stack([np.asarray(init_particles(k, units, self.N, c["d"], c["kappa"]))
                            for k in keys[:c["n_seeds"]]])
            steps = np.unique(np.maximum(1, np.round(np.asarray(c["times"]) / self.eps
                                                     / c["block"])).astype(int) * c["block"])
            tr = sgd_trajectories(keys[c["n_seeds"]], units, data, th0, eps=self.eps,
                                  record_steps=np.concatenate([[0], steps]), reduced=False)
        return {"steps": tr["steps"][1:], "times": tr["times"][1:], "risk": tr["risk"][:, 1:],
                "risk0": tr["risk"][:, 0], "seconds": np.float64(time.perf_counter() - t0)}


def run_cell(cell: Cell) -> dict[str, np.ndarray]:
    """Executors map plain functions: run one cell."""
    return cell()


@dataclass(frozen=True)
class MfConvergenceConfig(StudyConfig):
    """Config of the convergence study (A1 model). The paper preset is SPEC D1's design:
    8 seeds, N from 100 to 12 800, ε and ε/2 paired (the same seeds), t ≤ 4."""

    d: int = param(40, ge=2, doc="input dimension d")
    delta: float = param(0.8, ge=0.0, lt=1.0, doc="Δ (SPEC A1)")
    kappa: float = param(0.8, gt=0, doc="init scale κ (SPEC A1)")
    Ns: tuple[int, ...] = param((100, 200, 400, 800, 1600, 3200, 6400, 12800), ge=1,
                                doc="widths N")
    epss: tuple[float, ...] = param((2e-4, 4e-4, 8e-4), gt=0, doc="step sizes ε")
    times: tuple[float, ...] = param((1.0, 2.0, 4.0), gt=0, doc="times t where gaps are measured")
    n_seeds: int = param(8, ge=1, doc="SGD seeds per N (the same at every ε)")
    block: int = param(8, ge=1, doc="steps per blocked-kernel update")
    dd_M: int = param(400, ge=2, doc="DD radii (reference)")
    dd_dt: float = param(0.005, gt=0, doc="DD time step (Heun)")
    dd_max_steps: int = param(DD_MAX_STEPS, ge=1,
                              doc="refuse a DD solve of more time steps (t_max / dd_dt)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"Ns": (100, 200, 400, 800), "n_seeds": 2, "dd_M": 200, "dd_dt": 0.01},
    }

    def check(self) -> None:
        if len(set(self.Ns)) != len(self.Ns) or len(set(self.epss)) != len(self.epss):
            raise ConfigError(f"Ns and epss must not repeat; got Ns={self.Ns}, "
                              f"epss={self.epss}.")
        if len(self.Ns) < 2 or len(self.epss) < 2:
            raise ConfigError(f"need at least two N and two ε; got Ns={self.Ns}, "
                              f"epss={self.epss}.")
        check_dd_steps(max(self.times), self.dd_dt, self.dd_max_steps, "max(times)")

    def memory_bytes(self) -> int:
        """The widest SGD job (all seeds) with its exact risk, and the radial DD refined at
        2M (:func:`~mflab.studies.mf_isotropic.sgd_dd_memory`)."""
        m = 2 * self.dd_M
        n_rec = int(round(max(self.times) / 0.05)) + 1
        return sgd_dd_memory(N=max(self.Ns), d=self.d, n_seeds=self.n_seeds,
                             n_records=len(self.times) + 1, block=self.block, batch=1,
                             dd_pairs=m * m, dd_pair_bytes=32, dd_records=n_rec, dd_width=m)


class MfConvergenceStudy(Study):
    name = "mf-convergence"
    description = ("SGD → DD as N grows and ε shrinks: risk gaps at fixed times (per run and "
                   "seed-averaged) and their local log-log slopes (Theorem 2.1: "
                   "sqrt(max(1/N, ε)))")
    Config = MfConvergenceConfig

    def run(self, config: MfConvergenceConfig, ctx: RunContext) -> None:
        from mflab.meanfield import IsotropicGaussians, sigma_a1, unit_a
        from mflab.meanfield.dd import RadialDD, radial_quantiles, solve_dd
        from mflab.runs.executor import save_each

        c = config
        units, data = unit_a(sigma_a1()), IsotropicGaussians(delta=c.delta, d=c.d)
        t_max = max(c.times)
        if not (ctx.dir / "arrays" / "dd.npz").exists():
            n_rec = int(round(t_max / 0.05)) + 1
            seg = t_max / (n_rec - 1)
            dt = seg / int(np.ceil(seg / c.dd_dt - 1e-9))  # ≤ dd_dt, dividing the interval
            dd = solve_dd(RadialDD(units, data), radial_quantiles(c.dd_M, c.d, c.kappa),
                          t_max=t_max, dt=dt, n_records=n_rec,
                          refine=lambda M: radial_quantiles(M, c.d, c.kappa),
                          progress=ctx.progress, executor=ctx.executor)
            ctx.save_arrays("dd", times=dd.times, risk=dd.risk,
                            **{k: np.float64(getattr(dd, k)) for k in
                               ("err_risk", "err_dt", "err_M", "order_dt", "order_M")})
        dd = read_arrays(ctx.dir, "dd")
        key_data = tuple(int(v) for v in np.asarray(ctx.key).ravel())
        x64 = bool(jax.config.read("jax_enable_x64"))
        # the costliest cells (N/ε) first, so that a pool's workers stay balanced
        cells = [Cell(N, eps, c.to_dict(), key_data, x64)
                 for N, eps in sorted(((N, e) for e in c.epss for N in c.Ns),
                                      key=lambda j: -j[0] / j[1])
                 if not (ctx.dir / "arrays" / f"{_cell_name(N, eps)}.npz").exists()]

        def save(i: int, out) -> None:  # each cell is saved as it ends: a resume skips it
            self._save_cell(ctx, cells[i], out, dd)
            ctx.record_timing(_cell_name(cells[i].N, cells[i].eps), float(out["seconds"]))

        save_each(ctx.executor, run_cell, cells, save)
        ctx.save_table("gaps", gap_table(ctx.dir))
        for name, table in weak_error_tables(ctx.dir).items():
            ctx.save_table(name, table)

    @staticmethod
    def _save_cell(ctx: RunContext, cell: Cell, out: dict, dd) -> None:
        """Log one cell's per-run gaps and save its arrays (a resume skips it)."""
        if not np.all(np.isfinite(out["risk"])):
            s, j = map(int, np.argwhere(~np.isfinite(out["risk"]))[0])
            ctx.diverged(f"SGD N={cell.N} eps={cell.eps:g} seed {s}", "risk is not finite",
                         step=int(out["steps"][j]))
        t = out["times"]
        gaps = np.abs(out["risk"] - np.interp(t, dd["times"], dd["risk"])[None])  # (seeds, t)
        ctx.log_metrics([{"optimizer": "sgd", "step": int(k), "metric": "risk_gap",
                          "value": float(gaps[s, j]), "N": cell.N, "eps": cell.eps,
                          "time": float(t[j])}
                         for s in range(gaps.shape[0]) for j, k in enumerate(out["steps"])],
                        seed=0)
        ctx.save_arrays(_cell_name(cell.N, cell.eps), times=t, gaps=gaps, risk=out["risk"],
                        risk0=out["risk0"], seconds=out["seconds"])

    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.meanfield import plot_convergence

        tab = gap_table(run_dir)
        return [plot_convergence(run_dir, tab, local_slopes(tab, "N", "gap"),
                                 local_slopes(tab, "N", "bias"))]

    captions = {
        "convergence": "Left: the SGD–DD risk gap against the width N, one colour per step "
                       "ε; filled markers with error bars: mean over seeds of the per-run "
                       "|gap| ± standard error; open markers, dashed: |mean gap| (the bias); "
                       "dotted verticals: N = 1/ε; guides ∝ N^−1/2 (solid) and N^−1 "
                       "(dash-dot). Middle: local log-log slopes between consecutive N "
                       "(solid: mean |gap|, dashed: bias) against the theory's −1/2 and the "
                       "bias rate −1. Right: mean |gap| against ε, one colour per N, guide "
                       "∝ ε^1/2.",
    }

    def headline(self, run_dir: Path) -> list[Headline]:
        """The decay of the gap in N at the smallest ε (least-squares slope with its
        standard error), the smallest gap and the floor at the largest ε."""
        tab = gap_table(run_dir)
        e0, e1, n1 = tab.eps.min(), tab.eps.max(), tab.N.max()
        g = tab[tab.eps == e0].sort_values("N")
        rows = []
        if len(g) >= 3:
            (slope, _), cov = np.polyfit(np.log(g.N), np.log(g.gap), 1, cov=True)
            rows.append(Headline(f"slope of mean |gap| in N at ε = {e0:g} (Theorem 2.1's "
                                 "bound C·sqrt(max(1/N, ε)) falls as N^−1/2 while 1/N > ε)",
                                 f"{slope:.2f}",
                                 f"± {np.sqrt(cov[0, 0]):.2f} (standard error, N = "
                                 f"{int(g.N.min())}…{int(g.N.max())})"))
        for eps in dict.fromkeys((e0, e1)):
            r = tab[(tab.eps == eps) & (tab.N == n1)].iloc[0]
            rows.append(Headline(f"mean |gap| at N = {int(n1)}, ε = {eps:g}",
                                 f"{r.gap:.3g}", f"± {r.gap_se:.2g} (standard error)"))
        return rows

    def summarize(self, run_dir: Path) -> str:
        cfg = read_config(run_dir)
        tab = gap_table(run_dir)
        dd = read_arrays(run_dir, "dd")
        epss, Ns = sorted(tab.eps.unique()), sorted(tab.N.unique())
        lines = [
            "# SGD → DD convergence (A1 model)", "",
            f"d = {cfg['d']}, Δ = {cfg['delta']}, κ = {cfg['kappa']}; times t ∈ "
            f"{tuple(cfg['times'])}, {cfg['n_seeds']} seeds per N (the same at every ε). "
            f"DD reference: {cfg['dd_M']} radii, dt = {cfg['dd_dt']}, its error estimate "
            f"{float(dd['err_risk']):.2g}{_dd_parts(dd)}.", "",
            "Two estimators (see the module docstring): **mean |gap|** = mean over seeds and "
            "times of the per-run |R_N − R(ρ_t)| (what Theorem 2.1 bounds; includes the "
            "run's O(sqrt(1/N)) fluctuation); **|mean gap|** = |mean over seeds of R_N − "
            "R(ρ_t)|, averaged over times (the bias; floored by the fluctuation's standard "
            f"error with {cfg['n_seeds']} seeds).", "",
            "Mean |gap| (± standard error over seeds):", "", _grid(tab, "gap", Ns, epss), "",
            "|Mean gap|:", "", _grid(tab, "bias", Ns, epss), "",
            "Local slopes d log(gap) / d log N between consecutive N (the range is in the "
            "column head); theory: −1/2 while 1/N > ε (the sqrt(1/N) term), 0 beyond "
            "(the sqrt(ε) floor), crossover near N = 1/ε.", ""]
        for col, name in (("gap", "mean |gap|"), ("bias", "|mean gap|")):
            sl = local_slopes(tab, "N", col)
            heads = [f"{a}→{b}" for a, b in zip(Ns[:-1], Ns[1:], strict=True)]
            lines += [f"{name}:", "", "| ε | 1/ε | " + " | ".join(heads) + " |",
                      "|---|---|" + "---|" * len(heads)]
            for e in epss:
                row = sl[sl.eps == e].sort_values("lo")
                lines.append(f"| {e:g} | {1 / e:.0f} | "
                             + " | ".join(f"{v:+.2f}" for v in row.slope) + " |")
            lines.append("")
        Nmax = max(Ns)
        sle = local_slopes(tab, "eps", "gap")
        lines += [f"Local slopes of mean |gap| in ε at N = {Nmax} (theory +1/2 while ε > 1/N): "
                  + ", ".join(f"{r.lo:g}→{r.hi:g}: {r.slope:+.2f}"
                              for r in sle[sle.N == Nmax].sort_values("lo").itertuples()),
                  "", "Mean |gap| / sqrt(max(1/N, ε)) — the theorem's constant, if the bound "
                  "holds with the stated rate it stays bounded:", "",
                  _grid(tab.assign(c=tab.gap / np.sqrt(np.maximum(1 / tab.N, tab.eps))), "c",
                        Ns, epss, se=False), "",
                  "Figure: `figures/convergence.png` (gap vs N, both estimators, with N^−1/2 "
                  "and N^−1 guides and the crossover N = 1/ε marked; the local slopes vs N).",
                  ""]
        lines += _weak_error_markdown(run_dir, float(dd["err_risk"]))
        return "\n".join(lines) + "\n"


def _dd_parts(dd) -> str:
    """The DD error's two parts with their observed orders (Heun: 2 in dt; the quantiles:
    ~1 in 1/M), where the run saved them."""
    if "order_dt" not in dd:
        return ""
    return (f" = {float(dd['err_dt']):.2g} from dt (observed order "
            f"{float(dd['order_dt']):.2f}, Heun's is 2) + {float(dd['err_M']):.2g} from the "
            f"radii (observed order {float(dd['order_M']):.2f} in 1/M)")


def _weak_error_markdown(run_dir: Path, err: float) -> list[str]:
    """The summary's weak-error section from the saved tables (none: nothing)."""
    from mflab.runs.io import read_table
    from mflab.studies.markdown import markdown_table

    if not (Path(run_dir) / "tables" / "weak_error.csv").is_file():
        return []
    fits = read_table(run_dir, "weak_error")
    fmt = {k: ".3g" for k in fits.columns if k not in ("t", "cells", "seeds", "dof")}
    lines = ["## Weak error (SPEC D1)", "",
             "The signed bias E R_N − R(ρ_t) (mean over seeds) fitted to a N^−p + b ε^q over "
             "every (N, ε) cell, weighted by standard errors, 95 % bootstrap intervals over "
             "seeds (Theorem 2.1 bounds one run's |gap| by C·sqrt(max(1/N, ε)); a weak error "
             "of a smooth functional is expected as 1/N + ε). SPEC D1 asks the DD "
             f"reference's error ({err:.2g}) to be ≤ 1/10 of the smallest bias it is "
             "compared with (column `DD error / smallest`).", "", markdown_table(fits, fmt), ""]
    if (Path(run_dir) / "tables" / "richardson.csv").is_file():
        rich = read_table(run_dir, "richardson")
        lines += ["Richardson extrapolation per seed (order 1; mean over seeds and times ± "
                  "standard error): in ε at fixed N leaves the N-term, in 1/N at fixed ε "
                  "the ε-term.", "", markdown_table(rich, {"limit": ".3e", "se": ".2e"}), ""]
    if (Path(run_dir) / "tables" / "fluctuation.csv").is_file():
        fl = read_table(run_dir, "fluctuation")
        lines += ["Per-run fluctuation: standard deviation over seeds of the signed gap "
                  "(mean over times), and its log-log slope in N per ε (expected −1/2):", "",
                  markdown_table(fl, {"sd": ".3e", "slope in N": "+.2f", "slope se": ".2f"}), ""]
    return lines


def gap_table(run_dir: Path):
    """Per (N, ε), from the saved arrays: ``gap`` = mean over seeds and times of
    |R_N − R(ρ_t)|, ``gap_se`` its standard error over seeds; ``bias`` = mean over times of
    |mean over seeds of (R_N − R(ρ_t))|, ``bias_se`` = mean over times of sd/sqrt(S) of the
    signed gap (NaN with one seed)."""
    import pandas as pd

    cfg = read_config(run_dir)
    dd = read_arrays(run_dir, "dd")
    rows = []
    for eps in cfg["epss"]:
        for N in cfg["Ns"]:
            a = read_arrays(run_dir, f"gap_N{N}_eps{eps:g}")
            signed = a["risk"] - np.interp(a["times"], dd["times"], dd["risk"])[None]
            rows.append({"N": N, "eps": eps, "gap": float(np.abs(signed).mean()),
                         "gap_se": float(_se(np.abs(signed).mean(1))),
                         "bias": float(np.abs(signed.mean(0)).mean()),
                         "bias_se": float(_se(signed).mean())})
    return pd.DataFrame(rows)


def weak_error_tables(run_dir: Path) -> dict:
    """The weak-error reading of the gaps (SPEC D1), from the saved arrays:

    * ``weak_error`` — per time t, the joint fit of the signed bias E R_N − R(ρ_t) to
      a N^−p + b ε^q over every (N, ε) cell (:func:`~mflab.meanfield.weak_error.
      fit_weak_error`, 95 % bootstrap intervals over seeds), with the smallest |bias| of
      the cells and the DD reference's error estimate as a share of it (SPEC: ≤ 1/10);
    * ``richardson`` — Richardson extrapolation per seed (:func:`~mflab.meanfield.
      weak_error.extrapolate`, order 1): in ε between consecutive step sizes at fixed N
      (what is left is the N-term at that N) and in 1/N between consecutive widths at
      fixed ε (the ε-term at that ε); mean over seeds and times ± standard error over
      seeds. In ε the two runs of seed s share their units and data (paired: the
      initial fluctuation cancels from the difference); in N they are independent draws;
    * ``fluctuation`` — the standard deviation over seeds of the signed gap per (N, ε)
      (mean over times), whose decay in N is expected as N^−1/2 (a run's own fluctuation),
      with the least-squares log-log slope per ε and its standard error.

    Empty tables where the run has fewer than 2 seeds (nothing to fit or extrapolate).
    """
    import pandas as pd

    from mflab.meanfield.weak_error import extrapolate, fit_weak_error

    cfg = read_config(run_dir)
    dd = read_arrays(run_dir, "dd")
    err = float(dd["err_risk"])
    Ns, epss = sorted(cfg["Ns"]), sorted(cfg["epss"])
    signed = {}
    for eps in epss:
        for N in Ns:
            a = read_arrays(run_dir, f"gap_N{N}_eps{eps:g}")
            signed[N, eps] = a["risk"] - np.interp(a["times"], dd["times"], dd["risk"])[None]
    S = next(iter(signed.values())).shape[0]
    if S < 2:
        return {}
    fits, rich, fluct = [], [], []
    keys = list(signed)
    for j, t in enumerate(cfg["times"]):
        bias = np.stack([signed[k][:, j] for k in keys])  # (cells, seeds)
        smallest = float(np.abs(bias.mean(axis=1)).min())
        row = {"t": t, "cells": len(keys), "seeds": S, "smallest |bias|": smallest,
               "DD error / smallest": err / smallest if smallest > 0 else float("inf")}
        if len(keys) >= 5 and len(Ns) >= 2 and len(epss) >= 2:
            fit = fit_weak_error([k[0] for k in keys], [k[1] for k in keys], bias,
                                 n_boot=500)
            for name in ("a", "p", "b", "q"):
                row[name] = fit[name]
                row[f"{name}_lo"], row[f"{name}_hi"] = fit["intervals"][name]
            row |= {"chi2": fit["chi2"], "dof": fit["dof"]}
        fits.append(row)

    def extrapolated(coarse, fine, ratio):
        per_seed = extrapolate(coarse, fine, ratio=ratio).mean(axis=1)  # mean over times
        return float(per_seed.mean()), float(per_seed.std(ddof=1) / np.sqrt(S))

    for N in Ns:
        for e_fine, e_coarse in zip(epss[:-1], epss[1:], strict=True):
            m, se = extrapolated(signed[N, e_coarse], signed[N, e_fine], e_coarse / e_fine)
            rich.append({"in": "eps", "N": N, "eps": f"{e_fine:g},{e_coarse:g}",
                         "limit": m, "se": se, "term": f"N-term at N = {N}"})
    for eps in epss:
        for n_lo, n_hi in zip(Ns[:-1], Ns[1:], strict=True):
            m, se = extrapolated(signed[n_lo, eps], signed[n_hi, eps], n_hi / n_lo)
            rich.append({"in": "1/N", "N": f"{n_lo},{n_hi}", "eps": f"{eps:g}",
                         "limit": m, "se": se, "term": f"eps-term at eps = {eps:g}"})
    for eps in epss:
        sd = [float(signed[N, eps].std(axis=0, ddof=1).mean()) for N in Ns]
        slope, slope_se = (np.polyfit(np.log(Ns), np.log(sd), 1, cov=True)
                           if len(Ns) >= 4 else (np.polyfit(np.log(Ns), np.log(sd), 1), None))
        for N, v in zip(Ns, sd, strict=True):
            fluct.append({"eps": eps, "N": N, "sd": v, "slope in N": float(slope[0]),
                          "slope se": float(np.sqrt(slope_se[0, 0])) if slope_se is not None
                          else float("nan")})
    return {"weak_error": pd.DataFrame(fits), "richardson": pd.DataFrame(rich),
            "fluctuation": pd.DataFrame(fluct)}


def _se(x: np.ndarray) -> np.ndarray:
    """Standard error of the mean over the seed axis 0 (NaN with one seed)."""
    if x.shape[0] < 2:
        return np.full(x.shape[1:], np.nan)
    return x.std(ddof=1, axis=0) / np.sqrt(x.shape[0])


def local_slopes(table, along: str, col: str):
    """Slopes of log(col) between consecutive values of ``along`` ("N" or "eps"), the other
    held fixed: rows (fixed value, lo, hi, slope)."""
    import pandas as pd

    other = "eps" if along == "N" else "N"
    rows = []
    for val, g in table.groupby(other):
        g = g.sort_values(along)
        x, y = np.log(g[along].to_numpy(float)), np.log(g[col].to_numpy(float))
        for i in range(len(g) - 1):
            rows.append({other: val, "lo": g[along].iloc[i], "hi": g[along].iloc[i + 1],
                         "slope": float((y[i + 1] - y[i]) / (x[i + 1] - x[i]))})
    return pd.DataFrame(rows)


def _grid(tab, col: str, Ns, epss, se: bool = True) -> str:
    """Markdown table N × ε of ``col`` (with ± ``col_se`` when available)."""
    lines = ["| N \\ ε | " + " | ".join(f"{e:g}" for e in epss) + " |",
             "|---|" + "---|" * len(epss)]
    for N in Ns:
        cells = []
        for e in epss:
            r = tab[(tab.N == N) & (tab.eps == e)].iloc[0]
            err = r.get(f"{col}_se", np.nan) if se else np.nan
            cells.append(f"{r[col]:.4f}" + (f" ± {err:.4f}" if np.isfinite(err) else ""))
        lines.append(f"| {N} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


STUDY = MfConvergenceStudy()
