"""Study C6: every optimiser of SPEC Part B on the Müller–Brown potential.

    V(x, y) = Σ_{k=1..4} A_k exp[a_k(x−x0_k)² + b_k(x−x0_k)(y−y0_k) + c_k(y−y0_k)²]

(Müller & Brown, Theor. Chim. Acta 53, 1979; report §3.2.4, figs. 12–13.) The same
``n_agents`` uniform starts in the box ``[−1.5, 1.2] × [−0.2, 2.0]`` are given to each
optimiser of :data:`OPTIMIZERS`, with full gradients. By default they are compared at
equal gradient cost per agent: a method costing ``g`` gradient evaluations per step
runs ``budget // g`` steps; its ``n_records`` records are log-spaced in steps.

Tuned alike, compared paired (SPEC C5's protocol, applied to C6): each method's parameter
that sets how far it looks beyond its start's basin (β of the noisy methods, B11's
Langevin β, B7's width h) is chosen by :class:`mflab.compare.Tuner` on ``tuning_seeds``
seeds of their own (a grid extended by a decade while the choice sits at an edge); the
``n_seeds`` comparison seeds are the statistical units (one 1000-start ensemble each,
shared by every method), and methods are compared seed by seed with Wilcoxon's
signed-rank test (:func:`paired_table`, :func:`claim_verdict`).

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
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from mflab.compare.stats import lower_median
from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.runs.context import RunContext
from mflab.studies.base import Headline, Study


class OptimizerSpec(NamedTuple):
    """One row of the comparison: SPEC id, label, factory name (looked up in
    ``mflab.optimizers``, else in its module ``mflab.optimizers.<module>``), the keyword
    arguments (a function of the config) and the config fields tuned for it (each a
    bracketing grid, :data:`TUNED_GRIDS`)."""

    id: str
    label: str
    factory: str
    module: str
    kwargs: Callable[[Any], dict[str, Any]]
    tuned: tuple[str, ...] = ()


#: The optimisers of SPEC Part B, in table order. Learning rate ``eta`` (SPEC C6: 1e-4
#: for GD-like methods) and, for noisy methods, the inverse temperature ``beta`` come
#: from the config; every other hyper-parameter is the factory's documented default.
#: Tuned alike: the parameter that sets how far each method looks beyond its start's
#: basin — β of every noisy method (B11: its Langevin phase's β), the smoothing width h of
#: B7 — is chosen per method on tuning seeds (``tuning_seeds``); descent's η is SPEC's.
OPTIMIZERS: tuple[OptimizerSpec, ...] = (
    OptimizerSpec("B1", "GD", "sgd", "sgd", lambda c: {"eta": c.eta}),
    OptimizerSpec("B2", "Nesterov", "nesterov", "nesterov", lambda c: {"eta": c.eta}),
    OptimizerSpec("B3", "Nesterov + restart", "restart_nesterov", "nesterov",
                  lambda c: {"eta": c.eta}),
    OptimizerSpec("B4", "MaSS", "mass", "mass", lambda c: {"eta1": c.eta}),
    OptimizerSpec("B5", "SGLD", "sgld", "langevin", lambda c: {"eta": c.eta, "beta": c.beta},
                  ("beta",)),
    OptimizerSpec("B6", "Interacting SGLD", "interacting_sgld", "langevin",
                  lambda c: {"eta": c.eta, "beta": c.beta}, ("beta",)),
    OptimizerSpec("B7", "Gaussian smoothing", "gaussian_smoothing", "smoothing",
                  lambda c: {"eta": c.eta, "h": c.smoothing_h,
                             **({"quadrature_nodes": c.smoothing_nodes}
                                if c.smoothing_nodes else {})}, ("smoothing_h",)),
    OptimizerSpec("B8", "HJ smoothing", "hj_smoothing", "hamilton_jacobi",
                  lambda c: {"eta": c.macro_step, "beta": c.beta}, ("beta",)),
    OptimizerSpec("B9", "Fast–slow", "fast_slow", "multiscale",
                  lambda c: {"beta": c.beta, "eps": c.fs_eps, "dt": c.fs_eps * c.eta},
                  ("beta",)),
    OptimizerSpec("B10", "MF-Hom-SGLD", "mf_hom_sgld", "multiscale",
                  lambda c: {"beta": c.beta, "Delta": c.macro_step, "lam": c.mfhom_lam},
                  ("beta",)),
    OptimizerSpec("B11", "Gibbs init + GD", "gibbs_init_descent", "gibbs_init",
                  lambda c: {"eta": c.eta, "beta": c.gibbs_beta, "langevin_eta": c.eta,
                             "langevin_steps": c.budget // 2}, ("gibbs_beta",)),
)
#: Each tuned config field: the config field holding its first grid, and the stated limits
#: within which a choice at an edge extends it by a decade (SPEC C5's tuning protocol).
TUNED_GRIDS = {"beta": ("beta_grid", 1e-3, 10.0), "gibbs_beta": ("beta_grid", 1e-3, 10.0),
               "smoothing_h": ("h_grid", 1e-4, 1.0)}
#: The paired tests' references: GD (is the method better than descent?) and SGLD (than
#: plain Langevin at its own tuned temperature?).
REFERENCES = ("B1", "B5")
#: Further paired tests of the report's claims (§3.2.4): "Nesterov seems to perform slightly
#: better than the MaSS algorithm".
CLAIM_PAIRS = (("B2", "B4"),)
#: Two-sided level at which a paired difference counts as significant (per test).
ALPHA = 0.05
ALL_IDS = tuple(s.id for s in OPTIMIZERS)
BASINS = ("A", "B", "C", "elsewhere")
OUTCOMES = (*BASINS, "diverged")


@dataclass(frozen=True)
class MuellerBrownConfig(StudyConfig):
    """Config of study C6 (defaults: SPEC C6 paper scale)."""

    n_agents: int = param(1000, ge=1, doc="uniform starts, shared by all optimisers (SPEC C6)")
    n_seeds: int = param(10, ge=1, doc="comparison seeds: repetitions of the whole ensemble (new "
                         "starts and noise), one statistical unit each; tables give the median "
                         "and range over them, paired tests compare methods seed by seed "
                         "(SPEC C6: >= 5; SPEC C5's protocol: >= 10)")
    tuning_seeds: int = param(3, ge=0, doc="seeds (disjoint from the comparison's) on which "
                              "each method's tuned parameter is chosen by the median share "
                              "outside basin A; 0: no tuning, every method at the config's "
                              "values")
    beta_grid: tuple[float, ...] = param((0.03, 0.1, 0.3), doc="first grid of the tuned β "
                                         "(noisy methods; B11's Langevin β), log-spaced")
    h_grid: tuple[float, ...] = param((0.01, 0.03, 0.1), doc="first grid of B7's tuned "
                                      "smoothing width h, log-spaced")
    max_extensions: int = param(2, ge=0, doc="decades a grid may grow beyond each edge before "
                                "a choice there is flagged")
    budget: int = param(100_000, ge=1, doc="gradient evaluations per agent (SPEC C6: 1e5 steps)")
    equal_cost: bool = param(True, doc="steps = budget // grads_per_step; false: budget steps")
    eta: float = param(1e-4, gt=0, doc="learning rate of GD-like methods (SPEC C6)")
    beta: float = param(0.1, gt=0, doc="inverse temperature of noisy methods, where not tuned "
                        "(barriers: "
                        "β·ΔV = 3.6 to leave B, 10.6 to leave A)")
    macro_step: float = param(0.02, gt=0, doc="outer step of B8 (η) and B10 (Δ); Δ/γ = 0.2")
    mfhom_lam: float = param(1.0, ge=0, doc="B10 Curie–Weiss interaction λ (SPEC C6: λ > 0, "
                             "the report's MF-Hom-SGLD is the interacting form, 'λ ∼ 1'; "
                             "λ = 0 is the interaction-off control: B8's algorithm with a "
                             "warm-started inner chain, on the same noise)")
    smoothing_h: float = param(0.03, gt=0, doc="B7 smoothing width h (untuned value)")
    smoothing_nodes: int = param(0, ge=0, doc="B7's ∇Φ^h: 0 = Monte Carlo, K = 16 samples a "
                                 "step; n = the n×n Gauss–Hermite rule (SPEC B7's grid in "
                                 "2-D; n² gradients a step)")
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
        "quick": {"n_agents": 200, "n_seeds": 2, "tuning_seeds": 0, "budget": 10_000,
                  "n_records": 100, "n_chunks": 1},
    }

    def check(self) -> None:
        if len(self.box) != 4 or self.box[0] >= self.box[1] or self.box[2] >= self.box[3]:
            raise ConfigError(f"box must be x_lo,x_hi,y_lo,y_hi with lo < hi; got {self.box}.")
        if self.n_trajectories > self.n_agents:
            raise ConfigError(f"n_trajectories must be <= n_agents ({self.n_agents}); "
                              f"got {self.n_trajectories}.")
        if len(set(self.optimizers)) != len(self.optimizers):
            raise ConfigError(f"optimizers must not repeat; got {','.join(self.optimizers)}.")
        for name in ("beta_grid", "h_grid"):
            g = getattr(self, name)
            if not g or any(not (v > 0) for v in g) or len(set(g)) != len(g):
                raise ConfigError(f"{name} must be distinct positive values; got "
                                  f"{','.join(map(str, g))}.")
            field, lo, hi = next(v for v in TUNED_GRIDS.values() if v[0] == name)
            if min(g) < lo or max(g) > hi:
                raise ConfigError(f"{name} must lie in [{lo:g}, {hi:g}]; got "
                                  f"{','.join(map(str, g))}.")

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
    """Fractions of runs in basins A, B, C, elsewhere (saddles, unconverged) and diverged
    (name ``"div"``: the run became non-finite)."""
    n = len(names)
    out = {b: float(np.sum(names == b)) / n for b in BASINS[:3]}
    out["diverged"] = float(np.sum(names == "div")) / n
    out["elsewhere"] = float(np.sum(~np.isin(names, [*BASINS[:3], "div"]))) / n
    return out


def summarize_seeds(per_seed):
    """Median and range over seeds of every per-seed number, one row per optimiser (in
    table order): columns ``X`` (median), ``X min``, ``X max``."""
    import pandas as pd

    num = [c for c in per_seed.columns if c not in ("seed", "id", "method")]
    rows = []
    for (i, label), g in per_seed.groupby(["id", "method"], sort=False):
        row = {"id": i, "method": label, "seeds": len(g)}
        for c in num:
            vals = g[c].astype(float)
            mid = lower_median(vals) if c == "median final V" else vals.median()
            row[c], row[f"{c} min"], row[f"{c} max"] = mid, vals.min(), vals.max()
        rows.append(row)
    if not rows:  # nothing finished (every method diverged or was skipped)
        return pd.DataFrame(columns=["id", "method", "seeds"])
    order = {s.id: k for k, s in enumerate(OPTIMIZERS)}
    return pd.DataFrame(rows).sort_values("id", key=lambda c: c.map(order)).reset_index(drop=True)


class TuningJob(NamedTuple):
    """One tuning run as a self-contained job: ``method`` at ``point`` on tuning seed ``t``.

    Tuning seed t draws its starts and noise from the tuning branch of the run's key (apart
    from the comparison's), the same starts for every method (paired, as the comparison is).
    It carries the config, the key data and the precision, and runs alike wherever it
    lands (:func:`run_tuning_job`)."""

    config: Any
    method: str
    point: tuple[tuple[str, float], ...]
    t: int
    key_data: tuple[int, ...]
    x64: bool

    @property
    def name(self) -> str:
        """Its array file: ``tune_B5_beta=0.1_t0``."""
        tag = "_".join(f"{k}={v:.6g}" for k, v in self.point)
        return f"tune_{self.method}_{tag}_t{self.t}"


def run_tuning_job(job: TuningJob) -> dict[str, Any]:
    """The share of tuning seed ``job.t``'s ensemble that does not end in basin A, or +inf
    when any agent diverged (as in :mod:`mflab.compare`: a point at which the method blows
    up is refused, however many agents reach A): ``{"score", "in_a", "diverged", "x0"}``
    (``diverged``: the count of non-finite agents; ``x0``: the starts)."""
    import jax
    import jax.numpy as jnp

    import mflab
    from mflab.landscapes import mueller_brown

    c = job.config
    spec = next(s for s in OPTIMIZERS if s.id == job.method)
    with jax.enable_x64(job.x64):
        L = mueller_brown()
        opt, why = load_optimizer(spec, replace(c, **dict(job.point)))
        if opt is None:
            raise ConfigError(f"tuning {why}")
        root = jax.random.fold_in(np.asarray(job.key_data, np.uint32), 1)  # tuning branch
        k_init, k_runs = jax.random.split(root)
        lo, hi = jnp.array([c.box[0], c.box[2]]), jnp.array([c.box[1], c.box[3]])
        dtype = jnp.float64 if job.x64 else jnp.float32
        x0 = jax.random.uniform(jax.random.fold_in(k_init, job.t), (c.n_agents, 2), dtype,
                                lo, hi)
        key = jax.random.fold_in(jax.random.fold_in(k_runs, job.t), ALL_IDS.index(spec.id))
        steps = c.budget // opt.grads_per_step if c.equal_cost else c.budget
        tr = mflab.run(opt, L, x0, steps, key, record_every=steps, on_divergence="continue")
        ok = np.asarray(tr.diverged) < 0
        x = np.where(ok[:, None], np.asarray(tr.state.x), 0.0)
        xd, conv, _ = descend(L, x, eta=c.descent_eta, tol=c.descent_tol,
                              max_steps=c.descent_max_steps)
    in_a = ok & (classify(L, xd, conv, c.match_tol) == "A")
    score = 1.0 - np.mean(in_a) if ok.all() else np.inf
    return {"score": np.float64(score), "in_a": in_a, "diverged": np.int64(np.sum(~ok)),
            "x0": np.asarray(x0)}


def paired_table(per_seed, references=REFERENCES):
    """Paired tests of the share in basin A, seed by seed (the methods share each seed's
    starts): for every method against each reference present (:data:`REFERENCES`), for
    B10 against every other method (the report's claim) and the :data:`CLAIM_PAIRS`.
    Columns: ``id``, ``vs``, ``pairs``, ``median diff A`` (method − other, median over
    seeds), ``p`` (Wilcoxon signed-rank, two-sided; :func:`mflab.compare.paired_test`)."""
    import pandas as pd

    from mflab.compare import paired_test

    a = per_seed.pivot(index="seed", columns="id", values="basin A")
    order = [s.id for s in OPTIMIZERS if s.id in a.columns]
    pairs = [(i, r) for r in references if r in a.columns for i in order if i != r]
    if "B10" in a.columns:
        pairs += [("B10", o) for o in order if o != "B10" and ("B10", o) not in pairs]
    pairs += [(i, o) for i, o in CLAIM_PAIRS if {i, o} <= set(a.columns)
              and (i, o) not in pairs]
    rows = []
    for i, o in pairs:
        t = paired_test(a[i].to_numpy(), a[o].to_numpy())
        rows.append({"id": i, "vs": o, "pairs": t["pairs"], "median diff A": t["median_diff"],
                     "p": t["p"]})
    return pd.DataFrame(rows, columns=["id", "vs", "pairs", "median diff A", "p"])


def claim_verdict(paired, n_seeds: int) -> str:
    """The verdict on the report's claim that B10 outperforms every other method, from the
    paired tests of B10 against each (:func:`paired_table`) at level :data:`ALPHA`."""
    b10 = paired[paired["id"] == "B10"]
    if not len(b10):
        return "not tested: B10 not run"
    sig = b10["p"] < ALPHA
    above, below = b10[sig & (b10["median diff A"] > 0)], b10[sig & (b10["median diff A"] < 0)]
    if len(below):
        who = ", ".join(f"{r.vs} (p = {r.p:.3g})" for r in below.itertuples())
        return f"not borne out: {who} significantly above B10 over {n_seeds} paired seeds"
    if len(above) == len(b10):
        return f"borne out: B10 significantly above every other method over {n_seeds} seeds"
    return (f"not settled: B10 significantly above {len(above)} of {len(b10)} methods, "
            f"below none, over {n_seeds} paired seeds")


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
        sample = np.linspace(0, config.n_agents - 1, config.n_trajectories).astype(int)
        ck = ctx.load_checkpoint()
        resume_at = ck.extra if ck is not None else {"seed": 0, "opt": 0, "k": 0}
        specs = [s for s in OPTIMIZERS if s.id in config.optimizers]
        chosen = self._tune(config, ctx, specs)
        # one optimiser object per method for all seeds: its compiled chunks are reused
        loaded = {s.id: load_optimizer(s, replace(config, **chosen[s.id])) for s in specs}
        for seed in range(resume_at.get("seed", 0), config.n_seeds):
            x0 = jax.random.uniform(jax.random.fold_in(k_init, seed), (config.n_agents, 2),
                                    jnp.float64, lo, hi)
            ctx.save_arrays(f"starts_s{seed}", x0=np.asarray(x0), sample=sample)
            for i, spec in enumerate(specs):
                here = seed == resume_at.get("seed", 0)
                if here and i < resume_at["opt"]:
                    continue
                opt, why = loaded[spec.id]
                if opt is None:
                    ctx.warn(f"skipped {why}")
                    continue
                partial = resume_at if here and i == resume_at["opt"] and resume_at["k"] > 0 \
                    else None
                key = jax.random.fold_in(jax.random.fold_in(k_runs, seed),
                                         ALL_IDS.index(spec.id))
                self._run_one(config, ctx, L, spec, opt, x0, sample, key, seed,
                              (seed, i, len(specs)), partial)
                ctx.save_checkpoint(progress=(seed * len(specs) + i + 1) * 10_000,
                                    extra={"seed": seed, "opt": i + 1, "k": 0})
            ctx.save_checkpoint(progress=(seed + 1) * len(specs) * 10_000,
                                extra={"seed": seed + 1, "opt": 0, "k": 0})
        per_seed = self._per_seed(ctx)
        ctx.save_table("basins_per_seed", per_seed)
        ctx.save_table("basins", summarize_seeds(per_seed))

    # ------------------------------------------------------------------ tuning
    def _tune(self, config, ctx, specs) -> dict[str, dict[str, float]]:
        """Each method's tuned fields (:attr:`OptimizerSpec.tuned`), chosen by
        :class:`~mflab.compare.Tuner` — the median over ``tuning_seeds`` seeds of the share
        of the ensemble outside basin A (+inf on a seed where an agent diverged), on a grid
        extended by a decade while the choice is at an edge (SPEC C5's protocol). Every
        method's round runs through the run's executor together (:class:`TuningJob`); each
        score is stored as it ends
        (``arrays/tune_*``), so a resumed run does not recompute it. Writes the table
        ``tuning`` (every scored point, its seed scores, the choice and its flags)."""
        import jax
        import pandas as pd

        from mflab.compare import Grid, Tuner
        from mflab.runs.executor import save_each
        from mflab.runs.io import read_arrays

        key_data = tuple(int(v) for v in np.asarray(ctx.key).ravel())
        x64 = bool(jax.config.read("jax_enable_x64"))
        tuners = {}
        for spec in specs:
            if spec.tuned and config.tuning_seeds > 0:
                tuners[spec.id] = Tuner({n: Grid(tuple(getattr(config, TUNED_GRIDS[n][0])),
                                                 *TUNED_GRIDS[n][1:]) for n in spec.tuned},
                                        config.max_extensions)
        live = list(tuners)
        while live:
            jobs = [TuningJob(config, i, p, t, key_data, x64) for i in live
                    for p in tuners[i].pending() for t in range(config.tuning_seeds)]
            todo = [j for j in jobs if not (ctx.dir / "arrays" / f"{j.name}.npz").exists()]

            def save(k: int, out, todo=todo) -> None:
                x0 = out.pop("x0")  # tuning seed t's starts, the same for every job of t
                if not (ctx.dir / "arrays" / f"starts_tune_t{todo[k].t}.npz").exists():
                    ctx.save_arrays(f"starts_tune_t{todo[k].t}", x0=x0)
                ctx.save_arrays(todo[k].name, **out)

            save_each(ctx.executor, run_tuning_job, todo, save)
            scores: dict = {}
            for j in jobs:
                scores.setdefault((j.method, j.point), []).append(
                    float(read_arrays(ctx.dir, j.name)["score"]))
            for (i, point), sc in scores.items():
                tuners[i].record(point, sc)
            live = [i for i in live if tuners[i].advance()]
        chosen: dict[str, dict[str, float]] = {s.id: {} for s in specs}
        rows = []
        for i, tuner in tuners.items():
            best = tuner.best()
            chosen[i] = {} if best is None else dict(best)
            label = next(s.label for s in OPTIMIZERS if s.id == i)
            for r in tuner.table():
                for name, value in r["point"].items():
                    rows.append({"id": i, "method": label, "parameter": name, "value": value,
                                 "score": r["score"],
                                 "seed scores": ",".join(f"{v:.4f}" for v in r["seed_scores"]),
                                 "round": r["round"], "chosen": r["chosen"],
                                 "flags": ",".join(tuner.flags())})
        ctx.note("tuned", chosen)
        ctx.save_table("tuning", pd.DataFrame(rows, columns=[
            "id", "method", "parameter", "value", "score", "seed scores", "round", "chosen",
            "flags"]))
        return chosen

    def _run_one(self, config, ctx, L, spec, opt, x0, sample, key, seed, where, partial):
        import jax

        import mflab
        from mflab.driver import record_grid

        _, i, n_specs = where
        job = seed * n_specs + i
        steps = config.budget // opt.grads_per_step if config.equal_cost else config.budget
        # records log-spaced in steps (0, then geometric up to the last step), so that the
        # early descent — on a log cost axis, most of the figure — is resolved
        grid = record_grid(steps, config.n_records + 1, log=True)
        per_chunk = -(-(len(grid) - 1) // config.n_chunks)  # records per chunk
        template = {"opt": opt.init(x0), "traj": np.zeros(0), "tsteps": np.zeros(0, int),
                    "diverged": np.zeros(0, int)}
        if partial is not None:
            st = ctx.load_checkpoint(like=template).state
            state, traj, tsteps = st["opt"], [np.asarray(st["traj"])], [np.asarray(st["tsteps"])]
            diverged = np.array(st["diverged"])  # writable copy
            k, elapsed = partial["k"], partial["elapsed"]
        else:
            state, k, elapsed = opt.init(x0), 0, 0.0
            traj, tsteps = [np.asarray(x0)[sample][None]], [np.array([0])]
            diverged = np.full(config.n_agents, -1)
            v0 = np.asarray(jax.vmap(L.value)(x0))[None]
            self._log_records(ctx, spec, seed, v0, np.array([0]), np.array([0]))
        while k < steps:
            i0 = int(np.searchsorted(grid, k))
            i1 = min(i0 + per_chunk, len(grid) - 1)
            n = int(grid[i1]) - k
            t0 = time.perf_counter()
            tr = mflab.run(opt, L, state.x, n, key, record_steps=grid[i0 + 1:i1 + 1] - k,
                           state=state,
                           start_step=k, record_positions=True, progress=ctx.progress,
                           on_divergence="continue")
            elapsed += time.perf_counter() - t0
            state, k = tr.state, k + n
            new = (diverged < 0) & (tr.diverged >= 0)
            diverged[new] = tr.diverged[new]
            traj.append(tr.positions[1:][:, sample])
            tsteps.append(tr.steps[1:])
            self._log_records(ctx, spec, seed, tr.values[1:], tr.steps[1:], tr.grad_evals[1:])
            if (diverged >= 0).all():
                ctx.diverged(f"{spec.id} {spec.label}",
                             f"seed {seed}: every agent became non-finite (first at step "
                             f"{int(diverged.min())})", step=int(diverged.min()))
                return
            if k < steps:
                ctx.save_checkpoint(progress=job * 10_000 + k // per_chunk, extra={
                    "seed": seed, "opt": i, "k": k, "elapsed": elapsed},
                    state={"opt": state, "traj": np.concatenate(traj),
                           "tsteps": np.concatenate(tsteps), "diverged": diverged})
        self._finish_one(config, ctx, L, spec, opt, state, steps, elapsed,
                         np.concatenate(traj), np.concatenate(tsteps), seed, diverged)

    @staticmethod
    def _log_records(ctx, spec, seed, values, steps, grad_evals):
        """Quantiles of V over the (finite) agents at each record (values: (R, A))."""
        v = np.asarray(values)
        with warnings.catch_warnings():  # a record where every agent diverged gives NaN
            warnings.simplefilter("ignore", RuntimeWarning)  # (reported once, by the study)
            stats = {"median_value": np.nanquantile(v, 0.5, 1, method="lower"),
                     "mean_value": np.nanmean(v, 1),
                     "min_value": np.nanmin(v, 1), "q10_value": np.nanquantile(v, 0.1, 1),
                     "q90_value": np.nanquantile(v, 0.9, 1)}
        ctx.log_metrics([
            {"optimizer": spec.id, "step": int(s), "metric": m, "value": float(vals[r]),
             "grad_evals": int(g), "seed": seed}
            for m, vals in stats.items()
            for r, (s, g) in enumerate(zip(steps, grad_evals, strict=True))])

    @staticmethod
    def _finish_one(config, ctx, L, spec, opt, state, steps, elapsed, traj, tsteps, seed,
                    diverged):
        import jax

        x = np.asarray(state.x)
        v = np.asarray(jax.vmap(L.value)(state.x))
        ok = diverged < 0
        t0 = time.perf_counter()
        xd, conv, n_desc = descend(L, np.where(ok[:, None], x, 0.0), eta=config.descent_eta,
                                   tol=config.descent_tol, max_steps=config.descent_max_steps)
        names = np.where(ok, classify(L, xd, conv, config.match_tol), "div")
        ctx.record_timing(f"{spec.id} seed {seed}", elapsed)
        ctx.record_timing(f"{spec.id} seed {seed} basin descent", time.perf_counter() - t0)
        ge = int(np.asarray(state.grad_evals))
        ctx.save_arrays(f"final_{spec.id}_s{seed}", x=x, value=v, descended=xd, converged=conv,
                        stationary=names.astype("U4"), diverged_at=diverged, traj=traj,
                        traj_steps=tsteps, steps=steps, grads_per_step=opt.grads_per_step,
                        grad_evals=ge, descent_steps=n_desc)
        fr = basin_fractions(names)
        final = {**{f"fraction_{b}": fr[b] for b in OUTCOMES}, "median_final_value":
                 float(np.median(v[ok])), "grad_evals": ge, "steps": steps,
                 "grads_per_step": opt.grads_per_step, "descent_steps": n_desc}
        ctx.log_metrics([{"optimizer": spec.id, "step": steps, "metric": f"final/{m}",
                          "value": float(val), "grad_evals": ge, "seed": seed}
                         for m, val in final.items()])

    # ------------------------------------------------------------------ outputs
    @staticmethod
    def _per_seed(ctx: RunContext):
        """One row per (seed, optimiser) from the saved ``final_*_s*.npz`` and the timings."""
        import pandas as pd

        from mflab.runs.io import read_arrays

        rows = []
        for seed in range(ctx.config.n_seeds):
            for s in OPTIMIZERS:
                if s.id not in ctx.config.optimizers:
                    continue
                if not (ctx.dir / "arrays" / f"final_{s.id}_s{seed}.npz").exists():
                    continue  # skipped, or every agent diverged (recorded in meta.json)
                a = read_arrays(ctx.dir, f"final_{s.id}_s{seed}")
                fr = basin_fractions(a["stationary"])
                finite = a["value"][a["diverged_at"] < 0]
                rows.append({"seed": seed, "id": s.id, "method": s.label,
                             **{f"basin {b}": fr[b] for b in OUTCOMES},
                             "median final V": lower_median(finite),
                             "grads/step": int(a["grads_per_step"]), "steps": int(a["steps"]),
                             "grad evals/agent": int(a["grad_evals"]),
                             "wall time (s)": ctx.timing(f"{s.id} seed {seed}")})
        columns = ["seed", "id", "method", *(f"basin {b}" for b in OUTCOMES), "median final V",
                   "grads/step", "steps", "grad evals/agent", "wall time (s)"]
        return pd.DataFrame(rows, columns=columns)

    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.mueller_brown import plot_all
        from mflab.runs.io import read_table

        # the paired tests are derived from the per-seed table: remade with the figures
        path = Path(run_dir) / "tables" / "paired.csv"
        paired_table(read_table(run_dir, "basins_per_seed")).to_csv(f"{path}.tmp", index=False)
        os.replace(f"{path}.tmp", path)
        return plot_all(Path(run_dir), {s.id: s.label for s in OPTIMIZERS})

    captions = {
        "trajectories": "Sample trajectories on the contours of V (seed 0), one panel per "
                        "method: open circle = start, filled circle = end; stars and "
                        "crosses mark the minima A (global), B, C and the two saddles.",
        "final_values": "Histogram of the final value V over the agents (seed 0), one panel "
                        "per method; dashed vertical lines: the values of the minima A, B, C "
                        "in their basin colours.",
        "basins": "Share of the ensemble whose final point descends into basin A (global), "
                  "B or C, or elsewhere, per method: stacked bars = median share over seeds "
                  "per basin; error bar on A: its min–max over seeds.",
        "convergence": "Median V over the agents against gradient evaluations per agent "
                       "(log-spaced records; lower median over seeds), one colour per "
                       "method; dashed and dotted patterns let curves that coincide (B3 on "
                       "B1, B4 on B2) show both; dotted horizontal lines: the minima A, B, C.",
    }

    def headline(self, run_dir: Path) -> list[Headline]:
        """The share of agents ending in the global minimum's basin: the best method, B10
        against the best other, and GD; the report's claim (§3.2.4) is that MF-Hom-SGLD
        (B10) substantially outperforms all other methods."""
        from mflab.runs.io import read_table

        t, per = read_table(run_dir, "basins"), read_table(run_dir, "basins_per_seed")
        if not len(t):
            return []
        n = int(t["seeds"].max())

        def row(i):
            r = t[t["id"] == i].iloc[0]
            return (f"{r['basin A']:.3f}", f"[{r['basin A min']:.3f}, {r['basin A max']:.3f}] "
                    f"min–max over {int(r['seeds'])} seeds", f"{i} {r['method']}")

        best = t.loc[t["basin A"].idxmax(), "id"]
        rows = [Headline(f"share in the global basin A, best method ({row(best)[2]})",
                         *row(best)[:2])]
        if "B1" in set(t["id"]):
            rows.append(Headline("share in A, B1 GD", *row("B1")[:2]))
        if "B10" in set(t["id"]):
            verdict = claim_verdict(paired_table(per), n)
            rows.append(Headline("share in A, B10 MF-Hom-SGLD (report: substantially "
                                 "outperforms all others)", *row("B10")[:2], verdict))
        return rows

    def summarize(self, run_dir: Path) -> str:
        import pandas as pd

        from mflab.runs.io import read_config, read_meta, read_table

        run_dir = Path(run_dir)
        cfg, meta = read_config(run_dir), read_meta(run_dir)
        t = read_table(run_dir, "basins")

        def spread(col, fmt):
            return [f"{fmt(m)} [{fmt(lo)}, {fmt(hi)}]"
                    for m, lo, hi in zip(t[col], t[f"{col} min"], t[f"{col} max"], strict=True)]

        frac = lambda f: f"{f:.3f}"  # noqa: E731
        fmt = pd.DataFrame({"id": t["id"], "method": t["method"], "seeds": t["seeds"]})
        if len(t):
            for b in OUTCOMES:
                fmt[f"basin {b}"] = spread(f"basin {b}", frac)
            fmt["median final V"] = spread("median final V", lambda f: f"{f:.2f}")
            for c in ("grads/step", "steps", "grad evals/agent"):
                fmt[c] = t[c].astype(int)
            fmt["wall time (s)"] = t["wall time (s)"].map(lambda f: f"{f:.1f}")
        cost = ("equal gradient cost: each method ran budget // grads_per_step steps"
                if cfg["equal_cost"] else "equal step count: each method ran `budget` steps")
        lines = [
            "# C6 — optimisers on the Müller–Brown potential", "",
            f"{cfg['n_agents']} uniform starts in [{cfg['box'][0]}, {cfg['box'][1]}] × "
            f"[{cfg['box'][2]}, {cfg['box'][3]}], the same for every method within a seed; "
            f"{cfg['n_seeds']} seeds (new starts and new noise each); full gradients; "
            f"learning rate η = {cfg['eta']:g} for GD-like methods; budget {cfg['budget']} "
            f"gradient evaluations per agent ({cost}); B10 with Curie–Weiss interaction "
            f"λ = {cfg['mfhom_lam']:g} (its pull λ(X − X̄) acts in the outer step, the inner "
            "Langevin chain is per agent). Each cell is the median over seeds [min, max] of the "
            "fraction of the ensemble (or of its median final V). Medians of final V are "
            "lower medians (of an even count, the lower middle value), so that they are "
            "energies an agent reached, never the midpoint between two basins.", "",
            "Basin of a run: plain GD (η = "
            f"{cfg['descent_eta']:g}) from its final point until |∇V| < {cfg['descent_tol']:g}, "
            "then matched to the tabulated stationary points (A global: V = −146.700, "
            "B: −108.167, C: −80.768); saddles and unconverged runs count as elsewhere; "
            "`diverged`: the run became NaN/inf. Wall time: median per seed of the "
            "optimiser's runs including JIT compilation, excluding the basin descent.", "",
            _markdown_table(fmt) if len(t) else
            "No method finished: every one diverged or was skipped (see below and meta.json).",
            "",
            "Figures (seed 0): `figures/trajectories.png` (sample trajectories on the "
            "contours), `figures/final_values.png` (histograms of final V); over seeds: "
            "`figures/basins.png` (median basin fractions with their range), "
            "`figures/convergence.png` (median V vs gradient evaluations). Tables: "
            "`tables/basins.csv` (median, min, max), `tables/basins_per_seed.csv`; all "
            "records: `metrics.parquet`.",
        ]
        lines += _tuning_lines(run_dir, cfg) + _paired_lines(run_dir, int(cfg["n_seeds"]))
        skipped = [w for w in meta.get("warnings", []) if w.startswith("skipped")]
        if skipped:
            lines += ["", "Not run (optimiser not available yet or refused its arguments):"]
            lines += [f"- {w[len('skipped '):]}" for w in skipped]
        return "\n".join(lines) + "\n"


def _tuning_lines(run_dir: Path, cfg: dict) -> list[str]:
    """The summary's tuning section: every tuned method's choice, its grid and flags."""
    from mflab.runs.io import read_table

    if not (run_dir / "tables" / "tuning.csv").exists() or not cfg.get("tuning_seeds"):
        return ["", "Not tuned: every method at the config's values (β = "
                f"{cfg['beta']:g}, B11 β = {cfg['gibbs_beta']:g}, B7 h = "
                f"{cfg.get('smoothing_h', 0.03):g})."]
    tu = read_table(run_dir, "tuning")
    rows = []
    for (i, name), g in tu.groupby(["id", "parameter"], sort=False):
        g = g.sort_values("value")
        pick = g[g["chosen"]].iloc[0]
        grid = ", ".join(f"{v:g}" + ("*" if c else "") for v, c in zip(g["value"], g["chosen"],
                                                                     strict=True))
        flag = pick["flags"] if isinstance(pick["flags"], str) and pick["flags"] else "bracketed"
        rows.append({"id": i, "parameter": name, "chosen": f"{pick['value']:g}",
                     "share outside A (median)": f"{pick['score']:.3f}",
                     "scored values (* chosen)": grid, "edge": flag})
    import pandas as pd

    return ["", "## Tuning", "",
            f"Each method's tuned parameter was chosen by the median share of the ensemble "
            f"outside basin A (inf on a seed where any agent diverged) over "
            f"{cfg['tuning_seeds']} tuning seeds (their own starts and "
            "noise, disjoint from the comparison seeds), on a log grid extended by a decade "
            f"(up to {cfg['max_extensions']} times per side) while the choice sat at an edge "
            "(`edge`: the side where it still sits; `bracketed`: an interior choice). "
            "GD-like methods keep SPEC's η; B8/B10's γ, Δ and inner chain and B9's ε are "
            "their documented defaults. Table `tables/tuning.csv`.", "",
            _markdown_table(pd.DataFrame(rows))]


def _paired_lines(run_dir: Path, n_seeds: int) -> list[str]:
    """The summary's paired tests: share in A against GD and SGLD, and B10 against all."""
    from mflab.runs.io import read_table

    if not (run_dir / "tables" / "paired.csv").exists():
        return []
    pt = read_table(run_dir, "paired")
    if not len(pt):
        return []
    fmt = pt.assign(**{"median diff A": pt["median diff A"].map(lambda f: f"{f:+.3f}"),
                       "p": pt["p"].map(lambda f: f"{f:.3g}")})
    return ["", "## Paired tests", "",
            "Share in basin A, method against the other seed by seed (the methods share "
            "each seed's starts): median difference over the seeds and the two-sided "
            f"Wilcoxon signed-rank p (with {n_seeds} seeds the smallest possible p is "
            f"{2.0 / 2 ** n_seeds:.3g}). Table `tables/paired.csv`.", "",
            _markdown_table(fmt), "",
            f"The report's claim (B10 substantially outperforms all others), at level "
            f"{ALPHA:g} per test: {claim_verdict(pt, n_seeds)}."]


def _markdown_table(df) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


STUDY = MuellerBrownStudy()
