"""C6's comparison runs as self-contained jobs: one method on one comparison seed's ensemble,
from its starts to the basin its final points descend to. Each job runs alike wherever it
lands (this process, a process pool, a Dask worker) and returns NumPy arrays only; the
study stores each as it ends (``arrays/final_<id>_s<seed>``), so a cut run keeps its
finished jobs and a resumed one skips them."""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any, NamedTuple

import numpy as np

from mflab.studies.mb.basins import classify, descend
from mflab.studies.mb.methods import ALL_IDS, OPTIMIZERS, load_optimizer, steps_for

#: The quantiles of V over the (finite) agents recorded at each record, as metrics.
RECORD_STATS = ("median_value", "mean_value", "min_value", "q10_value", "q90_value")


@functools.cache
def study_landscape():
    """The Müller–Brown landscape, one object per process: the engine caches compiled
    chunks on the landscape's identity, so every job of a worker shares them."""
    from mflab.landscapes import mueller_brown

    return mueller_brown()


def starts(config, root, seed: int, x64: bool):
    """Seed ``seed``'s ``n_agents`` uniform starts in the box, from the branch key ``root``
    (the run's key for the comparison, its tuning branch for tuning): the same for every
    method of the seed."""
    import jax
    import jax.numpy as jnp

    k_init = jax.random.split(root)[0]
    lo, hi = jnp.array([config.box[0], config.box[2]]), jnp.array([config.box[1], config.box[3]])
    return jax.random.uniform(jax.random.fold_in(k_init, seed), (config.n_agents, 2),
                              jnp.float64 if x64 else jnp.float32, lo, hi)


def noise_key(root, seed: int, method: str):
    """The noise stream of ``method`` on seed ``seed`` of the branch ``root``: its own per
    method (folded with the method's index in :data:`ALL_IDS`), apart from the starts."""
    import jax

    k_runs = jax.random.split(root)[1]
    return jax.random.fold_in(jax.random.fold_in(k_runs, seed), ALL_IDS.index(method))


class ComparisonJob(NamedTuple):
    """Method ``method`` on comparison seed ``seed``, with ``config`` holding its tuned
    values: the seed's starts (:func:`starts`), the method's own noise stream (the run's key
    folded with the seed and the method's index in :data:`ALL_IDS`), equal gradient cost."""

    config: Any
    method: str
    seed: int
    key_data: tuple[int, ...]
    x64: bool

    @property
    def name(self) -> str:
        """Its array file: ``final_B5_s3``."""
        return f"final_{self.method}_s{self.seed}"

    @property
    def diverged_name(self) -> str:
        """The array file marking a job where every agent diverged (its records only)."""
        return f"diverged_{self.method}_s{self.seed}"


def run_comparison_job(job: ComparisonJob) -> dict[str, Any]:
    """Run ``job``: ``budget // grads_per_step`` steps (``equal_cost``) with ``n_records``
    log-spaced records in ``n_chunks`` engine calls (memory: one chunk's positions), then
    plain GD from every finite final point to its stationary point (:func:`descend`).

    Returns the arrays of ``final_<id>_s<seed>``: final points ``x`` and values, the descended
    points and their stationary point's name (``"div"``: the agent became non-finite, at
    step ``diverged_at``), the sample trajectories, the cost counters, and the records
    ``rec_*`` (steps, gradient evaluations and :data:`RECORD_STATS` over the finite agents);
    plus ``seconds`` and ``descent_seconds`` (popped by the study: timings, not results).
    When every agent diverged the descent is skipped and ``all_diverged_at`` is set."""
    import jax

    import mflab
    from mflab.driver import record_grid

    c = job.config
    spec = next(s for s in OPTIMIZERS if s.id == job.method)
    with jax.enable_x64(job.x64):
        L = study_landscape()
        opt, why = load_optimizer(spec, c)
        if opt is None:
            raise ValueError(why)
        root = np.asarray(job.key_data, np.uint32)
        x0 = starts(c, root, job.seed, job.x64)
        key = noise_key(root, job.seed, spec.id)
        sample = np.linspace(0, c.n_agents - 1, c.n_trajectories).astype(int)
        steps = steps_for(c, opt)
        # records log-spaced in steps (0, then geometric up to the last step), so that the
        # early descent — on a log cost axis, most of the figure — is resolved
        grid = record_grid(steps, c.n_records + 1, log=True)
        per_chunk = -(-(len(grid) - 1) // c.n_chunks)
        state, k, elapsed = opt.init(x0), 0, 0.0
        traj, tsteps = [np.asarray(x0)[sample][None]], [np.array([0])]
        stats, rsteps, rge = [_record_stats(np.asarray(jax.vmap(L.value)(x0))[None])], [0], [0]
        diverged = np.full(c.n_agents, -1)
        while k < steps:
            i0 = int(np.searchsorted(grid, k))
            i1 = min(i0 + per_chunk, len(grid) - 1)
            n = int(grid[i1]) - k
            t0 = time.perf_counter()
            tr = mflab.run(opt, L, state.x, n, key, record_steps=grid[i0 + 1:i1 + 1] - k,
                           state=state, start_step=k, record_positions=True, progress=False,
                           on_divergence="continue")
            elapsed += time.perf_counter() - t0
            state, k = tr.state, k + n
            new = (diverged < 0) & (tr.diverged >= 0)
            diverged[new] = tr.diverged[new]
            traj.append(tr.positions[1:][:, sample])
            tsteps.append(tr.steps[1:])
            stats.append(_record_stats(np.asarray(tr.values[1:])))
            rsteps += list(tr.steps[1:])
            rge += list(tr.grad_evals[1:])
            if (diverged >= 0).all():
                break
        out = {"rec_step": np.asarray(rsteps, np.int64), "rec_grad_evals":
               np.asarray(rge, np.int64), **{k: np.concatenate([st[k] for st in stats])
                                              for k in stats[0]},
               "seconds": np.float64(elapsed)}
        if (diverged >= 0).all():
            return {**out, "all_diverged_at": np.int64(diverged.min())}
        x = np.asarray(state.x)
        ok = diverged < 0
        t0 = time.perf_counter()
        xd, conv, n_desc = descend(L, np.where(ok[:, None], x, 0.0), eta=c.descent_eta,
                                   tol=c.descent_tol, max_steps=c.descent_max_steps)
        names = np.where(ok, classify(L, xd, conv, c.match_tol), "div")
        return {**out, "x": x, "value": np.asarray(jax.vmap(L.value)(state.x)),
                "descended": xd, "converged": conv, "stationary": names.astype("U4"),
                "diverged_at": diverged, "traj": np.concatenate(traj),
                "traj_steps": np.concatenate(tsteps), "steps": steps,
                "grads_per_step": opt.grads_per_step,
                "grad_evals": int(np.asarray(state.grad_evals)), "descent_steps": n_desc,
                "descent_seconds": np.float64(time.perf_counter() - t0)}


def _record_stats(v: np.ndarray) -> dict[str, np.ndarray]:
    """Quantiles of V over the finite agents at each record (``v``: (R, A))."""
    with warnings.catch_warnings():  # a record where every agent diverged gives NaN
        warnings.simplefilter("ignore", RuntimeWarning)  # (reported once, by the study)
        return {"rec_median_value": np.nanquantile(v, 0.5, 1, method="lower"),
                "rec_mean_value": np.nanmean(v, 1), "rec_min_value": np.nanmin(v, 1),
                "rec_q10_value": np.nanquantile(v, 0.1, 1),
                "rec_q90_value": np.nanquantile(v, 0.9, 1)}
