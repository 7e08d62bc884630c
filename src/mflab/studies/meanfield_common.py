"""Shared machinery of the mean-field studies C1–C3: SGD on N units vs the DD, saved alike.

One *case* = one data model, unit type and initial law. :func:`simulate_case` runs

* online SGD — B1 with η_k = Nε on the network landscape, run by :func:`mflab.run` (exact
  blocked kernel as its fast path, :func:`sgd_trajectories`) — for ``n_seeds`` seeds (the
  agents of one run), recording the exact risk R_N(θ^k), mean |w| and the per-unit
  reduced coordinates at ``n_records`` log-spaced times t = kε (the transients are fast);
* the distributional dynamics (:func:`mflab.meanfield.dd.solve_dd`) up to the same
  t_max in ``DD_STAGES`` decades [t_max·10^(k−4), t_max·10^(k−3)], each on a uniform grid
  (about ``dd_records`` times in all), from a deterministic quantisation of the same
  initial law, with its own discretisation-error estimate (the whole solve again with
  dt/2, dt/4 and M/2, 2M; Richardson with the observed orders); SGD–DD gaps interpolate
  the DD to the SGD times,

and saves ``arrays/sgd_LABEL.npz`` and ``arrays/dd_LABEL.npz`` plus long-format metrics
(optimizer = "sgd" or "dd", step = record index, extra column ``case``). Each phase is
a checkpoint, so a killed run resumes at the next phase with identical results.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from mflab.runs.context import RunContext


def time_grid(n_steps: int, n_records: int, block: int) -> np.ndarray:
    """SGD record steps: 0 and about ``n_records − 1`` log-spaced multiples of ``block`` up
    to ``n_steps`` (duplicates after rounding removed)."""
    from mflab.driver import record_grid

    if n_steps % block:
        raise ValueError(f"n_steps ({n_steps}) must be a multiple of block ({block}).")
    return record_grid(n_steps, n_records, block, log=True)


DD_STAGES = 4


def dd_error_text(cfg: dict, particles: str = "M") -> str:
    """How a run's DD error was estimated (its config's ``dd_error``; runs before that key
    refined), for its summary; ``particles`` names the refined particle count."""
    m = particles
    if cfg.get("dd_error", "refine") == "coarsen":
        return (f"DD error: Richardson with the observed orders over coarser solves (2dt, dt, "
                f"dt/2 at {m}: the error of dt; {m}/4, {m}/2, {m} at dt: the error of {m}, "
                "the order credited at most 1) — the quick presets' cheaper estimate —, "
                "×1.25; an order far below 2 (dt) means the step is outside the asymptotic "
                "range.")
    return (f"DD error: Richardson with the observed orders (dt, dt/2, dt/4 at {m}; {m}/2, "
            f"{m}, 2{m} at dt), ×1.25; an order far below 2 (dt) means the step is outside "
            "the asymptotic range.")

#: Default bound on the time steps of one DD solve (t_max / dd_dt); the paper presets need
#: at most 10⁴. A config may raise it (``dd_max_steps``).
DD_MAX_STEPS = 1_000_000


def check_dd_steps(t_max: float, dd_dt: float, limit: int, what: str = "t_max") -> None:
    """Refuse a DD solve of more than ``limit`` time steps before anything runs: one compiled
    solve of 10⁸ steps runs for hours (issue 26: ε = 50 asked for t = 1.9·10⁷)."""
    from mflab.runs.config import ConfigError

    steps = t_max / dd_dt
    if steps > limit:
        raise ConfigError(f"the DD would take {steps:.3g} time steps ({what} = {t_max:g} / "
                          f"dd_dt = {dd_dt:g}), more than dd_max_steps = {limit}; lower the "
                          "time span or raise dd_dt, or --set dd_max_steps=N to allow it.")


def solve_dd_staged(system, x0, *, t_max: float, dt_max: float, n_records: int,
                    refine=None, substeps: float = 1, progress: bool = False,
                    error_sequence: str = "refine", executor=None):
    """:func:`~mflab.meanfield.dd.solve_dd` over ``DD_STAGES`` decades ending at ``t_max``
    (records dense where the dynamics is fast), with ξ ≡ 1. Each stage takes the largest
    dt ≤ ``dt_max`` dividing its record interval (an even number of steps for the
    "coarsen" estimate, so that 2dt divides it too), divided by ``substeps``. With
    ``refine`` (``M -> x0``) the result carries :func:`~mflab.meanfield.dd.estimate_error`
    of the staged solve, by ``error_sequence`` ("refine": dt/2, dt/4 and M/2, 2M;
    "coarsen": 2dt, dt/2 and M/4, M/2; Richardson with the observed orders).
    ``progress``: a bar per solve (each interruptible between its compiled calls);
    ``executor``: where the estimate's independent solves run (``ctx.executor``)."""
    from mflab.meanfield.dd import DDResult, estimate_error, solve_dd

    per = max(2, (n_records - 1) // DD_STAGES)
    ends = [t_max * 10.0 ** (k - DD_STAGES + 1) for k in range(DD_STAGES)]
    x, t0 = np.asarray(x0), 0.0
    parts = []
    for t1 in ends:
        seg = (t1 - t0) / per
        n = int(np.ceil(seg / dt_max - 1e-9))
        n += n % 2 if error_sequence == "coarsen" else 0
        dt = seg / (n * substeps)
        res = solve_dd(system, x, t_max=t1 - t0, dt=dt, n_records=per + 1, progress=progress)
        keep = slice(0 if not parts else 1, None)  # the start of a stage ends the previous one
        parts.append((t0 + res.times[keep], res.risk[keep], res.mean_norm[keep],
                      res.particles[keep]))
        x, t0 = res.particles[-1], t1
    out = DDResult(*(np.concatenate([p[i] for p in parts]) for i in range(4)))
    if refine is not None:
        bars = progress and executor is None  # (the closure must not hold the executor)
        estimate_error(out, lambda y, k: solve_dd_staged(
            system, y, t_max=t_max, dt_max=dt_max, n_records=n_records, substeps=substeps * k,
            progress=bars, error_sequence=error_sequence), refine,
            len(x0), 2, sequence=error_sequence, executor=executor)
    return out


@functools.lru_cache(maxsize=32)
def _b1_engine(units, data, N: int, batch: int, reduced: bool):
    """The network landscape and its observables, built once per (units, data, N, m): the
    compiled run keys on them (and on the optimiser's structure), so every seed, κ and ε of a
    study reuses one compilation."""
    from mflab.meanfield import network_landscape, network_observables

    land = network_landscape(units, data, N, batch_size=batch)
    return land, network_observables(units, data, land, reduced=reduced)


def sgd_trajectories(key, units, data, theta0, *, eps: float, record_steps, batch: int = 1,
                     progress: bool = False, reduced: bool = True) -> dict[str, np.ndarray]:
    """Online SGD (SPEC Part A) of S seeds — B1 with η_k = N ε on the network landscape, the
    seeds as the agents of one :func:`mflab.run` — recorded at ``record_steps``.

    Args:
      key: the run's key (seed s draws its data with the s-th split of each step's key).
      units, data: unit type and data model.
      theta0: initial particles ``(S, N, D)``.
      eps: ε; step k is time t = kε.
      record_steps: increasing steps (0 and the last are the run's ends).
      batch: mini-batch size m.
      progress: tqdm bar.
      reduced: also record the per-unit reduced coordinates.

    Returns arrays ``steps (R,)``, ``times (R,)``, ``risk (S, R)``, ``mean_norm (S, R)``
    and, with ``reduced``, ``reduced (S, R, N, k)``; ``wall`` (s).
    """
    import mflab
    from mflab.optimizers import sgd
    from mflab.schedules import meanfield_learning_rate

    theta0 = jnp.asarray(theta0)
    N = theta0.shape[1]
    land, obs = _b1_engine(units, data, N, batch, reduced)
    opt = sgd(float(meanfield_learning_rate(N, eps)(0)))  # η = Nε: constant, as ξ ≡ 1
    rec = np.asarray(record_steps)
    tr = mflab.run(opt, land, theta0, int(rec[-1]), key, record_steps=rec, observables=obs,
                   progress=progress)
    out = {"steps": tr.steps, "times": tr.steps * eps, "risk": tr.records["risk"].T,
           "mean_norm": tr.records["mean_norm"].T, "wall": tr.wall_time}
    if reduced:
        out["reduced"] = np.moveaxis(tr.records["reduced"], 1, 0)
    return out


def dd_gap(sgd_times, sgd_values, dd_times, dd_values) -> float:
    """max over SGD record times of |SGD − DD| (DD linearly interpolated, fine grid)."""
    return float(np.max(np.abs(sgd_values - np.interp(sgd_times, dd_times, dd_values))))


def simulate_case(ctx: RunContext, label: str, phase0: int, *, units, data, theta0_fn,
                  dd_system, dd_init: Callable[[int], np.ndarray], n_seeds: int, eps: float,
                  n_steps: int, n_records: int, batch: int, block: int, dd_M: int,
                  dd_dt: float, dd_refine: bool, dd_records: int = 201,
                  dd_error: str = "refine") -> int:
    """Run (or skip, when checkpointed) the SGD and DD phases of one case.

    Args:
      phase0: index of this case's first phase in the run's checkpoint counter.
      theta0_fn: ``key -> (N, D)`` initial particles of one seed.
      dd_system: a DD system (``RadialDD``, ``FullDD``, ...) for :func:`solve_dd`.
      dd_init: ``M -> initial DD particles``.
    Returns the next phase index.
    """
    ck = ctx.load_checkpoint()
    done = ck.progress if ck else 0
    steps = time_grid(n_steps, n_records, block)
    times = steps * eps
    if done <= phase0:
        keys = jax.random.split(jax.random.fold_in(ctx.key, phase0), n_seeds + 1)
        theta0 = np.stack([np.asarray(theta0_fn(k)) for k in keys[:n_seeds]])
        t0 = time.perf_counter()
        tr = sgd_trajectories(keys[n_seeds], units, data, theta0, eps=eps, record_steps=steps,
                              batch=batch, progress=ctx.progress)
        wall = time.perf_counter() - t0
        ctx.save_arrays(f"sgd_{label}", steps=tr["steps"], times=tr["times"], risk=tr["risk"],
                        mean_norm=tr["mean_norm"], reduced=tr["reduced"].astype(np.float32))
        ctx.record_timing(f"sgd {label}", wall)
        ctx.note(f"sgd {label} steps/s (all seeds)", float(n_seeds * steps[-1] / wall))
        ctx.log_metrics([{"optimizer": "sgd", "step": int(k), "metric": m, "value": float(v),
                          "case": label, "time": float(t)}
                         for m, arr in (("risk", tr["risk"]), ("mean_norm", tr["mean_norm"]))
                         for s in range(n_seeds)
                         for k, t, v in zip(tr["steps"], tr["times"], arr[s], strict=True)])
        ctx.save_checkpoint(progress=phase0 + 1)
    if done <= phase0 + 1:
        t0 = time.perf_counter()
        res = solve_dd_staged(dd_system, dd_init(dd_M), t_max=float(times[-1]), dt_max=dd_dt,
                              n_records=dd_records, refine=dd_init if dd_refine else None,
                              progress=ctx.progress, error_sequence=dd_error,
                              executor=ctx.executor)
        ctx.record_timing(f"dd {label}", time.perf_counter() - t0)
        ctx.save_arrays(f"dd_{label}", times=res.times, risk=res.risk, mean_norm=res.mean_norm,
                        particles=res.particles.astype(np.float32),
                        err_risk=np.float64(res.err_risk),
                        err_mean_norm=np.float64(res.err_mean_norm),
                        err_dt=np.float64(res.err_dt), err_M=np.float64(res.err_M),
                        order_dt=np.float64(res.order_dt), order_M=np.float64(res.order_M))
        ctx.log_metrics([{"optimizer": "dd", "step": int(round(t / eps)), "metric": m,
                          "value": float(v), "case": label, "time": float(t)}
                         for m, arr in (("risk", res.risk), ("mean_norm", res.mean_norm))
                         for t, v in zip(res.times, arr, strict=True)])
        ctx.save_checkpoint(progress=phase0 + 2)
    return phase0 + 2
