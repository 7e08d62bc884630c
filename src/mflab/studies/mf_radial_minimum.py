"""C2 companion: the global minimum of the A2 risk over radial laws, and where the DD stops.

R(ρ) = R# + 2∫v dρ + ∫∫ū_d dρ dρ is a convex quadratic functional of the radial law ρ, so
its minimum over laws on a grid of radii (plus r = ∞, the saturated unit) is a convex QP
with a certificate of global optimality (:mod:`mflab.meanfield.radial_minimum`): at the
minimiser ρ*, ψ(r; ρ*) = λ on the support and ≥ λ everywhere. This study computes it at
the paper's d (and in the limit d → ∞), runs the radial DD (the C2 solver, same settings)
from several starts — the SPEC A2 ones κ ∈ {0.1, 0.4}, wider Gaussian starts, and radii
spread uniformly — and places each end point against ρ*: its risk, where its mass sits,
and min_r ψ(r; ρ_T) − λ_T (< 0: mass moved there lowers R, so ρ_T is not the global
minimum; ≈ 0 on the support: ρ_T is stationary).

The DD of the SPEC A2 starts carries its error estimate (dt/2, dt/4, M/2, 2M; observed
orders), so its rows are the C2 table's DD numbers, computed without SGD.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.runs.context import RunContext
from mflab.runs.io import read_arrays, read_config
from mflab.studies.base import Headline, Study
from mflab.studies.meanfield_common import DD_MAX_STEPS, check_dd_steps, dd_error_text


@dataclass(frozen=True)
class MfRadialMinimumConfig(StudyConfig):
    """Config (SPEC A2 paper scale; the DD settings are C2's)."""

    d: int = param(320, ge=2, doc="input dimension d")
    delta: float = param(0.5, ge=0.0, lt=1.0, doc="Δ: class scales 1 ± Δ")
    r_max: float = param(10.0, gt=0, doc="largest finite radius of the QP grid")
    dr: float = param(0.01, gt=0, doc="QP grid spacing (the grid also holds r = ∞)")
    d_infinite: bool = param(True, doc="also solve the QP in the limit d → ∞")
    kappas: tuple[float, ...] = param((0.1, 0.4, 1.0, 2.0, 4.0), gt=0,
                                      doc="DD starts w ~ N(0, κ²/d I)")
    uniform_max: float = param(8.0, ge=0, doc="one more start: radii uniform on [0, this] "
                                              "(0: none)")
    refine_kappas: tuple[float, ...] | None = param(
        (0.1, 0.4), gt=0, doc="starts whose DD error is estimated (none: no estimate)")
    dd_M: int = param(200, ge=2, doc="DD particles (radii)")
    dd_dt: float = param(0.001, gt=0, doc="largest DD time step (Heun)")
    dd_error: str = param("refine", choices=("refine", "coarsen"),
                          doc="DD error estimate from finer solves (refine: dt/2, dt/4, M/2, "
                              "2M) or coarser ones (coarsen: 2dt, dt/2, M/4, M/2; ~¼ the cost)")
    dd_max_steps: int = param(DD_MAX_STEPS, ge=1,
                              doc="refuse a DD solve of more time steps (t_max / dd_dt)")
    t_max: float = param(10.0, gt=0, doc="DD end time")
    dd_records: int = param(201, ge=9, doc="DD records (log-staged in t)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"d": 40, "dr": 0.05, "kappas": (0.1, 0.4, 2.0), "uniform_max": 6.0,
                  "dd_M": 40, "dd_dt": 0.005, "t_max": 5.0, "dd_records": 41,
                  "dd_error": "coarsen"},
    }

    def memory_bytes(self) -> int:
        """The QP: ū on the K × K grid with a few temporaries and the Hermite coefficients
        (2, K, 160); the DD at 2M (pair terms (2M)², ~4 arrays) with its records."""
        K = int(round(self.r_max / self.dr)) + 2
        m = 2 * self.dd_M
        return 8 * (6 * K * K + 2 * 2 * K * 160) + 32 * m * m + 8 * self.dd_records * m

    def check(self) -> None:
        if len(set(self.kappas)) != len(self.kappas):
            raise ConfigError(f"kappas must not repeat; got {self.kappas}.")
        check_dd_steps(self.t_max, self.dd_dt, self.dd_max_steps)
        if not set(self.refine_kappas or ()) <= set(self.kappas):
            raise ConfigError(f"refine_kappas must be among kappas {self.kappas}; "
                              f"got {self.refine_kappas}.")
        if self.dr >= self.r_max:
            raise ConfigError(f"dr must be < r_max ({self.r_max}); got {self.dr}.")
        step = 4 if self.dd_error == "coarsen" else 2
        if self.refine_kappas and self.dd_M % step:
            raise ConfigError(f"dd_M must be a multiple of {step} with dd_error = "
                              f"{self.dd_error} (the error estimate divides it by {step}); "
                              f"got {self.dd_M}.")


def qp_grid(cfg) -> np.ndarray:
    """0, dr, 2 dr, …, r_max and ∞."""
    n = int(round(cfg["r_max"] / cfg["dr"]))
    return np.concatenate([np.linspace(0.0, n * cfg["dr"], n + 1), [math.inf]])


def starts(cfg) -> list[tuple[str, str]]:
    """(label, description) of the DD starts, in run order."""
    out = [(f"kappa{k:g}", f"κ = {k:g}") for k in cfg["kappas"]]
    if cfg["uniform_max"] > 0:
        out.append(("uniform", f"uniform on [0, {cfg['uniform_max']:g}]"))
    return out


def atoms_of_particles(r, gap: float = 0.05) -> list[tuple[float, float]]:
    """Clusters of DD radii (split where sorted radii are more than ``gap`` apart) as
    (mean radius, mass fraction)."""
    r = np.sort(np.abs(np.asarray(r, float)))
    cuts = np.flatnonzero(np.diff(r) > gap) + 1
    return [(float(c.mean()), c.size / r.size) for c in np.split(r, cuts)]


def _fmt_atoms(atoms, max_n: int = 6) -> str:
    txt = "; ".join(("∞" if math.isinf(a) else f"{a:.3g}") + f": {m:.3f}"
                    for a, m in atoms[:max_n])
    return txt + ("; …" if len(atoms) > max_n else "")


class MfRadialMinimumStudy(Study):
    name = "mf-radial-minimum"
    description = ("C2 companion: the global minimum of the A2 risk over radial laws "
                   "(convex QP, KKT certificate) and the DD's end points placed against it")
    Config = MfRadialMinimumConfig

    def run(self, config: MfRadialMinimumConfig, ctx: RunContext) -> None:
        from mflab.meanfield import IsotropicGaussians, sigma_a2, unit_a
        from mflab.meanfield.dd import RadialDD, radial_quantiles
        from mflab.meanfield.radial_minimum import (
            radial_minimum,
            radial_psi,
            radial_psi_slope0,
            radial_terms,
        )
        from mflab.studies.meanfield_common import solve_dd_staged

        c = config
        units, data = unit_a(sigma_a2()), IsotropicGaussians(delta=c.delta, d=c.d)
        grid = qp_grid(c.to_dict())
        ck = ctx.load_checkpoint()
        done = ck.progress if ck else 0
        if done == 0:
            for tag, d in (("d", None), ("dinf", math.inf))[: 2 if c.d_infinite else 1]:
                t0 = time.perf_counter()
                m = radial_minimum(units, data, grid, d=d)
                v, U = radial_terms(units, data, grid, d=d)
                ctx.record_timing(f"qp {tag}", time.perf_counter() - t0)
                ctx.save_arrays(f"minimum_{tag}", radii=m.radii, weights=m.weights, psi=m.psi,
                                risk=np.float64(m.risk), lam=np.float64(m.lam),
                                gap=np.float64(m.gap),
                                risk_atom=data.r_sharp + 2 * v + np.diag(U))  # R(δ_r)
            ctx.save_checkpoint(progress=1)
        system = RadialDD(units, data)
        for i, (label, _) in enumerate(starts(c.to_dict())):
            if done > i + 1:
                continue
            if label == "uniform":
                def init(M):
                    return c.uniform_max * (np.arange(M) + 0.5) / M
                refine = False
            else:
                kappa = c.kappas[i]

                def init(M, kappa=kappa):
                    return radial_quantiles(M, c.d, kappa)
                refine = kappa in (c.refine_kappas or ())
            t0 = time.perf_counter()
            res = solve_dd_staged(system, init(c.dd_M), t_max=c.t_max, dt_max=c.dd_dt,
                                  n_records=c.dd_records, refine=init if refine else None,
                                  progress=ctx.progress, error_sequence=c.dd_error,
                                  executor=ctx.executor)
            ctx.record_timing(f"dd {label}", time.perf_counter() - t0)
            rT = res.particles[-1]
            w = np.full(rT.size, 1.0 / rT.size)
            psi = radial_psi(units, data, grid, rT, w)
            psi_T = radial_psi(units, data, rT, rT, w)  # ψ at the particles themselves
            slope0 = [radial_psi_slope0(units, data, x, w) for x in (res.particles[0], rT)]
            ctx.save_arrays(f"dd_{label}", times=res.times, risk=res.risk,
                            mean_norm=res.mean_norm, particles=res.particles[[0, -1]],
                            err_risk=np.float64(res.err_risk), err_dt=np.float64(res.err_dt),
                            err_M=np.float64(res.err_M), order_dt=np.float64(res.order_dt),
                            order_M=np.float64(res.order_M),
                            err_mean_norm=np.float64(res.err_mean_norm),
                            grid=grid, psi=psi, psi_particles=psi_T,
                            psi_slope0=np.asarray(slope0),
                            lam=np.float64(w @ psi_T))
            ctx.log_metrics([{"optimizer": "dd", "step": j, "metric": "risk", "value": float(v),
                              "case": label, "time": float(t)}
                             for j, (t, v) in enumerate(zip(res.times, res.risk, strict=True))])
            ctx.save_checkpoint(progress=i + 2)

    # ---------------------------------------------------------------- from files only
    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.meanfield import plot_radial_minimum

        cfg = read_config(run_dir)
        mins = {tag: read_arrays(run_dir, f"minimum_{tag}")
                for tag in (("d", "dinf") if cfg["d_infinite"] else ("d",))}
        dds = {desc: read_arrays(run_dir, f"dd_{label}") for label, desc in starts(cfg)}
        return [plot_radial_minimum(run_dir, mins, dds, cfg)]

    captions = {
        "radial_minimum": "Left: ψ(r; ρ*) − λ at the global minimiser ρ* of the A2 risk "
                          "over radial laws, at d and d → ∞ (symmetric-log axis; ▼ marks its "
                          "support, where it is 0; ≥ 0 elsewhere certifies the minimum). "
                          "Middle: ψ − λ at the end point ρ_T of each DD start; below 0 where "
                          "moving mass there would lower R. Right: the DD risk of each start "
                          "against t; dashed: the global minimum R*.",
    }

    def headline(self, run_dir: Path) -> list[Headline]:
        """The global minimum of the radial A2 risk with its certificate, and the best DD
        end point against it (which start, how far above)."""
        cfg = read_config(run_dir)
        a = read_arrays(run_dir, "minimum_d")
        best = float(a["risk"])
        rows = [Headline(f"global min of the A2 risk over radial laws, d = {cfg['d']}",
                         f"{best:.4g}", f"certificate gap {float(a['gap']):.1e}")]
        ends = {desc: read_arrays(run_dir, f"dd_{label}") for label, desc in starts(cfg)}
        desc = min(ends, key=lambda k: float(ends[k]["risk"][-1]))
        e = ends[desc]
        err = "" if np.isnan(e["err_risk"]) else f"DD error est. {float(e['err_risk']):.2g}"
        rows.append(Headline(f"lowest DD end point (start {desc}, t = {cfg['t_max']:g}) "
                             "− global min", f"{float(e['risk'][-1]) - best:.3g}", err))
        return rows

    def summarize(self, run_dir: Path) -> str:
        from mflab.meanfield.radial_minimum import RadialMinimum

        cfg = read_config(run_dir)
        lines = [f"# Global minimum of the A2 risk over radial laws (d = {cfg['d']}, "
                 f"Δ = {cfg['delta']})", "",
                 f"QP over laws on the radii 0, {cfg['dr']:g}, …, {cfg['r_max']:g} and ∞ "
                 "(the saturated unit: averaged over directions it outputs the constant "
                 "(σ(−∞) + σ(∞))/2 = 2.5). Certificate: no law on the grid has a risk below "
                 "R(ρ*) − gap, gap = 2(λ − min ψ).", "",
                 "| d | min risk R(ρ*) | certificate gap | λ | law ρ* (radius: mass) "
                 "| best single atom min R(δ_r) |",
                 "|---|---|---|---|---|---|"]
        for tag in ("d", "dinf") if cfg["d_infinite"] else ("d",):
            a = read_arrays(run_dir, f"minimum_{tag}")
            m = RadialMinimum(a["radii"], a["weights"], float(a["risk"]), a["psi"],
                              float(a["lam"]), float(a["gap"]), 0.0)
            dname = cfg["d"] if tag == "d" else "∞"
            j = int(np.argmin(a["risk_atom"]))
            lines.append(f"| {dname} | {m.risk:.4g} | {m.gap:.1e} | {m.lam:.4g} | "
                         f"{_fmt_atoms(m.atoms())} | {a['risk_atom'][j]:.4g} at r = "
                         f"{a['radii'][j]:.3g} |")
        best = float(read_arrays(run_dir, "minimum_d")["risk"])
        lines += ["", f"DD end points at t = {cfg['t_max']:g} (d = {cfg['d']}, M = "
                  f"{cfg['dd_M']}, Heun, dt ≤ {cfg['dd_dt']}), against R(ρ*) = {best:.4g}. "
                  "min ψ − λ < 0: moving mass to that radius lowers R (not the global "
                  "minimum); ψ − λ on the support: stationarity.", "",
                  "2ψ'(0+) is the speed at which units near r = 0 fall into it (> 0) or "
                  "leave it (< 0), at t = 0 and at t_max.", "", dd_error_text(cfg), "",
                  "| start | final risk | DD error est. (dt part, order; M part, order) "
                  "| law at t_max (radius: mass) | max abs(ψ − λ) on the support "
                  "| min ψ − λ (at r) | 2ψ'(0+) at t = 0 / t_max |",
                  "|---|---|---|---|---|---|---|"]
        for label, desc in starts(cfg):
            a = read_arrays(run_dir, f"dd_{label}")
            j = int(np.argmin(a["psi"]))
            rmin = "∞" if math.isinf(a["grid"][j]) else f"{a['grid'][j]:.3g}"
            err = "—" if np.isnan(a["err_risk"]) else (
                f"{float(a['err_risk']):.2g} ({float(a['err_dt']):.2g}, "
                f"{float(a['order_dt']):.2f}; {float(a['err_M']):.2g}, "
                f"{float(a['order_M']):.2f})")
            lines.append(f"| {desc} | {a['risk'][-1]:.4g} | {err} "
                         f"| {_fmt_atoms(atoms_of_particles(a['particles'][-1]))} "
                         f"| {np.max(np.abs(a['psi_particles'] - a['lam'])):.1e} "
                         f"| {a['psi'][j] - a['lam']:.3g} ({rmin}) "
                         f"| {2 * a['psi_slope0'][0]:.3g} / {2 * a['psi_slope0'][1]:.3g} |")
        lines += ["", "Figure: `figures/radial_minimum.png` (ψ − λ at the minimiser and at "
                  "each DD end point; DD risk vs t against the global minimum)."]
        return "\n".join(lines) + "\n"


STUDY = MfRadialMinimumStudy()
