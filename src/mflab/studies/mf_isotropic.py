"""Studies C1 and C2: SGD on N units vs the radial distributional dynamics (SPEC A1, A2).

Data y = ±1, x | y ~ N(0, (1 + yΔ)² I_d); units σ*(x; w) = σ(⟨w, x⟩); init
w_i ~ N(0, κ²/d I_d). The DD keeps the spherical symmetry of the data and of the initial
law, so it is solved in the radius r = |w| alone (exact at every finite d: the cosine
of two independent directions has density ∝ (1 − c²)^((d−3)/2)), by
:class:`mflab.meanfield.dd.RadialDD` (Mei, Montanari & Nguyen, PNAS 2018, Figs. 2–3).

* **C1** (``mf-isotropic``, A1): the piecewise-linear σ, Δ = 0.8, κ = 0.8. Outputs:
  |w| histograms of SGD at several times over the DD radial density; risk vs t; mean
  |w| vs t (report fig. 4).
* **C2** (``mf-nonmonotone``, A2): the non-monotone σ, Δ = 0.5, κ ∈ {0.1, 0.4}; the two
  initialisations end at different stationary points (report fig. 7, errata 3 and 7).

Time t = kε is the same axis for SGD (step k) and the DD. ε is chosen so that the
paper-scale run reaches the DD's stationary regime (see each config).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

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


def sgd_dd_memory(*, N: int, d: int, n_seeds: int, n_records: int, block: int, batch: int,
                  dd_pairs: int, dd_pair_bytes: int, dd_records: int, dd_width: int) -> int:
    """Memory estimate (bytes, 8-byte floats) of one SGD-vs-DD case.

    SGD: the particles of every seed with the blocked kernel's (N, B·m) update and the
    (B·m, d) data block; the records of the reduced coordinates; the exact risk, ~16
    floats per pair of units in one block of pairs (:data:`mflab.meanfield.risk.PAIR_BLOCK`,
    at least one row of N). DD: its pair interactions (``dd_pairs`` pairs of
    ``dd_pair_bytes`` bytes) and records.
    """
    from mflab.meanfield.risk import PAIR_BLOCK

    bm = block * batch
    sgd = 8 * (4 * n_seeds * N * (d + 3) + 3 * N * bm + 2 * bm * (d + bm)
               + 4 * n_records * n_seeds * N)
    risk = 8 * 16 * min(N * N, max(N, PAIR_BLOCK))
    dd = dd_pairs * dd_pair_bytes + 8 * dd_records * dd_width
    return sgd + risk + dd


def check_time_grid(cfg) -> None:
    """SGD records fall on whole blocks of the blocked kernel; κ values do not repeat; the DD
    error estimate can halve dd_M."""
    step = 4 if cfg.dd_error == "coarsen" else 2
    if cfg.dd_refine and cfg.dd_M % step:
        raise ConfigError(f"dd_M must be a multiple of {step} when dd_refine with dd_error = "
                          f"{cfg.dd_error} (the error estimate divides it by {step}); "
                          f"got {cfg.dd_M}.")
    if len(set(cfg.kappas)) != len(cfg.kappas):
        raise ConfigError(f"kappas must not repeat; got {cfg.kappas}.")
    if cfg.n_steps % cfg.block:
        raise ConfigError(f"n_steps must be a multiple of block ({cfg.block}); "
                          f"got {cfg.n_steps}.")


class _RadialCaseConfig(StudyConfig):
    """The checks and memory estimate C1 and C2 share (both: SGD vs the radial DD, per κ)."""

    def check(self) -> None:
        check_time_grid(self)
        check_dd_steps(self.n_steps * self.eps, self.dd_dt, self.dd_max_steps, "n_steps·eps")

    def memory_bytes(self) -> int:
        """SGD and radial DD of one κ at a time (:func:`sgd_dd_memory`); the DD's pair
        terms are (M, M) arrays, ~4 of them, at 2M when refined."""
        m = self.dd_M * (2 if self.dd_refine and self.dd_error == "refine" else 1)
        return sgd_dd_memory(N=self.N, d=self.d, n_seeds=self.n_seeds,
                             n_records=self.n_records, block=self.block, batch=self.batch,
                             dd_pairs=m * m, dd_pair_bytes=32, dd_records=self.dd_records,
                             dd_width=m)


@dataclass(frozen=True)
class MfIsotropicConfig(_RadialCaseConfig):
    """Config of C1 (SPEC A1, paper scale). ε = 1e-4 with 10⁷ steps reaches t = 1000,
    where the DD risk has fallen from 1.70 to ≈ 0.014 and changes by about 1.4 % over
    the last 100 time units (the summary reports it): close to, not at, stationarity."""

    d: int = param(40, ge=2, doc="input dimension d")
    N: int = param(800, ge=1, doc="hidden units of the SGD network")
    delta: float = param(0.8, ge=0.0, lt=1.0, doc="Δ: class scales 1 ± Δ")
    kappas: tuple[float, ...] = param((0.8,), gt=0, doc="init scales κ: w ~ N(0, κ²/d I)")
    n_steps: int = param(10_000_000, ge=1, doc="SGD steps (one fresh sample each)")
    eps: float = param(1e-4, gt=0, doc="ε: step s = ε, time t = kε")
    batch: int = param(1, ge=1, doc="mini-batch size m (SPEC: 1)")
    block: int = param(32, ge=1, doc="steps per blocked-kernel update")
    n_seeds: int = param(1, ge=1, doc="SGD seeds")
    n_records: int = param(41, ge=3, doc="SGD records (log-spaced in t)")
    dd_M: int = param(200, ge=2, doc="DD particles (radii)")
    dd_dt: float = param(0.1, gt=0, doc="largest DD time step (Heun, order 2)")
    dd_max_steps: int = param(DD_MAX_STEPS, ge=1,
                              doc="refuse a DD solve of more time steps (t_max / dd_dt)")
    dd_refine: bool = param(True, doc="estimate the DD error (Richardson in dt and M)")
    dd_error: str = param("refine", choices=("refine", "coarsen"),
                          doc="DD error estimate from finer solves (refine: dt/2, dt/4, M/2, "
                              "2M) or coarser ones (coarsen: 2dt, dt/2, M/4, M/2; ~¼ the cost)")
    dd_records: int = param(201, ge=3, doc="DD records (evenly spaced in t)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"N": 400, "n_steps": 384_000, "eps": 2.5e-4, "n_records": 16, "dd_M": 100,
                  "dd_dt": 0.1, "dd_records": 97, "dd_error": "coarsen"},
    }


@dataclass(frozen=True)
class MfNonmonotoneConfig(_RadialCaseConfig):
    """Config of C2 (SPEC A2, paper scale). ε = 1e-6 with 10⁷ steps reaches t = 10, when
    both DD solutions have settled (κ = 0.1 collapses onto w = 0 by t ≈ 0.1; κ = 0.4
    converges by t ≈ 5). ε must be small against 1/d: near w = 0 the SGD noise keeps
    |w| ~ ε·d, and at ε = 2e-5 (d = 320) it lifts the κ = 0.1 units off the bad point,
    so SGD would leave the DD regime (docs/results/meanfield.md). The radial DD has a
    cone point at r = 0 (V is not smooth there); RadialDD integrates it as its Filippov
    solution, which keeps Heun's order 2."""

    d: int = param(320, ge=2, doc="input dimension d")
    N: int = param(800, ge=1, doc="hidden units of the SGD network")
    delta: float = param(0.5, ge=0.0, lt=1.0, doc="Δ: class scales 1 ± Δ")
    kappas: tuple[float, ...] = param((0.1, 0.4), gt=0, doc="init scales κ (SPEC A2)")
    n_steps: int = param(10_000_000, ge=1, doc="SGD steps (one fresh sample each)")
    eps: float = param(1e-6, gt=0, doc="ε: step s = ε, time t = kε")
    batch: int = param(1, ge=1, doc="mini-batch size m (SPEC: 1)")
    block: int = param(32, ge=1, doc="steps per blocked-kernel update")
    n_seeds: int = param(1, ge=1, doc="SGD seeds")
    n_records: int = param(21, ge=3, doc="SGD records (log-spaced in t)")
    dd_M: int = param(200, ge=2, doc="DD particles (radii)")
    dd_dt: float = param(0.001, gt=0, doc="largest DD time step (Heun, order 2)")
    dd_max_steps: int = param(DD_MAX_STEPS, ge=1,
                              doc="refuse a DD solve of more time steps (t_max / dd_dt)")
    dd_refine: bool = param(True, doc="estimate the DD error (Richardson in dt and M)")
    dd_error: str = param("refine", choices=("refine", "coarsen"),
                          doc="DD error estimate from finer solves (refine: dt/2, dt/4, M/2, "
                              "2M) or coarser ones (coarsen: 2dt, dt/2, M/4, M/2; ~¼ the cost)")
    dd_records: int = param(201, ge=3, doc="DD records (evenly spaced in t)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"d": 40, "N": 200, "n_steps": 1_024_000, "eps": 1e-5, "n_records": 12,
                  "dd_M": 60, "dd_dt": 0.005, "dd_records": 101, "dd_error": "coarsen"},
    }


class _IsotropicStudy(Study):
    activation: ClassVar[str]

    def _sigma(self):
        from mflab.meanfield import sigma_a1, sigma_a2

        return {"a1": sigma_a1, "a2": sigma_a2}[self.activation]()

    def run(self, config, ctx: RunContext) -> None:
        from mflab.meanfield import IsotropicGaussians, init_particles, unit_a
        from mflab.meanfield.dd import RadialDD, radial_quantiles

        units = unit_a(self._sigma())
        data = IsotropicGaussians(delta=config.delta, d=config.d)
        system = RadialDD(units, data)
        phase = 0
        for kappa in config.kappas:
            phase = simulate_case(
                ctx, f"kappa{kappa:g}", phase, units=units, data=data,
                theta0_fn=lambda k, kappa=kappa: init_particles(k, units, config.N, config.d,
                                                                kappa),
                dd_system=system,
                dd_init=lambda M, kappa=kappa: radial_quantiles(M, config.d, kappa),
                n_seeds=config.n_seeds, eps=config.eps, n_steps=config.n_steps,
                n_records=config.n_records, batch=config.batch, block=config.block,
                dd_M=config.dd_M, dd_dt=config.dd_dt, dd_refine=config.dd_refine,
                dd_records=config.dd_records, dd_error=config.dd_error)

    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.meanfield import plot_radial_histograms, plot_risk_and_norm

        cfg = read_config(run_dir)
        cases = {f"kappa{k:g}": (read_arrays(run_dir, f"sgd_kappa{k:g}"),
                                 read_arrays(run_dir, f"dd_kappa{k:g}")) for k in cfg["kappas"]}
        paths = [plot_risk_and_norm(run_dir, cases, cfg, self.name)]
        for label, (sgd, dd) in cases.items():
            paths.append(plot_radial_histograms(run_dir, label, sgd, dd, cfg))
        return paths

    def summarize(self, run_dir: Path) -> str:
        cfg = read_config(run_dir)
        lines = [f"# {self.description.split(':')[0]} — SGD (N = {cfg['N']}) vs radial DD",
                 "", f"d = {cfg['d']}, Δ = {cfg['delta']}, ε = {cfg['eps']}, "
                 f"{cfg['n_steps']} SGD steps (t_max = {cfg['n_steps'] * cfg['eps']:g}), "
                 f"{cfg['n_seeds']} seed(s), m = {cfg['batch']}; DD with M = {cfg['dd_M']} "
                 f"radii, Heun, dt ≤ {cfg['dd_dt']}.", "",
                 "| κ | final risk SGD | final risk DD | DD error est. (dt part, order; "
                 "M part, order) | DD risk change over the last 10 % of t | mean abs(w) SGD "
                 "| mean abs(w) DD | max abs(R_SGD − R_DD) over t "
                 "| where abs(w) concentrates (DD) |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for k in cfg["kappas"]:
            sgd = read_arrays(run_dir, f"sgd_kappa{k:g}")
            dd = read_arrays(run_dir, f"dd_kappa{k:g}")
            r_sgd = sgd["risk"].mean(0)
            gap = dd_gap(sgd["times"], r_sgd, dd["times"], dd["risk"])
            where = _concentration(dd["particles"][-1])
            t_end = dd["times"][-1]
            drift = dd["risk"][-1] / np.interp(0.9 * t_end, dd["times"], dd["risk"]) - 1
            lines.append(
                f"| {k:g} | {r_sgd[-1]:.4g} | {dd['risk'][-1]:.4g} | {_dd_error(dd)} "
                f"| {drift:+.2%} (t = {0.9 * t_end:g} → {t_end:g}) "
                f"| {sgd['mean_norm'].mean(0)[-1]:.3f} | {dd['mean_norm'][-1]:.3f} | {gap:.3g} "
                f"| {where} |")
        lines += ["", dd_error_text(cfg), "", self._reading(cfg, run_dir), "",
                  "Figures: `figures/risk_norm.png` (risk and mean |w| vs t, SGD and DD), "
                  "`figures/hist_*.png` (|w| histograms of SGD at several times over the DD "
                  "radial density)."]
        return "\n".join(lines) + "\n"

    def _reading(self, cfg, run_dir) -> str:
        return ""

    captions = {
        "risk_norm": "Left: risk against mean-field time t = kε (log–log); dots: SGD with N "
                     "units (mean over seeds, band: min–max over seeds where there are "
                     "several), line: the radial distributional dynamics (DD), one colour "
                     "per initial scale κ. Right: the mean |w| of the units, same encoding.",
        "hist_*": "Histograms of the unit norms |w_i| of SGD (bars, all seeds pooled) at "
                  "four times, over the DD's radial density at the same time (line); the "
                  "panel title gives t and, in brackets, the DD's risk there.",
    }

    def headline(self, run_dir: Path) -> list[Headline]:
        """Per κ: the final risk of SGD against the DD's (with the DD's error estimate) and
        the largest gap between them over t."""
        cfg = read_config(run_dir)
        rows = []
        for k in cfg["kappas"]:
            sgd = read_arrays(run_dir, f"sgd_kappa{k:g}")
            dd = read_arrays(run_dir, f"dd_kappa{k:g}")
            per_seed = sgd["risk"][:, -1]
            spread = (f"SGD min–max over {len(per_seed)} seeds [{per_seed.min():.3g}, "
                      f"{per_seed.max():.3g}]; " if len(per_seed) > 1 else "1 seed; ")
            rows.append(Headline(
                f"κ = {k:g}: final risk, SGD (N = {cfg['N']}) | DD",
                f"{per_seed.mean():.3g} | {float(dd['risk'][-1]):.3g}",
                spread + f"DD error est. {float(dd['err_risk']):.2g}"))
            gap = dd_gap(sgd["times"], sgd["risk"].mean(0), dd["times"], dd["risk"])
            rows.append(Headline(f"κ = {k:g}: max |R_SGD − R_DD| over t", f"{gap:.3g}"))
        return rows + self._verdicts(cfg, run_dir)

    def _verdicts(self, cfg, run_dir) -> list[Headline]:
        return []


def _dd_error(dd) -> str:
    """The DD error estimate with its parts, from a saved ``dd_*`` array set (runs made
    before the parts were saved show the total only)."""
    total = f"{float(dd['err_risk']):.2g}"
    if "err_dt" not in dd or np.isnan(dd["err_dt"]):
        return total
    return (f"{total} ({float(dd['err_dt']):.2g}, {float(dd['order_dt']):.2f}; "
            f"{float(dd['err_M']):.2g}, {float(dd['order_M']):.2f})")


def _concentration(r) -> str:
    """Where the DD radii sit: the share near 0 (|w| < 0.1: inactive units, or the
    collapsed state of A2) and the mode of the rest."""
    from mflab.meanfield.dd import radial_density

    r = np.abs(np.asarray(r, float).ravel())
    small = r < 0.1
    text = f"{small.mean():.0%} at r ≈ 0" if small.any() else ""
    if (~small).any():
        grid = np.linspace(0, r.max() * 1.2 + 1e-9, 400)
        mode = grid[np.argmax(radial_density(r[~small], grid, bandwidth=r.max() / 40))]
        text += ("; " if text else "") + f"{(~small).mean():.0%} around r ≈ {mode:.2f}"
    return text


class MfIsotropicStudy(_IsotropicStudy):
    name = "mf-isotropic"
    description = ("C1: isotropic Gaussians, piecewise-linear units (A1): SGD on N units vs "
                   "the radial distributional dynamics")
    Config = MfIsotropicConfig
    activation = "a1"


class MfNonmonotoneStudy(_IsotropicStudy):
    name = "mf-nonmonotone"
    description = ("C2: non-monotone activation (A2): two initialisations κ reach a good and "
                   "a bad stationary point, in SGD and in the DD")
    Config = MfNonmonotoneConfig
    activation = "a2"

    def _verdicts(self, cfg, run_dir) -> list[Headline]:
        """The report's fig. 7: two initialisations end at two different stationary
        points — borne out when SGD and the DD order the κ alike and the DD risks differ
        by more than 10× the larger DD error estimate."""
        if len(cfg["kappas"]) < 2:
            return []
        finals, sgd, good, bad, err = _end_points(cfg, run_dir)
        apart = finals[bad] - finals[good] > 10 * err
        same = sgd[good] < sgd[bad]
        verdict = ("borne out: " if apart and same else "not borne out: ") + (
            f"DD risks {finals[good]:.3g} vs {finals[bad]:.3g} (error ≤ {err:.2g}), SGD "
            + ("orders them alike" if same else "does not order them alike"))
        return [Headline("two starts, two stationary points (report fig. 7)",
                         f"κ = {good:g} good, κ = {bad:g} bad", "", verdict)]

    def _reading(self, cfg, run_dir) -> str:
        finals, sgd, good, bad, _ = _end_points(cfg, run_dir)
        return (f"Stationary points: κ = {good:g} reaches the low-risk one (DD risk "
                f"{finals[good]:.3g}, SGD {sgd[good]:.3g}); κ = {bad:g} stalls at the high-risk "
                f"one (DD {finals[bad]:.3g}, SGD {sgd[bad]:.3g}). SPEC errata 7: the report "
                f"calls κ = 0.4 the bad start; here the run decides. Whether the low-risk "
                f"point is the global minimum over radial laws: `mflab run mf-radial-minimum`.")


def _end_points(cfg, run_dir):
    """Per κ the DD's and SGD's (seed-mean) final risks, the κ of the lowest and highest DD
    risk, and the largest DD error estimate: (finals, sgd, good, bad, err)."""
    dd = {k: read_arrays(run_dir, f"dd_kappa{k:g}") for k in cfg["kappas"]}
    sgd = {k: float(read_arrays(run_dir, f"sgd_kappa{k:g}")["risk"].mean(0)[-1])
           for k in cfg["kappas"]}
    finals = {k: float(d["risk"][-1]) for k, d in dd.items()}
    good, bad = min(finals, key=finals.get), max(finals, key=finals.get)
    return finals, sgd, good, bad, max(float(d["err_risk"]) for d in dd.values())


MF_ISOTROPIC = MfIsotropicStudy()
MF_NONMONOTONE = MfNonmonotoneStudy()
