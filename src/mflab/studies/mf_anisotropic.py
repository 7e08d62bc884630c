"""Study C3: anisotropic Gaussians with ReLU units — SGD vs the reduced DD (SPEC A3).

x | y = ±1 ~ N(0, Σ±), Σ± = diag((1 ± Δ)² × s0, 1 × (d − s0)); units
σ*(x; θ) = a·relu(⟨w, x⟩ + b). The initial law (a = a0, b = b0, w ~ N(0, κ²/d I_d)) is
invariant under rotations of the informative block and of the rest, and so is the DD:
it lives in (a, b, r1, r2), r1 = |w_{1..s0}|, r2 = |w_{s0+1..d}|
(:class:`mflab.meanfield.dd_aniso.AnisotropicDD`, Mei, Montanari & Nguyen 2018).

Two initialisations (report fig. 9): with the same a0 = 1, b0 = 0, a wide start
(κ = 4) trains to a low risk, while a narrow one (κ = 0.8) stalls on a plateau near
R ≈ 0.6 — in SGD and in the DD alike (measured; the SPEC leaves the inits open).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.runs.context import RunContext
from mflab.runs.io import read_arrays, read_config
from mflab.studies.base import Headline, Study
from mflab.studies.meanfield_common import (
    DD_MAX_STEPS,
    check_dd_steps,
    dd_error_text,
    dd_gap,
    simulate_case,
)
from mflab.studies.mf_isotropic import sgd_dd_memory


@dataclass(frozen=True)
class MfAnisotropicConfig(StudyConfig):
    """Config of C3 (SPEC A3 paper scale: d = 320, s0 = 60, Δ = 0.5, N = 800)."""

    d: int = param(320, ge=2, doc="input dimension d")
    s0: int = param(60, ge=1, doc="informative coordinates s0")
    N: int = param(800, ge=1, doc="hidden units of the SGD network")
    delta: float = param(0.5, ge=0.0, lt=1.0, doc="Δ: informative scales 1 ± Δ")
    kappas: tuple[float, ...] = param((4.0, 0.8), gt=0, doc="init scales κ: w ~ N(0, κ²/d I)")
    a0: float = param(1.0, doc="initial output weight a_i")
    b0: float = param(0.0, doc="initial bias b_i")
    n_steps: int = param(1_000_000, ge=1, doc="SGD steps (one fresh sample each)")
    eps: float = param(5e-5, gt=0, doc="ε: step s = ε, time t = kε")
    batch: int = param(1, ge=1, doc="mini-batch size m (SPEC: 1)")
    block: int = param(32, ge=1, doc="steps per blocked-kernel update")
    n_seeds: int = param(1, ge=1, doc="SGD seeds")
    n_records: int = param(21, ge=3, doc="SGD records (log-spaced in t)")
    dd_m1: int = param(6, ge=1, doc="DD quantiles of r1 (particles: dd_m1 × dd_m2)")
    dd_m2: int = param(6, ge=1, doc="DD quantiles of r2")
    dd_dt: float = param(0.05, gt=0, doc="largest DD time step (Heun, order 2)")
    dd_max_steps: int = param(DD_MAX_STEPS, ge=1,
                              doc="refuse a DD solve of more time steps (t_max / dd_dt)")
    dd_refine: bool = param(True, doc="estimate the DD error (Richardson in dt and m2)")
    dd_error: str = param("refine", choices=("refine", "coarsen"),
                          doc="DD error estimate from finer solves (refine: dt/2, dt/4, m2/2, "
                              "2·m2) or coarser ones (coarsen: 2dt, dt/2, m2/4, m2/2; ~¼ the cost)")
    dd_records: int = param(81, ge=3, doc="DD records (log-staged in t)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"d": 40, "s0": 12, "N": 200, "n_steps": 20_000, "eps": 1e-3,
                  "n_records": 12, "dd_m1": 4, "dd_m2": 4, "dd_records": 41,
                  # the records' log-staging already caps the step: dt 0.1 gives the same
                  # risks as 0.05 to 4 digits (its error estimate is the M part) at half
                  # the Richardson solves' cost
                  "dd_dt": 0.1, "dd_error": "coarsen"},
    }

    def check(self) -> None:
        if len(set(self.kappas)) != len(self.kappas):
            raise ConfigError(f"kappas must not repeat; got {self.kappas}.")
        check_dd_steps(self.n_steps * self.eps, self.dd_dt, self.dd_max_steps, "n_steps·eps")
        step = 4 if self.dd_error == "coarsen" else 2
        if self.dd_refine and self.dd_m2 % step:
            raise ConfigError(f"dd_m2 must be a multiple of {step} when dd_refine with "
                              f"dd_error = {self.dd_error} (the error estimate divides it by "
                              f"{step}); got {self.dd_m2}.")
        if self.s0 >= self.d:
            raise ConfigError(f"s0 must be < d ({self.d}); got {self.s0}.")
        if self.n_steps % self.block:
            raise ConfigError(f"n_steps must be a multiple of block ({self.block}); "
                              f"got {self.n_steps}.")

    def memory_bytes(self) -> int:
        """SGD and the (a, b, r1, r2) DD of one κ at a time (:func:`sgd_dd_memory`): each
        DD pair holds the series' moment terms, 2 classes × 40² (K = 40 terms) floats
        with temporaries, ~77 kB (measured: ~60 kB per pair at M = 144)."""
        m = self.dd_m1 * self.dd_m2 * (2 if self.dd_refine and self.dd_error == "refine"
                                       else 1)
        return sgd_dd_memory(N=self.N, d=self.d, n_seeds=self.n_seeds,
                             n_records=self.n_records, block=self.block, batch=self.batch,
                             dd_pairs=m * m, dd_pair_bytes=8 * 2 * 40 * 40 * 3,
                             dd_records=self.dd_records, dd_width=4 * m)


class MfAnisotropicStudy(Study):
    name = "mf-anisotropic"
    description = ("C3: anisotropic Gaussians, ReLU units (A3): one initialisation trains, "
                   "one stalls; SGD vs the DD in (a, b, r1, r2)")
    Config = MfAnisotropicConfig

    def run(self, config: MfAnisotropicConfig, ctx: RunContext) -> None:
        from mflab.meanfield import UNIT_RELU, AnisotropicGaussians, init_particles
        from mflab.meanfield.dd_aniso import AnisotropicDD, aniso_quantiles

        data = AnisotropicGaussians(delta=config.delta, d=config.d, s0=config.s0)
        c = config
        phase = 0
        for kappa in c.kappas:
            def dd_init(M, kappa=kappa):  # M = m1·m2 (error estimate: m2 halved, doubled)
                return aniso_quantiles(c.dd_m1, M // c.dd_m1, c.d, c.s0, kappa, c.a0, c.b0)

            phase = simulate_case(
                ctx, f"kappa{kappa:g}", phase, units=UNIT_RELU, data=data,
                theta0_fn=lambda k, kappa=kappa: init_particles(k, UNIT_RELU, c.N, c.d, kappa,
                                                                a0=c.a0, b0=c.b0),
                dd_system=AnisotropicDD(data), dd_init=dd_init, n_seeds=c.n_seeds, eps=c.eps,
                n_steps=c.n_steps, n_records=c.n_records, batch=c.batch, block=c.block,
                dd_M=c.dd_m1 * c.dd_m2, dd_dt=c.dd_dt, dd_refine=c.dd_refine,
                dd_records=c.dd_records, dd_error=c.dd_error)

    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.meanfield import plot_reduced_scatter, plot_risk_and_norm

        cfg = read_config(run_dir)
        cases = {f"kappa{k:g}": (read_arrays(run_dir, f"sgd_kappa{k:g}"),
                                 read_arrays(run_dir, f"dd_kappa{k:g}")) for k in cfg["kappas"]}
        return [plot_risk_and_norm(run_dir, cases, cfg, self.name),
                plot_reduced_scatter(run_dir, cases)]

    captions = {
        "risk_norm": "Left: risk against mean-field time t = kε; dots: SGD with N units "
                     "(mean over seeds), line: the DD in the reduced coordinates (a, b, r1, "
                     "r2), one colour per initial scale κ. Right: the mean |w|, same encoding.",
        "reduced": "The units at the end in the (r1, r2) plane (the norms of w's components "
                   "in the first s0 coordinates and in the rest): SGD units as dots, DD "
                   "particles as black crosses; one panel per κ.",
    }

    def headline(self, run_dir: Path) -> list[Headline]:
        """Per κ: final risk of SGD and the DD; the report's fig. 9 claim: one start
        trains, the other stalls (decided on the DD, SGD checked against it)."""
        cfg = read_config(run_dir)
        rows, outcome, sgd_end = [], {}, {}
        for k in cfg["kappas"]:
            sgd = read_arrays(run_dir, f"sgd_kappa{k:g}")
            dd = read_arrays(run_dir, f"dd_kappa{k:g}")
            outcome[k], sgd_end[k] = _outcome(dd), float(sgd["risk"].mean(0)[-1])
            rows.append(Headline(f"κ = {k:g}: final risk, SGD (N = {cfg['N']}) | DD",
                                 f"{sgd_end[k]:.3g} | {float(dd['risk'][-1]):.3g} "
                                 f"({outcome[k]})",
                                 f"DD error est. {float(dd['err_risk']):.2g}"))
        trains = [k for k in outcome if outcome[k] == "trains"]
        stalls = [k for k in outcome if outcome[k] == "stalls"]
        if trains and stalls:
            agree = max(sgd_end[k] for k in trains) < min(sgd_end[k] for k in stalls)
            rows.append(Headline(
                "one start trains, one stalls (report fig. 9)",
                f"trains: κ = {', '.join(f'{k:g}' for k in trains)}; stalls: κ = "
                f"{', '.join(f'{k:g}' for k in stalls)}", "",
                "borne out in the DD; SGD " + ("agrees" if agree else "does not agree")))
        return rows

    def summarize(self, run_dir: Path) -> str:
        cfg = read_config(run_dir)
        lines = [f"# C3 — anisotropic Gaussians, ReLU units: SGD (N = {cfg['N']}) vs DD", "",
                 f"d = {cfg['d']}, s0 = {cfg['s0']}, Δ = {cfg['delta']}, a0 = {cfg['a0']}, "
                 f"b0 = {cfg['b0']}, ε = {cfg['eps']}, {cfg['n_steps']} SGD steps "
                 f"(t_max = {cfg['n_steps'] * cfg['eps']:g}); DD with "
                 f"{cfg['dd_m1']}×{cfg['dd_m2']} particles in (a, b, r1, r2), Heun, "
                 f"dt ≤ {cfg['dd_dt']:g}.", "", dd_error_text(cfg, "m2"), "",
                 "| κ | final risk SGD | final risk DD | DD error est. | max abs(R_SGD − R_DD) "
                 "| outcome |", "|---|---|---|---|---|---|"]
        for k in cfg["kappas"]:
            sgd = read_arrays(run_dir, f"sgd_kappa{k:g}")
            dd = read_arrays(run_dir, f"dd_kappa{k:g}")
            r = sgd["risk"].mean(0)
            gap = dd_gap(sgd["times"], r, dd["times"], dd["risk"])
            outcome = _outcome(dd)
            lines.append(f"| {k:g} | {r[-1]:.4g} | {dd['risk'][-1]:.4g} | "
                         f"{float(dd['err_risk']):.2g} | {gap:.3g} | {outcome} |")
        lines += ["", "Figures: `figures/risk_norm.png` (risk and mean |w| vs t), "
                  "`figures/reduced.png` (units in the (r1, r2) plane at the end: SGD dots, "
                  "DD particles)."]
        return "\n".join(lines) + "\n"


def _outcome(dd) -> str:
    """``trains`` when the DD risk ends below half its start and below 0.3, else ``stalls``."""
    return "trains" if dd["risk"][-1] < 0.5 * dd["risk"][0] and dd["risk"][-1] < 0.3 \
        else "stalls"


STUDY = MfAnisotropicStudy()
