"""Convergence study: how fast SGD on N units approaches the DD (Theorem 2.1 of the report).

Mei, Montanari & Nguyen (PNAS 2018, Thm. 3) bound the gap between the risk of SGD with
N units and step ε, and the risk of the distributional dynamics, at times t ≤ T, by
C(T)·sqrt(max(1/N, ε))·(...). On the A1 model (isotropic Gaussians, piecewise-linear σ)
this study measures |R_N(θ^{⌊t/ε⌋}) − R(ρ_t)| at a few fixed times, averaged over seeds,
for a grid of N and ε, and fits log-log slopes: gap vs N at the smallest ε (theory −1/2
while 1/N > ε) and gap vs ε at the largest N (theory +1/2 while ε > 1/N).

The DD reference is the radial solver (:class:`mflab.meanfield.dd.RadialDD`) with many
radii and a small step; its own error estimate (dt/2, 2M) is saved and must be far
below the gaps it is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import jax
import numpy as np

from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.runs.context import RunContext
from mflab.runs.io import read_arrays, read_config, read_table
from mflab.studies.base import Study
from mflab.studies.mf_isotropic import sgd_dd_memory


@dataclass(frozen=True)
class MfConvergenceConfig(StudyConfig):
    """Config of the convergence study (A1 model; paper: N from 100 to 6400)."""

    d: int = param(40, ge=2, doc="input dimension d")
    delta: float = param(0.8, ge=0.0, lt=1.0, doc="Δ (SPEC A1)")
    kappa: float = param(0.8, gt=0, doc="init scale κ (SPEC A1)")
    Ns: tuple[int, ...] = param((100, 200, 400, 800, 1600, 3200, 6400), ge=1, doc="widths N")
    epss: tuple[float, ...] = param((2.5e-5, 1e-4, 4e-4, 1.6e-3), gt=0, doc="step sizes ε")
    times: tuple[float, ...] = param((2.0, 4.0, 8.0), gt=0, doc="times t where gaps are measured")
    n_seeds: int = param(3, ge=1, doc="SGD seeds per (N, ε)")
    block: int = param(8, ge=1, doc="steps per blocked-kernel update")
    dd_M: int = param(400, ge=2, doc="DD radii (reference)")
    dd_dt: float = param(0.005, gt=0, doc="DD time step (Heun)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"Ns": (100, 200, 400, 800), "epss": (1e-4, 4e-4, 1.6e-3), "n_seeds": 2,
                  "times": (1.0, 2.0, 4.0), "dd_M": 200, "dd_dt": 0.01},
    }

    def check(self) -> None:
        if len(set(self.Ns)) != len(self.Ns) or len(set(self.epss)) != len(self.epss):
            raise ConfigError(f"Ns and epss must not repeat; got Ns={self.Ns}, "
                              f"epss={self.epss}.")
        if len(self.Ns) < 2 or len(self.epss) < 2:
            raise ConfigError(f"need at least two N and two ε; got Ns={self.Ns}, "
                              f"epss={self.epss}.")

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
    description = ("SGD → DD as N grows and ε shrinks: risk gaps at fixed times and their "
                   "fitted log-log slopes (Theorem 2.1: sqrt(max(1/N, ε)))")
    Config = MfConvergenceConfig

    def run(self, config: MfConvergenceConfig, ctx: RunContext) -> None:
        import pandas as pd

        from mflab.meanfield import IsotropicGaussians, init_particles, sigma_a1, unit_a
        from mflab.meanfield.dd import RadialDD, radial_quantiles, solve_dd
        from mflab.studies.meanfield_common import sgd_trajectories

        c = config
        units, data = unit_a(sigma_a1()), IsotropicGaussians(delta=c.delta, d=c.d)
        t_max = max(c.times)
        ck = ctx.load_checkpoint()
        done = ck.progress if ck else 0
        if done == 0:
            n_rec = int(round(t_max / 0.05)) + 1
            seg = t_max / (n_rec - 1)
            dt = seg / int(np.ceil(seg / c.dd_dt - 1e-9))  # ≤ dd_dt, dividing the interval
            dd = solve_dd(RadialDD(units, data), radial_quantiles(c.dd_M, c.d, c.kappa),
                          t_max=t_max, dt=dt, n_records=n_rec,
                          refine=lambda M: radial_quantiles(M, c.d, c.kappa))
            ctx.save_arrays("dd", times=dd.times, risk=dd.risk, err_risk=np.float64(dd.err_risk))
            ctx.save_checkpoint(progress=1)
        dd = read_arrays(ctx.dir, "dd")
        jobs = [(N, eps) for eps in c.epss for N in c.Ns]
        for i, (N, eps) in enumerate(jobs):
            if i + 1 < done:
                continue
            steps = np.unique(np.maximum(1, np.round(np.asarray(c.times) / eps / c.block))
                              .astype(int) * c.block)
            keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(ctx.key, N),
                                                       int(round(eps * 1e9))), c.n_seeds + 1)
            th0 = np.stack([np.asarray(init_particles(k, units, N, c.d, c.kappa))
                            for k in keys[: c.n_seeds]])
            tr = sgd_trajectories(keys[c.n_seeds], units, data, th0, eps=eps,
                                  record_steps=np.concatenate([[0], steps]), reduced=False)
            t = tr["times"][1:]
            ref = np.interp(t, dd["times"], dd["risk"])
            gaps = np.abs(tr["risk"][:, 1:] - ref[None])  # (seeds, times)
            ctx.log_metrics([{"optimizer": "sgd", "step": int(k), "metric": "risk_gap",
                              "value": float(gaps[s, j]), "N": N, "eps": eps,
                              "time": float(t[j])}
                             for s in range(c.n_seeds)
                             for j, k in enumerate(tr["steps"][1:])], seed=0)
            ctx.save_arrays(f"gap_N{N}_eps{eps:g}", times=t, gaps=gaps, risk=tr["risk"][:, 1:])
            ctx.save_checkpoint(progress=i + 2)
        rows = []
        for N, eps in jobs:
            a = read_arrays(ctx.dir, f"gap_N{N}_eps{eps:g}")
            rows.append({"N": N, "eps": eps, "gap": float(a["gaps"].mean()),
                         "gap_se": float(a["gaps"].mean(1).std(ddof=1) / np.sqrt(c.n_seeds))
                         if c.n_seeds > 1 else float("nan")})
        ctx.save_table("gaps", pd.DataFrame(rows))

    # ---------------------------------------------------------------- from files only
    @staticmethod
    def slopes(table) -> dict[str, float]:
        """Fitted slopes of log(gap): vs log N at the smallest ε, vs log ε at the largest N."""
        small = table[table.eps == table.eps.min()]
        large = table[table.N == table.N.max()]
        return {"N": float(np.polyfit(np.log(small.N), np.log(small.gap), 1)[0]),
                "eps": float(np.polyfit(np.log(large.eps), np.log(large.gap), 1)[0])}

    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.meanfield import plot_convergence

        return [plot_convergence(run_dir, read_table(run_dir, "gaps"))]

    def summarize(self, run_dir: Path) -> str:
        cfg = read_config(run_dir)
        tab = read_table(run_dir, "gaps")
        dd = read_arrays(run_dir, "dd")
        sl = self.slopes(tab)
        lines = [
            "# SGD → DD convergence (A1 model)", "",
            f"d = {cfg['d']}, Δ = {cfg['delta']}, κ = {cfg['kappa']}; gap = "
            f"|R_N(θ_k) − R(ρ_t)| averaged over t ∈ {tuple(cfg['times'])} and "
            f"{cfg['n_seeds']} seeds. DD reference: {cfg['dd_M']} radii, dt = {cfg['dd_dt']}, "
            f"its error estimate {float(dd['err_risk']):.2g}.", "",
            "| N \\ ε | " + " | ".join(f"{e:g}" for e in sorted(tab.eps.unique())) + " |",
            "|---|" + "---|" * tab.eps.nunique()]
        for N in sorted(tab.N.unique()):
            cells = [f"{tab[(tab.N == N) & (tab.eps == e)].gap.iloc[0]:.4f}"
                     for e in sorted(tab.eps.unique())]
            lines.append(f"| {N} | " + " | ".join(cells) + " |")
        lines += ["", f"Fitted slopes: gap vs N at ε = {tab.eps.min():g}: **{sl['N']:.2f}** "
                  f"(theory −0.5 while 1/N > ε); gap vs ε at N = {tab.N.max()}: "
                  f"**{sl['eps']:.2f}** (theory +0.5 while ε > 1/N).", "",
                  "Figure: `figures/convergence.png`."]
        return "\n".join(lines) + "\n"


STUDY = MfConvergenceStudy()
