"""Study C6: every optimiser of SPEC Part B on the Müller–Brown potential.

    V(x, y) = Σ_{k=1..4} A_k exp[a_k(x−x0_k)² + b_k(x−x0_k)(y−y0_k) + c_k(y−y0_k)²]

(Müller & Brown, Theor. Chim. Acta 53, 1979; report §3.2.4, figs. 12–13.) The same
``n_agents`` uniform starts in the box ``[−1.5, 1.2] × [−0.2, 2.0]`` are given to each
optimiser of :data:`OPTIMIZERS`, with full gradients. By default they are compared at
equal gradient cost per agent: a method costing ``g`` gradient evaluations per step
runs ``budget // g`` steps (rounded down to a multiple of the record interval).

A run's basin is decided without distance thresholds on the final iterate: plain
gradient descent (B1 with ``descent_eta``) is run from the final point until every
gradient norm is below ``descent_tol``, and the stationary point reached is matched to
the landscape's known ``stationary_points`` (``match_tol`` only absorbs the rounding
of the tabulated coordinates, 1e−6). Runs that end at a saddle or do not converge
count as "elsewhere".

Optimisers are looked up by factory name in ``mflab.optimizers`` when the run starts;
one that is not importable (not written yet) or refuses the keyword arguments of its
table entry is skipped with a warning recorded in ``meta.json`` and the summary.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.runs.context import RunContext
from mflab.studies.base import Study


class OptimizerSpec(NamedTuple):
    """One row of the comparison: SPEC id, label, factory name (looked up in
    ``mflab.optimizers``, else in its module ``mflab.optimizers.<module>``), and the
    keyword arguments (a function of the config)."""

    id: str
    label: str
    factory: str
    module: str
    kwargs: Callable[[Any], dict[str, Any]]


#: The optimisers of SPEC Part B, in table order. Learning rate ``eta`` (SPEC C6: 1e-4
#: for GD-like methods) and, for noisy methods, the inverse temperature ``beta`` come
#: from the config; every other hyper-parameter is the factory's documented default.
OPTIMIZERS: tuple[OptimizerSpec, ...] = (
    OptimizerSpec("B1", "GD", "sgd", "sgd", lambda c: {"eta": c.eta}),
    OptimizerSpec("B2", "Nesterov", "nesterov", "nesterov", lambda c: {"eta": c.eta}),
    OptimizerSpec("B3", "Nesterov + restart", "restart_nesterov", "nesterov",
                  lambda c: {"eta": c.eta}),
    OptimizerSpec("B4", "MaSS", "mass", "mass", lambda c: {"eta1": c.eta}),
    OptimizerSpec("B5", "SGLD", "sgld", "langevin", lambda c: {"eta": c.eta, "beta": c.beta}),
    OptimizerSpec("B6", "Interacting SGLD", "interacting_sgld", "langevin",
                  lambda c: {"eta": c.eta, "beta": c.beta}),
    OptimizerSpec("B7", "Gaussian smoothing", "gaussian_smoothing", "smoothing",
                  lambda c: {"eta": c.eta}),
    OptimizerSpec("B8", "HJ smoothing", "hj_smoothing", "hamilton_jacobi",
                  lambda c: {"eta": c.macro_step, "beta": c.beta}),
    OptimizerSpec("B9", "Fast–slow", "fast_slow", "multiscale",
                  lambda c: {"beta": c.beta, "eps": c.fs_eps, "dt": c.fs_eps * c.eta}),
    OptimizerSpec("B10", "MF-Hom-SGLD", "mf_hom_sgld", "multiscale",
                  lambda c: {"beta": c.beta, "Delta": c.macro_step}),
    OptimizerSpec("B11", "Gibbs init + GD", "gibbs_init_descent", "gibbs_init",
                  lambda c: {"eta": c.eta, "beta": c.gibbs_beta, "langevin_eta": c.eta,
                             "langevin_steps": c.budget // 2}),
)
ALL_IDS = tuple(s.id for s in OPTIMIZERS)
BASINS = ("A", "B", "C", "elsewhere")


@dataclass(frozen=True)
class MuellerBrownConfig(StudyConfig):
    """Config of study C6 (defaults: SPEC C6 paper scale)."""

    n_agents: int = param(1000, ge=1, doc="uniform starts, shared by all optimisers (SPEC C6)")
    budget: int = param(100_000, ge=1, doc="gradient evaluations per agent (SPEC C6: 1e5 steps)")
    equal_cost: bool = param(True, doc="steps = budget // grads_per_step; false: budget steps")
    eta: float = param(1e-4, gt=0, doc="learning rate of GD-like methods (SPEC C6)")
    beta: float = param(0.1, gt=0, doc="inverse temperature of noisy methods (barriers: "
                        "β·ΔV = 3.6 to leave B, 10.6 to leave A)")
    macro_step: float = param(0.02, gt=0, doc="outer step of B8 (η) and B10 (Δ); Δ/γ = 0.2")
    fs_eps: float = param(0.1, gt=0, doc="B9 scale separation ε (dt = ε·eta keeps dt/ε = eta)")
    gibbs_beta: float = param(0.05, gt=0, doc="B11 Langevin β (81% Gibbs mass in A; crosses "
                              "barriers within budget/2 steps)")
    box: tuple[float, ...] = param((-1.5, 1.2, -0.2, 2.0), doc="start box x_lo,x_hi,y_lo,y_hi")
    optimizers: tuple[str, ...] = param(ALL_IDS, choices=ALL_IDS, doc="SPEC ids to compare")
    n_records: int = param(200, ge=1, doc="records of each run (metrics, trajectories)")
    n_trajectories: int = param(8, ge=0, doc="sample agents whose trajectories are saved")
    n_chunks: int = param(4, ge=1, doc="checkpoints per optimiser (resume points)")
    descent_eta: float = param(1e-4, gt=0, doc="step of the GD used to find a run's basin")
    descent_tol: float = param(1e-6, gt=0, doc="gradient norm at which that GD stops")
    descent_max_steps: int = param(200_000, ge=1, doc="step cap of that GD")
    match_tol: float = param(1e-3, gt=0, doc="distance to a tabulated stationary point")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"n_agents": 200, "budget": 10_000, "n_records": 100, "n_chunks": 1},
    }

    def check(self) -> None:
        if len(self.box) != 4 or self.box[0] >= self.box[1] or self.box[2] >= self.box[3]:
            raise ConfigError(f"box must be x_lo,x_hi,y_lo,y_hi with lo < hi; got {self.box}.")
        if self.n_trajectories > self.n_agents:
            raise ConfigError(f"n_trajectories must be <= n_agents ({self.n_agents}); "
                              f"got {self.n_trajectories}.")
        if len(set(self.optimizers)) != len(self.optimizers):
            raise ConfigError(f"optimizers must not repeat; got {','.join(self.optimizers)}.")

    def memory_bytes(self) -> int:
        """One optimiser's run at a time, in 8-byte floats: the records of one checkpoint
        chunk, values (R, A) and positions (R, A, 2) in JAX and in NumPy, plus ~150
        (A, 2)-sized arrays (state, B7's K = 16 samples, temporaries, the basin descent)."""
        r = -(-self.n_records // self.n_chunks) + 1
        return 8 * self.n_agents * (2 * 3 * r + 150) + 8 * 2 * (self.n_records + 1) * (
            self.n_trajectories + 1)


def load_optimizer(spec: OptimizerSpec, config) -> tuple[Any, str | None]:
    """(Optimizer, None), or (None, reason) when the factory is missing or refuses its kwargs."""
    factory = getattr(importlib.import_module("mflab.optimizers"), spec.factory, None)
    if factory is None:
        try:
            module = importlib.import_module(f"mflab.optimizers.{spec.module}")
            factory = getattr(module, spec.factory)
        except (ImportError, AttributeError):
            return None, f"{spec.id} {spec.label}: mflab.optimizers.{spec.factory} not available"
    kwargs = spec.kwargs(config)
    try:
        return factory(**kwargs), None
    except (TypeError, ValueError) as e:
        return None, f"{spec.id} {spec.label}: {spec.factory}(**{kwargs}) refused: {e}"


def descend(landscape, x: np.ndarray, *, eta: float, tol: float, max_steps: int,
            check_every: int = 100):
    """Plain GD (B1, ``sgd(eta)``) from every row of ``x`` until all ``|∇V| < tol`` or
    ``max_steps``; the gradient norms are checked every ``check_every`` steps.

    Returns (points, converged mask, steps taken). Runs through :func:`mflab.run` in chunks
    of ``10 · check_every`` steps (one compiled chunk for the whole descent); converged
    agents keep stepping (a fixed point of GD).
    """
    import jax

    import mflab

    opt, obs = _descent_tools(landscape, float(eta))
    per_call = 10 * check_every
    x = np.asarray(x, dtype=np.float64)
    state, k = None, 0
    while True:
        tr = mflab.run(opt, landscape, x, per_call, jax.random.key(0), record_every=check_every,
                       observables=obs, record_positions=True, state=state, start_step=k)
        gn = tr.records["grad_norm"]  # (R, A); record 0 is this call's start
        below = np.all(gn < tol, axis=1)
        if below.any() or k + per_call >= max_steps:
            r = int(np.argmax(below)) if below.any() else gn.shape[0] - 1
            return tr.records["x"][r], gn[r] < tol, k + r * check_every
        state, k = tr.state, k + per_call


_DESCENT_TOOLS: dict = {}


def _descent_tools(landscape, eta):
    """The descent's optimiser and observable, made once per (landscape, η) so that every
    descent reuses one compiled chunk."""
    key = (id(landscape), eta)
    if key not in _DESCENT_TOOLS or _DESCENT_TOOLS[key][0] is not landscape:
        import jax.numpy as jnp

        from mflab.optimizers import sgd

        obs = {"grad_norm": lambda p: jnp.linalg.norm(landscape.grad(p))}
        _DESCENT_TOOLS[key] = (landscape, sgd(eta), obs)
    return _DESCENT_TOOLS[key][1:]


def classify(landscape, points: np.ndarray, converged: np.ndarray, match_tol: float):
    """Name of the stationary point each converged descent reached ('' if none)."""
    sp = landscape.stationary_points
    where = np.stack([p.x for p in sp])
    d = np.linalg.norm(points[:, None, :] - where[None], axis=-1)
    nearest = d.argmin(axis=1)
    names = np.array([p.name for p in sp])[nearest]
    ok = converged & (d[np.arange(len(points)), nearest] < match_tol)
    return np.where(ok, names, "")


def basin_fractions(names: np.ndarray) -> dict[str, float]:
    """Fractions of runs in basins A, B, C and elsewhere (saddles, unconverged, lost)."""
    n = len(names)
    out = {b: float(np.sum(names == b)) / n for b in BASINS[:3]}
    out["elsewhere"] = 1.0 - sum(out.values())
    return out


class MuellerBrownStudy(Study):
    """C6 (see the module docstring)."""

    name = "mueller-brown"
    description = (
        "C6: every Part B optimiser on the Müller–Brown potential from uniform starts "
        "at equal gradient cost; basin fractions, final values, trajectories."
    )
    Config = MuellerBrownConfig

    def run(self, config: MuellerBrownConfig, ctx: RunContext) -> None:
        import jax
        import jax.numpy as jnp

        from mflab.landscapes import mueller_brown

        L = mueller_brown()
        k_init, k_runs = jax.random.split(ctx.key)
        lo = jnp.array([config.box[0], config.box[2]])
        hi = jnp.array([config.box[1], config.box[3]])
        x0 = jax.random.uniform(k_init, (config.n_agents, 2), jnp.float64, lo, hi)
        sample = np.linspace(0, config.n_agents - 1, config.n_trajectories).astype(int)
        ctx.save_arrays("starts", x0=np.asarray(x0), sample=sample)
        ck = ctx.load_checkpoint()
        resume_at = ck.extra if ck is not None else {"opt": 0, "k": 0}
        specs = [s for s in OPTIMIZERS if s.id in config.optimizers]
        for i, spec in enumerate(specs):
            if i < resume_at["opt"]:
                continue
            opt, why = load_optimizer(spec, config)
            if opt is None:
                ctx.warn(f"skipped {why}")
                continue
            partial = resume_at if i == resume_at["opt"] and resume_at["k"] > 0 else None
            self._run_one(config, ctx, L, spec, opt, x0, sample,
                          jax.random.fold_in(k_runs, ALL_IDS.index(spec.id)), i, partial)
        ctx.save_table("basins", self._table(ctx))

    def _run_one(self, config, ctx, L, spec, opt, x0, sample, key, i, partial):
        import jax

        import mflab
        from mflab.driver import DivergenceError

        steps = config.budget // opt.grads_per_step if config.equal_cost else config.budget
        every = max(1, steps // config.n_records)
        steps = (steps // every) * every
        n_rec = steps // every
        per_chunk = -(-n_rec // config.n_chunks) * every
        template = {"opt": opt.init(x0), "traj": np.zeros(0), "tsteps": np.zeros(0, int)}
        if partial is not None:
            st = ctx.load_checkpoint(like=template).state
            state, traj, tsteps = st["opt"], [np.asarray(st["traj"])], [np.asarray(st["tsteps"])]
            k, elapsed = partial["k"], partial["elapsed"]
        else:
            state, k, elapsed = opt.init(x0), 0, 0.0
            traj, tsteps = [np.asarray(x0)[sample][None]], [np.array([0])]
            v0 = np.asarray(jax.vmap(L.value)(x0))[None]
            self._log_records(ctx, spec, v0, np.array([0]), np.array([0]))
        while k < steps:
            n = min(per_chunk, steps - k)
            t0 = time.perf_counter()
            try:
                tr = mflab.run(opt, L, state.x, n, key, record_every=every, state=state,
                               start_step=k, record_positions=True, progress=ctx.progress)
            except DivergenceError as e:
                ctx.diverged(f"{spec.id} {spec.label}", str(e), step=getattr(e, "step", None))
                return
            elapsed += time.perf_counter() - t0
            state, k = tr.state, k + n
            pos = tr.positions[1:]
            traj.append(pos[:, sample])
            tsteps.append(tr.steps[1:])
            self._log_records(ctx, spec, tr.values[1:], tr.steps[1:], tr.grad_evals[1:])
            if k < steps:
                ctx.save_checkpoint(progress=i * 10_000 + k // per_chunk, extra={
                    "opt": i, "k": k, "elapsed": elapsed},
                    state={"opt": state, "traj": np.concatenate(traj),
                           "tsteps": np.concatenate(tsteps)})
        self._finish_one(config, ctx, L, spec, opt, state, steps, elapsed,
                         np.concatenate(traj), np.concatenate(tsteps))
        ctx.save_checkpoint(progress=(i + 1) * 10_000, extra={"opt": i + 1, "k": 0})

    @staticmethod
    def _log_records(ctx, spec, values, steps, grad_evals):
        """Quantiles of V over the agents at each record (values: (R, A))."""
        v = np.asarray(values)
        stats = {"median_value": np.median(v, 1), "mean_value": v.mean(1), "min_value": v.min(1),
                 "q10_value": np.quantile(v, 0.1, 1), "q90_value": np.quantile(v, 0.9, 1)}
        ctx.log_metrics([
            {"optimizer": spec.id, "step": int(s), "metric": m, "value": float(vals[r]),
             "grad_evals": int(g)}
            for m, vals in stats.items()
            for r, (s, g) in enumerate(zip(steps, grad_evals, strict=True))])

    @staticmethod
    def _finish_one(config, ctx, L, spec, opt, state, steps, elapsed, traj, tsteps):
        import jax

        x = np.asarray(state.x)
        v = np.asarray(jax.vmap(L.value)(state.x))
        t0 = time.perf_counter()
        xd, conv, n_desc = descend(L, x, eta=config.descent_eta, tol=config.descent_tol,
                                   max_steps=config.descent_max_steps)
        names = classify(L, xd, conv, config.match_tol)
        ctx.record_timing(f"{spec.id}", elapsed)
        ctx.record_timing(f"{spec.id} basin descent", time.perf_counter() - t0)
        ge = int(np.asarray(state.grad_evals))
        ctx.save_arrays(f"final_{spec.id}", x=x, value=v, descended=xd, converged=conv,
                        stationary=names.astype("U4"), traj=traj, traj_steps=tsteps,
                        steps=steps, grads_per_step=opt.grads_per_step, grad_evals=ge,
                        descent_steps=n_desc)
        fr = basin_fractions(names)
        final = {**{f"fraction_{b}": fr[b] for b in BASINS}, "median_final_value":
                 float(np.median(v)), "grad_evals": ge, "steps": steps,
                 "grads_per_step": opt.grads_per_step, "descent_steps": n_desc}
        ctx.log_metrics([{"optimizer": spec.id, "step": steps, "metric": f"final/{m}",
                          "value": float(val), "grad_evals": ge} for m, val in final.items()])

    # ------------------------------------------------------------------ outputs
    @staticmethod
    def _table(ctx: RunContext):
        """Per-optimiser results from the saved ``final_*.npz`` and the recorded timings."""
        import pandas as pd

        from mflab.runs.io import read_arrays

        rows = []
        for s in OPTIMIZERS:
            path = ctx.dir / "arrays" / f"final_{s.id}.npz"
            if s.id not in ctx.config.optimizers or not path.exists():
                continue
            a = read_arrays(ctx.dir, f"final_{s.id}")
            fr = basin_fractions(a["stationary"])
            rows.append({"id": s.id, "method": s.label,
                         **{f"basin {b}": fr[b] for b in BASINS},
                         "median final V": float(np.median(a["value"])),
                         "grads/step": int(a["grads_per_step"]), "steps": int(a["steps"]),
                         "grad evals/agent": int(a["grad_evals"]),
                         "wall time (s)": ctx.timing(s.id)})
        columns = ["id", "method", *(f"basin {b}" for b in BASINS), "median final V",
                   "grads/step", "steps", "grad evals/agent", "wall time (s)"]
        return pd.DataFrame(rows, columns=columns)

    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.mueller_brown import plot_all

        return plot_all(Path(run_dir), {s.id: s.label for s in OPTIMIZERS})

    def summarize(self, run_dir: Path) -> str:
        from mflab.runs.io import read_config, read_meta, read_table

        run_dir = Path(run_dir)
        cfg, meta = read_config(run_dir), read_meta(run_dir)
        t = read_table(run_dir, "basins")
        fmt = t.copy()
        for b in BASINS:
            fmt[f"basin {b}"] = fmt[f"basin {b}"].map(lambda f: f"{f:.3f}")
        fmt["median final V"] = fmt["median final V"].map(lambda f: f"{f:.3f}")
        fmt["wall time (s)"] = fmt["wall time (s)"].map(lambda f: f"{f:.2f}")
        cost = ("equal gradient cost: each method ran budget // grads_per_step steps"
                if cfg["equal_cost"] else "equal step count: each method ran `budget` steps")
        lines = [
            "# C6 — optimisers on the Müller–Brown potential", "",
            f"{cfg['n_agents']} uniform starts in [{cfg['box'][0]}, {cfg['box'][1]}] × "
            f"[{cfg['box'][2]}, {cfg['box'][3]}], the same for every method; full gradients; "
            f"learning rate η = {cfg['eta']:g} for GD-like methods; budget {cfg['budget']} "
            f"gradient evaluations per agent ({cost}). The columns `grads/step`, `steps` and "
            "`grad evals/agent` say how each budget was spent.", "",
            "Basin of a run: plain GD (η = "
            f"{cfg['descent_eta']:g}) from its final point until |∇V| < {cfg['descent_tol']:g}, "
            "then matched to the tabulated stationary points (A global: V = −146.700, "
            "B: −108.167, C: −80.768); saddles and unconverged runs count as elsewhere. "
            "Wall time: the optimiser's runs including JIT compilation, excluding the "
            "basin descent.", "",
            _markdown_table(fmt), "",
            "Figures: `figures/trajectories.png` (sample trajectories on the contours), "
            "`figures/final_values.png` (histograms of final V), `figures/basins.png` "
            "(basin fractions), `figures/convergence.png` (median V vs gradient evaluations). "
            "Table: `tables/basins.csv`; all records: `metrics.parquet`.",
        ]
        skipped = [w for w in meta.get("warnings", []) if w.startswith("skipped")]
        if skipped:
            lines += ["", "Not run (optimiser not available yet or refused its arguments):"]
            lines += [f"- {w[len('skipped '):]}" for w in skipped]
        return "\n".join(lines) + "\n"


def _markdown_table(df) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


STUDY = MuellerBrownStudy()
