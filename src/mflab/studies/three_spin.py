"""Study C7: kernel networks on the sphere learn the spherical 3-spin energy (SPEC C7).

f(x) = (1/d) Σ a_pqr x_p x_q x_r on S^{d−1}(√d) is represented by f_n = (1/n) Σ c_i φ(·, z_i),
φ(x, z) = exp(−½α|x − z|²), centres on the sphere (Riemannian steps), trained in
mean-field time (η = n·dt); the loss ½E_μ(f − f_n)² is computed exactly (closed forms,
:mod:`mflab.spherical`). This study gives each d's constants and the slice of report
eq. 47 (fig. 16): f and a trained f_n — restart-Nesterov (B3) at time step ``slice_dt``
on mini-batches of ``batch`` fresh points for ``budget`` steps from this study's own
seed-0 network — with the centres' projections.

The optimisers at equal cost (report fig. 15) are study ``three-spin-optimizers``
(:mod:`mflab.studies.three_spin_optimizers`: C5's harness on these networks); the loss
against n (SPEC D2, beyond the report) is study ``three-spin-scaling``.

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


@dataclass(frozen=True)
class ThreeSpinConfig(StudyConfig):
    """Config of study C7's constants and slice (defaults: paper scale; SPEC C7)."""

    dims: tuple[int, ...] = param((3, 4, 5), ge=3, doc="dimensions d")
    n: int = param(256, ge=1, doc="kernel units n (report: 256)")
    alpha: float | None = param(None, gt=0, doc="kernel parameter α (none: 5/d, SPEC C7)")
    c0_factor: float = param(3.0, ge=0, doc="c_i ~ U[−c0, c0], c0 = c0_factor · √(3E f²)/E φ "
                             "(docs/three-spin-model.md)")
    batch: int = param(100, ge=1, doc="fresh uniform points per stochastic gradient")
    budget: int = param(3000, ge=1, doc="steps of the slice's training run (samples = "
                        "budget · batch)")
    slice_dt: float = param(0.03, gt=0, doc="mean-field time step of the slice's B3 run "
                            "(η = n·dt)")
    target_seed: int = param(0, ge=0, doc="key of the couplings a_pqr (one target per d)")
    slice_points: int = param(121, ge=8, doc="θ points of the eq. 47 slice (φ: twice)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"dims": (3,), "n": 128, "budget": 300, "slice_points": 41},
    }

    def check(self) -> None:
        if len(set(self.dims)) != len(self.dims):
            raise ConfigError(f"dims must not repeat; got {','.join(map(str, self.dims))}.")

    def memory_bytes(self) -> int:
        """The exact loss (an (n, n) kernel matrix and the Bessel recurrence with its
        derivative, ~40 float64 temporaries of that size, an upper estimate) and the
        mini-batch kernels (batch × n, ~10)."""
        return 8 * (40 * self.n ** 2 + 10 * self.batch * self.n) + 200 * 2**20


def jobs(c: ThreeSpinConfig) -> list[tuple]:
    """The run's units of work in order; a checkpoint follows each (resume skips them)."""
    return [("problem",), *(("slice", d) for d in c.dims)]


class ThreeSpinStudy(Study):
    """C7 (see the module docstring)."""

    name = "three-spin"
    description = ("C7: kernel networks on the sphere learn the spherical 3-spin energy: "
                   "each d's constants, f and a trained f_n on the slice of eq. 47 (exact "
                   "loss).")
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
    def _keys(ctx: RunContext, part: int, *labels: int):
        key = jax.random.fold_in(ctx.key, part)
        for v in labels:
            key = jax.random.fold_in(key, v)
        return key

    def _train(self, c: ThreeSpinConfig, ctx: RunContext, d: int):
        """B3 at ``slice_dt`` on mini-batches for ``budget`` steps from this study's seed-0
        network."""
        land, c0 = self._problem_for(c, d, c.n, c.batch)
        x0 = T.initial_params(self._keys(ctx, 1, d), [0], c.n, d, c0)
        opt, _, tau = T.method_setup("B3", c.slice_dt, n=c.n)
        cur = T.train(opt, tau, land, x0, c.budget, self._keys(ctx, 2, d), 12, ctx.progress)
        return cur, land

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

    def _slice(self, c: ThreeSpinConfig, ctx: RunContext, d: int) -> None:
        """f and the trained f_n (:meth:`_train`) on the slice of report eq. 47."""
        import jax.numpy as jnp

        from mflab.spherical import eq47_angles, eq47_slice, kernel_network, three_spin
        from mflab.spherical.kernel_network import KernelParams

        cur, land = self._train(c, ctx, d)
        if cur.diverged[0] >= 0:
            ctx.diverged(f"B3 d={d}", f"the slice's training run diverged (dt = {c.slice_dt:g})",
                         step=int(cur.diverged[0]))
            return
        half = 0.5 * land.info["second_moment"]
        theta = np.linspace(0.0, np.pi, c.slice_points)
        phi = np.linspace(0.0, 2 * np.pi, 2 * c.slice_points)
        x = eq47_slice(theta[:, None], phi[None, :], d)
        params = KernelParams(jnp.asarray(cur.c[0]), jnp.asarray(cur.z[0]))
        zt, zp = eq47_angles(params.z)
        ctx.save_arrays(f"slice_d{d}", theta=theta, phi=phi,
                        f=np.asarray(three_spin(T.couplings_for(d, c.target_seed), x)),
                        fn=np.asarray(kernel_network(params, x, land.info["alpha"])),
                        z_theta=np.asarray(zt), z_phi=np.asarray(zp), c=cur.c[0],
                        z=cur.z[0], method=np.str_("B3"), seed=0,
                        steps=cur.steps, relative_losses=cur.loss[:, 0] / half,
                        relative_loss=float(cur.loss[-1, 0] / half))

    # ----------------------------------------------------------- from files only
    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.three_spin import plot_all

        return plot_all(Path(run_dir))

    captions = {
        "three-spin-slices": "The target f (left) and the trained f_n (right: restart-"
                             "Nesterov on mini-batches, seed 0) on the slice of the sphere "
                             "parametrised by (φ, θ) (report eq. 47), same colour scale; "
                             "dots: the centres z_i near the slice, red for c_i > 0 and "
                             "blue for c_i < 0, area ∝ |c_i|.",
    }

    def headline(self, run_dir: Path) -> list[Headline]:
        """Per d: the relative loss of the network drawn on the slice."""
        rows = []
        for d in read_config(run_dir)["dims"]:
            if (Path(run_dir) / "arrays" / f"slice_d{d}.npz").is_file():
                s = read_arrays(run_dir, f"slice_d{d}")
                rows.append(Headline(f"d = {d}: L/(½E f²) of the f_n on the slice",
                                     f"{float(s['relative_loss']):.2e}",
                                     f"B3 at dt {read_config(run_dir)['slice_dt']:g}, seed 0"))
        return rows

    def summarize(self, run_dir: Path) -> str:
        from mflab.studies.three_spin_tables import summary_markdown

        return summary_markdown(Path(run_dir), read_config(run_dir),
                                {"problem": read_table(run_dir, "problem")})


STUDY = ThreeSpinStudy()

__all__ = ["STUDY", "ThreeSpinConfig", "ThreeSpinStudy", "jobs"]
