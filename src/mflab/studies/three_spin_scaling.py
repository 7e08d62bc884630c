"""Study D2: Rotskoff & Vanden-Eijnden's O(1/n) on the 3-spin kernel networks (SPEC D2).

The quantity of the law is the *excess* E L_n(t) − L_∞(t) of the mean loss over
initialisations, so each width's loss is averaged over ``seeds`` networks and the means
are fitted to L_∞ + A n^{−p} (:func:`mflab.scaling.fit_power_law`, bootstrap intervals
over seeds). The networks are **nested**: seed s draws one network of max(``ns``) units,
and its network of width n is the first n of them (so n and 2n share their first n
units, and the bootstrap resamples whole seeds). Three parts:

1. **Spectrum.** The Funk–Hecke eigenvalues λ_ℓ of K (:mod:`mflab.spherical.spectrum`),
   the weights' relaxation times τ_ℓ = 1/λ_ℓ and the conditioning λ_0/λ_3, per d: why
   the weights' flow cannot learn the cubic target in d = 25 at any horizon one can run.
2. **Fixed time.** The exact-gradient mean-field flow (time step ``dt``, η = n·dt) from
   SPEC C7's initial law, read at mean-field times ``times``; the fit per (d, t). At
   t = 0 the law is exact, L_∞ = ½E f², A = c0² K(1)/6, p = 1
   (:func:`~mflab.spherical.initial_excess`): the run checks its own pipeline on it.
3. **Converged.** Weights solved exactly (c = n K⁺F) and centres moved by L-BFGS until
   the relative mean-field decay rate is below ``gtol``, or the search stalls, or
   ``max_iter`` (:func:`~mflab.spherical.converge_centres`); from the first n centres of
   ``conv_seeds`` seeds, in d ∈ ``conv_dims``; with the random-feature optimum of the
   initial centres (weights alone). This is the setting in which d = 25 learns.
4. **SGD's noise.** Plain SGD (B1) on mini-batches of P fresh uniform points against the
   exact-gradient flow at the same time step dt, from the same seeds' networks, read at
   mean-field time ``sgd_time``: the paired excess E L_SGD − E L_GD (i) on a grid of dt
   (``sgd_dts``) × P (``sgd_batches``) at width ``sgd_n``, against dt/P (the SDE
   approximation of SGD has noise covariance ∝ dt/P, so its excess is ∝ dt/P to first
   order), and (ii) along widths ``sgd_ns`` with P ∝ n (``sgd_batch_per_unit``), i.e.
   dt/P ∝ 1/n, Rotskoff & Vanden-Eijnden's prescription for keeping the O(1/n) law: the
   SGD losses are fitted like the flow's.

Losses are relative, L/(½E f²) (1 = the loss of f_n ≡ 0). Every (d, n) cell is an
independent job through the run's executor (``--dask``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.runs.context import RunContext
from mflab.runs.io import read_config, read_table
from mflab.studies.base import Headline, Study

#: Bytes of temporaries per agent and kernel-matrix entry in an exact-gradient step (~40
#: float64 (n, n) arrays: the Bessel recurrence and its derivative, an upper estimate).
_BYTES_PER_ENTRY = 40 * 8
#: Memory one chunk of agents of a flow cell may use.
_CHUNK_BYTES = 1.5e9


@dataclass(frozen=True)
class ThreeSpinScalingConfig(StudyConfig):
    """Config of study D2 (defaults: paper scale; SPEC D2)."""

    parts: tuple[str, ...] = param(("flow", "converged", "sgd"),
                                   choices=("flow", "converged", "sgd"),
                                   doc="parts to run (the spectrum always runs)")
    dims: tuple[int, ...] = param((5, 10, 25), ge=3, doc="dimensions d of the fixed-time law")
    alpha_d: float = param(5.0, gt=0, doc="α·d: the kernel parameter is α = alpha_d/d "
                           "(SPEC C7: 5)")
    c0_factor: float = param(3.0, ge=0, doc="c_i ~ U[−c0, c0], c0 = c0_factor · √(3E f²)/E φ "
                             "(as C7)")
    target_seed: int = param(0, ge=0, doc="key of the couplings a_pqr (one target per d)")
    ns: tuple[int, ...] = param((16, 32, 64, 128, 256, 512, 1024, 2048), ge=1,
                                doc="widths n of the fixed-time law (nested units)")
    seeds: int = param(32, ge=2, doc="seeds per width (the same nested networks)")
    dt: float = param(0.1, gt=0, doc="mean-field time step of the exact-gradient flow")
    times: tuple[float, ...] = param((0.0, 1.0, 10.0), ge=0,
                                     doc="mean-field times t at which the law is fitted")
    conv_dims: tuple[int, ...] = param((5, 25), ge=3, doc="dimensions of converged training")
    conv_ns: tuple[int, ...] = param((16, 32, 64, 128, 256, 512, 1024), ge=1,
                                     doc="widths of converged training (nested centres)")
    conv_seeds: int = param(8, ge=2, doc="seeds of converged training")
    max_iter: int = param(500, ge=1, doc="most L-BFGS iterations of converged training")
    gtol: float = param(1e-8, gt=0, doc="converged when −(dL/dt)/L under the mean-field "
                        "flow is below this")
    sgd_dim: int = param(5, ge=3, doc="dimension d of SGD's noise part")
    sgd_n: int = param(256, ge=1, doc="width of the dt × P grid of SGD's noise part")
    sgd_dts: tuple[float, ...] = param((0.1, 0.05, 0.025), gt=0,
                                       doc="mean-field time steps dt of the grid")
    sgd_batches: tuple[int, ...] = param((64, 256, 1024), ge=1,
                                         doc="batch sizes P of the grid")
    sgd_ns: tuple[int, ...] = param((16, 32, 64, 128, 256, 512, 1024), ge=1,
                                    doc="widths of SGD with P ∝ n (at dt = max(sgd_dts))")
    sgd_batch_per_unit: float = param(8.0, gt=0, doc="P = max(1, round(this · n)) along "
                                      "sgd_ns: dt/P ∝ 1/n")
    sgd_seeds: int = param(16, ge=2, doc="seeds of SGD's noise part (nested networks)")
    sgd_time: float = param(10.0, gt=0, doc="mean-field time at which SGD's excess is read")
    ell_max: int = param(4, ge=3, doc="largest harmonic degree of the spectrum table")
    n_boot: int = param(1000, ge=10, doc="bootstrap replicates of each fit")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"dims": (5,), "ns": (16, 32, 64, 128), "seeds": 8, "times": (0.0, 1.0),
                  "conv_dims": (5,), "conv_ns": (8, 16, 32, 64), "conv_seeds": 2,
                  "max_iter": 40, "n_boot": 200, "sgd_n": 16, "sgd_dts": (0.1, 0.05),
                  "sgd_batches": (64, 256), "sgd_ns": (8, 16, 32, 64), "sgd_seeds": 4,
                  "sgd_time": 1.0},
    }

    def check(self) -> None:
        for name in ("parts", "dims", "ns", "times", "conv_dims", "conv_ns", "sgd_dts",
                     "sgd_batches", "sgd_ns"):
            if len(set(v := getattr(self, name))) != len(v):
                raise ConfigError(f"{name} must not repeat; got {','.join(map(str, v))}.")
        for name in ("ns", "conv_ns", "sgd_ns"):
            v = getattr(self, name)
            if len(v) < 4:
                raise ConfigError(f"{name} needs >= 4 widths (the fit L_inf + A n^-p has "
                                  f"three parameters); got {','.join(map(str, v))}.")
        for t in self.times:
            if abs(round(t / self.dt) * self.dt - t) > 1e-9 * max(1.0, t):
                raise ConfigError(f"every time must be a multiple of dt ({self.dt:g}); "
                                  f"got {t:g}.")
        for dt in self.sgd_dts:
            if abs(round(self.sgd_time / dt) * dt - self.sgd_time) > 1e-9 * self.sgd_time:
                raise ConfigError(f"sgd_time ({self.sgd_time:g}) must be a multiple of every "
                                  f"sgd_dts; got {dt:g}.")

    def memory_bytes(self) -> int:
        """One chunk of agents of the largest flow or SGD cell (bounded by ``_CHUNK_BYTES``,
        or one agent) and the L-BFGS search of the largest converged cell (K, its eigen-
        vectors and the gradient's temporaries), over the parts that run."""
        agent = _BYTES_PER_ENTRY * max(self.ns) ** 2
        flow = max(agent, min(_CHUNK_BYTES, self.seeds * agent))
        conv = _BYTES_PER_ENTRY * max(self.conv_ns) ** 2
        agent = _BYTES_PER_ENTRY * max(*self.sgd_ns, self.sgd_n) ** 2
        sgd = max(agent, min(_CHUNK_BYTES, self.sgd_seeds * agent))
        used = {"flow": flow, "converged": conv, "sgd": sgd}
        return int(max(used[p] for p in self.parts) + 200 * 2**20)


def alpha_for(c, d: int) -> float:
    """α = alpha_d/d (config object or dict)."""
    cfg = c if isinstance(c, dict) else c.to_dict()
    return float(cfg["alpha_d"]) / d


def jobs(c: ThreeSpinScalingConfig) -> list[tuple]:
    """The run's cells in order: the spectrum, then (d, n) cells of both laws, the heaviest
    first (a pool or cluster starts them first)."""
    cells = [("flow", d, n) for d in c.dims for n in c.ns] if "flow" in c.parts else []
    if "converged" in c.parts:
        cells += [("converged", d, n) for d in c.conv_dims for n in c.conv_ns]
    if "sgd" in c.parts:
        from mflab.studies.three_spin_scaling_tables import sgd_cells

        cells += sgd_cells(c)
    cells.sort(key=lambda j: -j[2] ** 2 * (1 + (j[0] == "converged")))
    return [("spectrum",), *cells]


class Cell(NamedTuple):
    """One (part, d, n) cell as a self-contained job: it carries everything it needs (the
    config as a dict, the run's key data) and runs in float64 wherever it lands."""

    part: str
    d: int
    n: int
    config: dict
    key_data: tuple[int, ...]
    dt: float = 0.0  # SGD cells: time step and batch sizes
    batches: tuple[int, ...] = ()

    @property
    def job(self) -> tuple:
        """The cell's entry in :func:`jobs`."""
        base = (self.part, self.d, self.n)
        return base + (self.dt, self.batches) if self.part == "sgd" else base

    def __call__(self) -> dict[str, np.ndarray]:
        """The cell's arrays, with its own wall time in ``seconds`` (where the run's time
        went, whichever worker ran it)."""
        import jax

        t0 = time.perf_counter()
        with jax.enable_x64(True):
            out = {"flow": _flow, "converged": _converged, "sgd": _sgd}[self.part](self)
        return out | {"seconds": np.float64(time.perf_counter() - t0)}


def run_cell(cell: Cell) -> dict[str, np.ndarray]:
    """Executors map plain functions: run one cell."""
    return cell()


def _problem(cell: Cell):
    """(couplings, α, c0, ½E f², the nested initial networks of every seed at width n)."""
    import jax

    from mflab.spherical import matched_weight_scale, three_spin_second_moment
    from mflab.studies import three_spin_train as T

    c, d = cell.config, cell.d
    a = T.couplings_for(d, c["target_seed"])
    alpha = alpha_for(c, d)
    c0 = c["c0_factor"] * float(matched_weight_scale(a, alpha))
    n_seeds, n_max = {"flow": (c["seeds"], max(c["ns"])),
                      "converged": (c["conv_seeds"], max(c["conv_ns"])),
                      "sgd": (c["sgd_seeds"], max(*c["sgd_ns"], c["sgd_n"]))}[cell.part]
    key = jax.random.fold_in(np.asarray(cell.key_data, np.uint32), cell.d)  # the run's key
    x = T.initial_params(key, list(range(n_seeds)), n_max, d, c0)
    nested = type(x)(x.c[:, :cell.n], x.z[:, :cell.n])
    return a, alpha, c0, 0.5 * float(three_spin_second_moment(a)), nested


def _flow(cell: Cell) -> dict[str, np.ndarray]:
    """Exact-gradient mean-field flow of every seed's nested network, read at ``times``."""
    import jax

    from mflab.studies import three_spin_train as T

    c = cell.config
    a, alpha, _, half, x0 = _problem(cell)
    land = T.landscape_for(cell.d, cell.n, alpha, None, c["target_seed"])
    opt, _, tau = T.method_setup("B1", c["dt"], n=cell.n)
    read = [int(round(t / c["dt"])) for t in c["times"]]
    loss, diverged = _train_in_chunks(opt, tau, land, x0, read, jax.random.key(0))
    return {"times": np.asarray(c["times"], float), "loss": loss / half, "diverged": diverged,
            "half": np.float64(half)}


def _train_in_chunks(opt, tau, land, x0, read, key):
    """The loss ``(len(read), seeds)`` at steps ``read`` and the first diverged step per
    seed, training the seeds in chunks of bounded memory (each chunk's agents draw their
    samples from ``fold_in(key, first seed)``)."""
    import jax

    from mflab.studies import three_spin_train as T

    n = x0.c.shape[1]
    chunk = max(1, int(_CHUNK_BYTES // (_BYTES_PER_ENTRY * n**2)))
    losses, diverged = [], []
    for lo in range(0, x0.c.shape[0], chunk):
        part = type(x0)(x0.c[lo:lo + chunk], x0.z[lo:lo + chunk])
        cur = T.train(opt, tau, land, part, max(read), jax.random.fold_in(key, lo), 3,
                      extra_steps=tuple(read))
        losses.append(cur.loss[np.searchsorted(cur.steps, read)])
        diverged.append(cur.diverged)
    return np.concatenate(losses, axis=1), np.concatenate(diverged)


def _sgd(cell: Cell) -> dict[str, np.ndarray]:
    """The exact-gradient flow and SGD (B1) at each batch size P, all at time step dt from
    the same seeds' nested networks, read at ``sgd_time``: ``loss_gd (S,)``,
    ``loss_sgd (len(P), S)``, ``diverged_sgd (len(P), S)``."""
    import jax

    from mflab.studies import three_spin_train as T

    c = cell.config
    a, alpha, _, half, x0 = _problem(cell)
    opt, _, tau = T.method_setup("B1", cell.dt, n=cell.n)
    read = [int(round(c["sgd_time"] / cell.dt))]
    out: dict[str, list] = {"loss_sgd": [], "diverged_sgd": []}
    for batch in (None, *cell.batches):
        land = T.landscape_for(cell.d, cell.n, alpha, batch, c["target_seed"])
        key = jax.random.fold_in(np.asarray(cell.key_data, np.uint32), batch or 0)
        loss, diverged = _train_in_chunks(opt, tau, land, x0, read, key)
        if batch is None:
            out["loss_gd"], out["diverged_gd"] = loss[0] / half, diverged
        else:
            out["loss_sgd"].append(loss[0] / half)
            out["diverged_sgd"].append(diverged)
    return {k: np.asarray(v) for k, v in out.items()} | {"half": np.float64(half)}


def _converged(cell: Cell) -> dict[str, np.ndarray]:
    """Exact weights and L-BFGS centres from every seed's nested initial centres."""
    import jax.numpy as jnp

    from mflab.spherical import converge_centres, random_feature_loss

    c = cell.config
    a, alpha, _, half, x0 = _problem(cell)
    out: dict[str, list] = {k: [] for k in ("loss", "rf_loss", "rate", "iterations",
                                            "converged", "stalled")}
    for z in x0.z:
        z = jnp.asarray(z)
        r = converge_centres(z, a, alpha, gtol=c["gtol"], max_iter=c["max_iter"])
        out["loss"].append(float(r.loss) / half)
        out["rf_loss"].append(float(random_feature_loss(z, a, alpha)[0]) / half)
        out["rate"].append(float(r.rate))
        out["iterations"].append(int(r.iterations))
        out["converged"].append(bool(r.converged))
        out["stalled"].append(bool(r.stalled))
    return {k: np.asarray(v) for k, v in out.items()} | {"half": np.float64(half)}


class ThreeSpinScalingStudy(Study):
    """D2 (see the module docstring)."""

    name = "three-spin-scaling"
    description = ("D2: Rotskoff–Vanden-Eijnden's O(1/n) on the 3-spin kernel networks: the "
                   "excess loss vs n at fixed times and at convergence, fitted with intervals.")
    Config = ThreeSpinScalingConfig

    def run(self, config: ThreeSpinScalingConfig, ctx: RunContext) -> None:
        from mflab.runs.executor import save_each

        arrays = ctx.dir / "arrays"
        todo = [j for j in jobs(config)
                if not (arrays / f"{_name(j)}.npz").exists()]
        if todo and todo[0] == ("spectrum",):
            self._spectrum(config, ctx)
            todo = todo[1:]
        key_data = tuple(int(v) for v in np.asarray(ctx.key).ravel())
        cells = [Cell(j[0], j[1], j[2], config.to_dict(), key_data, *j[3:]) for j in todo]

        def save(i: int, result) -> None:  # each cell is saved as it ends: a resume skips it
            ctx.save_arrays(_name(cells[i].job), **result)
            self._check(ctx, cells[i], result)
            ctx.record_timing(_name(cells[i].job), float(result["seconds"]))

        save_each(ctx.executor, run_cell, cells, save)
        from mflab.studies.three_spin_scaling_tables import build_tables

        for name, table in build_tables(ctx.dir, config).items():
            ctx.save_table(name, table)

    @staticmethod
    def _check(ctx: RunContext, cell: Cell, result) -> None:
        if cell.part == "flow" and np.all(result["diverged"] >= 0):
            ctx.diverged(f"flow d={cell.d} n={cell.n}", "every seed diverged "
                         f"(dt = {cell.config['dt']:g})", step=int(result["diverged"].min()))
        elif cell.part == "sgd" and np.any(result["diverged_sgd"] >= 0):
            ctx.warn(f"SGD d={cell.d} n={cell.n} dt={cell.dt:g} P={cell.batches}: "
                     f"{int(np.sum(result['diverged_sgd'] >= 0))} seeds diverged")
        elif cell.part == "flow" and np.any(result["diverged"] >= 0):
            ctx.warn(f"flow d={cell.d} n={cell.n}: {int(np.sum(result['diverged'] >= 0))} "
                     "seeds diverged; the fit leaves this width out")

    @staticmethod
    def _spectrum(c: ThreeSpinScalingConfig, ctx: RunContext) -> None:
        """λ_ℓ, N(d, ℓ), τ_ℓ per d (Funk–Hecke), at the run's α(d)."""
        from mflab.spherical import harmonic_multiplicity, initial_excess, overlap_eigenvalues

        dims = sorted(set(c.dims) | set(c.conv_dims))
        lam = np.array([overlap_eigenvalues(d, alpha_for(c, d), c.ell_max) for d in dims])
        mult = np.array([[harmonic_multiplicity(d, ell) for ell in range(c.ell_max + 1)]
                         for d in dims])
        ctx.save_arrays("spectrum", dims=np.asarray(dims), eigenvalues=lam, multiplicity=mult,
                        alpha=np.array([alpha_for(c, d) for d in dims]),
                        initial_A=np.array([initial_excess(d, alpha_for(c, d), 1.0)
                                            for d in dims]))

    # ----------------------------------------------------------- from files only
    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.three_spin_scaling import plot_all

        return plot_all(Path(run_dir))

    captions = {
        "three-spin-scaling-laws": "Left: the excess E L_n(t) − L_∞(t) (relative to ½E f²) "
                                   "against the width n, one colour per dimension d and one "
                                   "marker per mean-field time t; points: the mean over "
                                   "seeds minus the fitted L_∞, bars: one standard error of "
                                   "the mean; lines: the fitted A n^−p; dashed black: slope "
                                   "−1 (Rotskoff & Vanden-Eijnden's O(1/n)). Right: the "
                                   "loss after training with exact weights and L-BFGS "
                                   "centres (to gtol or max_iter) against n, mean ± "
                                   "standard error over seeds, one colour per d; "
                                   "dotted, squares: the random-feature "
                                   "optimum of the initial centres (weights alone).",
        "three-spin-sgd-noise": "Left: SGD's excess loss over the exact-gradient flow at "
                                "the same time step dt and from the same networks (mean "
                                "over seeds of the paired difference ± standard error, "
                                "relative to ½E f²) against dt/P, one colour per batch "
                                "size P; dashed: slope 1, the first-order law. Right: "
                                "SGD's loss with P ∝ n (dt/P ∝ 1/n) and the flow's, "
                                "against the width n, mean ± standard error over seeds.",
    }

    def headline(self, run_dir: Path) -> list[Headline]:
        """The fitted exponent p over n ≥ 4 n_min at t = 0 (theory 1) and at the largest t
        per d; the trained loss at the largest width per d."""
        rows = []
        tables = Path(run_dir) / "tables"
        if (tables / "flow_fits.csv").is_file():
            fits = read_table(run_dir, "flow_fits")
            fits = fits[fits["range"] != "all"]  # the law is asymptotic: n >= 4 n_min
            t_end = fits.t.max()
            for _, r in fits[(fits.t == 0) | (fits.t == t_end)].iterrows():
                ok = r.p_lo <= 1 <= r.p_hi
                rows.append(Headline(
                    f"d = {r.d}: exponent p of E L_n(t) − L_∞ at t = {r.t:g}",
                    f"{r.p:.2f}", f"95 % bootstrap [{r.p_lo:.3g}, {r.p_hi:.3g}], "
                    f"n = {int(r.n_min)}–{int(r.n_max)}",
                    ("consistent with" if ok else "differs from") + " RVE's O(1/n)"))
        if (tables / "converged.csv").is_file():
            conv = read_table(run_dir, "converged")
            for d, g in conv.groupby("d", sort=True):
                r = g.loc[g.n.idxmax()]
                rows.append(Headline(
                    f"d = {d}: loss after L-BFGS on the centres (exact weights) at "
                    f"n = {int(r.n)} (weights alone: {r.rf_mean:.2g})",
                    f"{r['mean']:.2e}",
                    f"± {r.se:.1e} (standard error, {int(r.seeds)} seeds)"))
        if (tables / "sgd_noise.csv").is_file():
            r = read_table(run_dir, "sgd_noise").iloc[0]
            rows.append(Headline(
                "slope of SGD's excess over the flow against dt/P (first order: 1)",
                f"{r.slope:.2f}", f"95 % bootstrap [{r.slope_lo:.2f}, {r.slope_hi:.2f}], "
                f"dt/P = {r['dt/P min']:.2g}–{r['dt/P max']:.2g}"))
            if np.isfinite(r.a_dt):
                rows.append(Headline(
                    "exponents of SGD's excess in dt | in 1/P (equal if it depends on dt/P "
                    "alone)", f"{r.a_dt:.2f} | {r.b_P:.2f}",
                    f"95 % bootstrap [{r.a_dt_lo:.2f}, {r.a_dt_hi:.2f}] | "
                    f"[{r.b_P_lo:.2f}, {r.b_P_hi:.2f}]"))
        return rows

    def summarize(self, run_dir: Path) -> str:
        from mflab.studies.three_spin_scaling_tables import summary_markdown

        tables = {}
        for name in ("spectrum", "flow", "flow_fits", "converged", "converged_fits",
                     "sgd_grid", "sgd_noise", "sgd_widths", "sgd_fits", "timing"):
            if (Path(run_dir) / "tables" / f"{name}.csv").is_file():
                tables[name] = read_table(run_dir, name)
        return summary_markdown(Path(run_dir), read_config(run_dir), tables)


def _name(job: tuple) -> str:
    if job[0] == "spectrum":
        return "spectrum"
    from mflab.studies.three_spin_scaling_tables import sgd_suffix

    base = f"{job[0]}_d{job[1]}_n{job[2]}"
    return base + sgd_suffix(job[3], job[4]) if job[0] == "sgd" else base


STUDY = ThreeSpinScalingStudy()

__all__ = ["STUDY", "ThreeSpinScalingConfig", "ThreeSpinScalingStudy", "jobs"]
