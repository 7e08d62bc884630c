"""Study C7: kernel networks on the sphere learn the spherical 3-spin energy (SPEC C7).

f(x) = (1/d) Σ a_pqr x_p x_q x_r on S^{d−1}(√d) is represented by f_n = (1/n) Σ c_i φ(·, z_i),
φ(x, z) = exp(−½α|x − z|²), centres on the sphere (Riemannian steps), trained in
mean-field time (η = n·dt); the loss ½E_μ(f − f_n)² is computed exactly (closed forms,
:mod:`mflab.spherical`). Two parts (report §3.2.5, figs. 14–16):

1. **Optimisers at equal cost** (fig. 15): B1, B2, B3, B4, B10 on mini-batches of
   ``batch`` fresh uniform points, n = 256, d ∈ {3, 4, 5}, ``budget`` oracle calls per
   seed for every method (a B10 outer step costs M calls). Each method's time step dt is
   picked from ``dt_grid`` by the median final loss on ``n_seeds`` tuning seeds (the
   same budget), then run on ``n_seeds`` other seeds (:mod:`three_spin_train`).
2. **The slice of report eq. 47** (fig. 16): f and the best trained f_n (lowest final
   loss of part 1) with the centres' projections.
The loss against n (SPEC D2, beyond the report) is study ``three-spin-scaling``
(:mod:`mflab.studies.three_spin_scaling`): the excess of the mean loss over nested
networks, fitted with its offset and intervals.

Losses are reported relative to ½E f² (the loss of f_n ≡ 0).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import jax
import numpy as np

from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.runs.context import RunContext
from mflab.runs.io import read_arrays, read_config, read_table
from mflab.studies import three_spin_train as T
from mflab.studies.base import Headline, Study

ALL_METHODS = tuple(T.METHODS)


@dataclass(frozen=True)
class ThreeSpinConfig(StudyConfig):
    """Config of study C7 (defaults: paper scale; SPEC C7 and report §3.2.5)."""

    dims: tuple[int, ...] = param((3, 4, 5), ge=3, doc="dimensions d of the comparison")
    n: int = param(256, ge=1, doc="kernel units n of the comparison (report: 256)")
    alpha: float | None = param(None, gt=0, doc="kernel parameter α (none: 5/d, SPEC C7)")
    c0_factor: float = param(3.0, ge=0, doc="c_i ~ U[−c0, c0], c0 = c0_factor · √(3E f²)/E φ "
                             "(docs/three-spin-model.md)")
    batch: int = param(100, ge=1, doc="fresh uniform points per stochastic gradient")
    methods: tuple[str, ...] = param(ALL_METHODS, choices=ALL_METHODS, doc="SPEC ids compared")
    budget: int = param(3000, ge=1, doc="oracle calls per seed, every method (samples = "
                        "budget · batch)")
    n_seeds: int = param(5, ge=1, doc="seeds of the comparison (tuning: as many others)")
    dt_grid: tuple[float, ...] = param((0.01, 0.03, 0.1, 0.3), gt=0,
                                       doc="mean-field time steps dt tried per method")
    momentum: float = param(0.9, ge=0, lt=1, doc="γ of B2 and B4 (mflab default)")
    mass_ratio: float = param(0.1, ge=0, doc="B4: η2 = mass_ratio · η1 (mflab default)")
    b10_M: int = param(10, ge=2, doc="B10 inner steps per outer step")
    b10_burn_in: int = param(5, ge=0, doc="B10 inner steps dropped before averaging")
    b10_excess: float = param(1e-3, gt=0, doc="B10 temperature: thermal excess loss "
                              "d/(2β_mf) as a fraction of ½E f²")
    n_records: int = param(40, ge=3, doc="records per run (log-spaced steps)")
    target_seed: int = param(0, ge=0, doc="key of the couplings a_pqr (one target per d)")
    slice_points: int = param(121, ge=8, doc="θ points of the eq. 47 slice (φ: twice)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"dims": (3,), "n": 128, "budget": 300, "n_seeds": 3, "dt_grid": (0.01, 0.03),
                  "n_records": 12, "slice_points": 41},
    }

    def check(self) -> None:
        for name in ("dims", "methods", "dt_grid"):
            v = getattr(self, name)
            if len(set(v)) != len(v):
                raise ConfigError(f"{name} must not repeat; got {','.join(map(str, v))}.")
        if self.b10_burn_in >= self.b10_M:
            raise ConfigError(f"b10_burn_in must be < b10_M ({self.b10_M}); "
                              f"got {self.b10_burn_in}.")
        if "B10" in self.methods and self.budget < 2 * self.b10_M:
            raise ConfigError(f"budget must be >= 2·b10_M = {2 * self.b10_M} (two B10 outer "
                              f"steps); got {self.budget}.")

    def memory_bytes(self) -> int:
        """The largest exact-loss evaluation (an (n, n) kernel matrix and the Bessel
        recurrence with its derivative, ~40 float64 temporaries of that size per agent, an
        upper estimate) and the mini-batch kernels (batch × n, ~10 per agent)."""
        return 8 * (40 * self.n ** 2 * self.n_seeds
                    + 10 * self.batch * self.n * self.n_seeds) + 200 * 2**20


def jobs(c: ThreeSpinConfig) -> list[tuple]:
    """The run's units of work in order; a checkpoint follows each (resume skips them)."""
    out: list[tuple] = [("problem",)]
    for d in c.dims:
        for m in c.methods:
            if len(c.dt_grid) > 1:
                out.append(("tune", d, m))
            out.append(("compare", d, m))
        out.append(("slice", d))
    return out


class ThreeSpinStudy(Study):
    """C7 (see the module docstring)."""

    name = "three-spin"
    description = ("C7: kernel networks on the sphere learn the spherical 3-spin energy: "
                   "optimisers at equal cost, slices of f and f_n (exact loss).")
    Config = ThreeSpinConfig

    def run(self, config: ThreeSpinConfig, ctx: RunContext) -> None:
        ck = ctx.load_checkpoint()
        done = ck.progress if ck is not None else 0
        for i, job in enumerate(jobs(config)):
            if i < done:
                continue
            t0 = time.perf_counter()
            getattr(self, f"_{job[0]}")(config, ctx, *job[1:])
            ctx.record_timing("/".join(map(str, job)), time.perf_counter() - t0)
            ctx.save_checkpoint(progress=i + 1)
        from mflab.studies.three_spin_tables import build_tables

        for name, table in build_tables(ctx.dir, config).items():
            ctx.save_table(name, table)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _problem_for(c: ThreeSpinConfig, d: int, n: int, batch: int | None):
        from mflab.spherical import default_alpha, matched_weight_scale

        alpha = default_alpha(d) if c.alpha is None else c.alpha
        land = T.landscape_for(d, n, alpha, batch, c.target_seed)
        c0 = c.c0_factor * float(matched_weight_scale(T.couplings_for(d, c.target_seed), alpha))
        return land, c0

    @staticmethod
    def _setup(c: ThreeSpinConfig, land, method: str, dt: float):
        info = land.info
        return T.method_setup(method, dt, n=info["n"], d=info["d"],
                              second_moment=info["second_moment"], momentum=c.momentum,
                              mass_ratio=c.mass_ratio, M=c.b10_M, burn_in=c.b10_burn_in,
                              excess=c.b10_excess)

    @staticmethod
    def _keys(ctx: RunContext, part: int, *labels: int):
        key = jax.random.fold_in(ctx.key, part)
        for v in labels:
            key = jax.random.fold_in(key, v)
        return key

    def _compare_run(self, c, ctx, d, method, dt, seeds, tag):
        land, c0 = self._problem_for(c, d, c.n, c.batch)
        x0 = T.initial_params(self._keys(ctx, 1, d), seeds, c.n, d, c0)
        opt, _, tau = self._setup(c, land, method, dt)
        steps = c.budget // opt.grads_per_step
        key = self._keys(ctx, 2, d, ALL_METHODS.index(method), tag)
        return T.train(opt, tau, land, x0, steps, key, c.n_records, ctx.progress,
                       extra_steps=(steps // 10,)), land

    # --------------------------------------------------------------------- jobs
    def _problem(self, c: ThreeSpinConfig, ctx: RunContext) -> None:
        """The constants of each d's problem (closed forms): α, E f², E_μφ, c0."""
        from mflab.spherical import kernel_mean

        dims = sorted(c.dims)
        cols: dict[str, list] = {k: [] for k in ("d", "alpha", "second_moment", "kernel_mean",
                                                 "c0")}
        for d in dims:
            land, c0 = self._problem_for(c, d, c.n, None)
            alpha = land.info["alpha"]
            for k, v in zip(cols, (d, alpha, land.info["second_moment"],
                                   float(kernel_mean(d, alpha)), c0), strict=True):
                cols[k].append(v)
        ctx.save_arrays("problem", **{k: np.asarray(v) for k, v in cols.items()})

    def _tune(self, c: ThreeSpinConfig, ctx: RunContext, d: int, method: str) -> None:
        seeds = list(range(1000, 1000 + c.n_seeds))  # tuning seeds, not compared
        finals, scores = [], []
        for g, dt in enumerate(c.dt_grid):
            cur, _ = self._compare_run(c, ctx, d, method, dt, seeds, 1 + g)
            finals.append(cur.loss[-1])
            scores.append(T.tuning_score(cur.loss[-1]))
        best = int(np.argmin(scores))
        ctx.save_arrays(f"tune_d{d}_{method}", dt_grid=np.asarray(c.dt_grid),
                        scores=np.asarray(scores), final=np.asarray(finals),
                        chosen=np.float64(c.dt_grid[best]), seeds=np.asarray(seeds))
        ctx.log_metrics([{"optimizer": method, "step": 0, "metric": "tune/median_final_loss",
                          "value": s, "d": d, "dt": dt}
                         for s, dt in zip(scores, c.dt_grid, strict=True)], seed=-1)
        if not np.isfinite(scores[best]):
            ctx.diverged(f"{method} d={d}", f"every dt of {c.dt_grid} diverged on the tuning "
                         "seeds")
        elif best in (0, len(c.dt_grid) - 1):
            ctx.warn(f"{method} d={d}: the best dt ({c.dt_grid[best]:g}) is at the edge of "
                     f"dt_grid {c.dt_grid}")

    def _compare(self, c: ThreeSpinConfig, ctx: RunContext, d: int, method: str) -> None:
        if len(c.dt_grid) > 1:
            tune = read_arrays(ctx.dir, f"tune_d{d}_{method}")
            if not np.isfinite(tune["scores"]).any():
                return  # recorded as diverged by the tuning
            dt = float(tune["chosen"])
        else:
            dt = c.dt_grid[0]
        seeds = list(range(c.n_seeds))
        cur, land = self._compare_run(c, ctx, d, method, dt, seeds, 0)
        half = 0.5 * land.info["second_moment"]
        ctx.save_arrays(f"curves_d{d}_{method}", **cur._asdict(), dt=np.float64(dt),
                        samples=cur.calls * c.batch, half=np.float64(half))
        ctx.log_metrics([{"optimizer": method, "step": int(s), "metric": "relative_loss",
                          "value": float(cur.loss[r, a] / half), "seed": a, "d": d,
                          "samples": int(cur.calls[r] * c.batch), "time": float(cur.time[r])}
                         for r, s in enumerate(cur.steps) for a in range(len(seeds))])
        if np.all(cur.diverged >= 0):
            ctx.diverged(f"{method} d={d}", f"every seed diverged (dt = {dt:g})",
                         step=int(cur.diverged.min()))

    def _slice(self, c: ThreeSpinConfig, ctx: RunContext, d: int) -> None:
        """f and the best trained f_n (lowest final loss of the comparison) on eq. 47."""
        import jax.numpy as jnp

        from mflab.spherical import eq47_angles, eq47_slice, kernel_network, three_spin
        from mflab.spherical.kernel_network import KernelParams

        best = (np.inf, None, -1)
        for m in c.methods:
            path = ctx.dir / "arrays" / f"curves_d{d}_{m}.npz"
            if path.exists():
                final = read_arrays(ctx.dir, f"curves_d{d}_{m}")["loss"][-1]
                if np.isfinite(final).any() and np.nanmin(final) < best[0]:
                    best = (float(np.nanmin(final)), m, int(np.nanargmin(final)))
        if best[1] is None:
            return
        cur = read_arrays(ctx.dir, f"curves_d{d}_{best[1]}")
        land, _ = self._problem_for(c, d, c.n, c.batch)
        theta = np.linspace(0.0, np.pi, c.slice_points)
        phi = np.linspace(0.0, 2 * np.pi, 2 * c.slice_points)
        x = eq47_slice(theta[:, None], phi[None, :], d)
        params = KernelParams(jnp.asarray(cur["c"][best[2]]), jnp.asarray(cur["z"][best[2]]))
        zt, zp = eq47_angles(params.z)
        ctx.save_arrays(f"slice_d{d}", theta=theta, phi=phi,
                        f=np.asarray(three_spin(T.couplings_for(d, c.target_seed), x)),
                        fn=np.asarray(kernel_network(params, x, land.info["alpha"])),
                        z_theta=np.asarray(zt), z_phi=np.asarray(zp), c=cur["c"][best[2]],
                        method=np.str_(best[1]), seed=best[2],
                        relative_loss=best[0] / float(cur["half"]))

    # ----------------------------------------------------------- from files only
    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.three_spin import plot_all

        return plot_all(Path(run_dir))

    captions = {
        "three-spin-losses": "Relative loss L/(½E f²) (1 = the loss of f_n ≡ 0, computed "
                             "exactly) against steps (left) and samples drawn (right), one "
                             "row per dimension d: line = median over seeds, band = 25–75 % "
                             "over seeds, one colour per method (tuned dt).",
        "three-spin-slices": "The target f (left) and the best trained f_n (right) on the "
                             "slice of the sphere parametrised by (φ, θ) (report eq. 47), "
                             "same colour scale; dots: the centres z_i near the slice, red "
                             "for c_i > 0 and blue for c_i < 0, area ∝ |c_i|.",
    }

    def headline(self, run_dir: Path) -> list[Headline]:
        """Per d of the comparison: the best method's median final loss against SGD's."""
        from mflab.runs.io import read_table

        rows = []
        cfg = read_config(run_dir)
        if (Path(run_dir) / "tables" / "comparison.csv").is_file():
            comp = read_table(run_dir, "comparison")
            for d, g in comp.groupby("d", sort=True):
                best = g.loc[g["median final loss"].idxmin()]
                sgd = g[g.method == "B1"]
                ref = f" | {sgd['median final loss'].iloc[0]:.2e}" if len(sgd) else ""
                rows.append(Headline(
                    f"d = {d}: median final loss, best ({best.method} {best.label}) | SGD",
                    f"{best['median final loss']:.2e}{ref}",
                    f"25–75 % [{best.q25:.2e}, {best.q75:.2e}] over {cfg['n_seeds']} seeds"))
        return rows

    def summarize(self, run_dir: Path) -> str:
        from mflab.studies.three_spin_tables import summary_markdown

        return summary_markdown(Path(run_dir), read_config(run_dir),
                                {name: read_table(run_dir, name)
                                 for name in ("comparison", "tuning", "problem")})


STUDY = ThreeSpinStudy()

__all__ = ["STUDY", "ThreeSpinConfig", "ThreeSpinStudy", "jobs"]
