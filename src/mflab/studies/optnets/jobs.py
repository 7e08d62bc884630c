"""The jobs of study C5: one run of one method at one grid point on one seed.

A :class:`Job` is a complete, picklable description; :func:`run_job` (top level, so Dask
workers can run it) builds what it needs through per-process caches
(:func:`~mflab.studies.optnets.problems.build`,
:func:`~mflab.studies.optnets.methods.optimizer`) and returns small arrays. Its keys come
from the description alone — the root seed, the problem and the seed index — never from
the order in which jobs run, so a serial run and a Dask run give the same numbers.

* Seed s of a problem starts from the same θ0 for every method and batch size (its
  ``init`` key), and its oracle uses the same run key (common random numbers where the
  streams align). Seed 0 is the tuning seed; the comparison uses seeds 1..S.
* A coupled method (B6, B10) runs ``replicas`` copies of θ0 as the agents of one run (the
  replicas of SPEC A5); the others run one agent.
* Runs record a cheap observable and the positions at the record steps and are scored
  afterwards, so the costly exact risk is compiled once per setting, not into every
  optimiser's chunk; a tuning run and a comparison run of the same method then share one
  compiled chunk. A tuning run stops at the first non-finite record (score +inf) and is
  scored at its end; a comparison run is scored at every record. Before the first timed
  comparison run of a chunk not yet compiled in the process, a short warm-up run compiles
  it, so ``wall`` is compute time, not compilation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mflab.studies.optnets.methods import optimizer
from mflab.studies.optnets.problems import EPOCH_STRIDE, PROBLEM_IDS, Setting, build, score_name


@dataclass(frozen=True)
class Job:
    """One run: ``method`` (a SPEC id) with tuned ``values`` (the optimiser's arguments) on
    ``setting``, seed index ``seed`` (0: tuning), ``replicas`` agents, ``n_steps`` steps,
    recorded at ``record_steps`` (run-relative; 0 and n_steps are always recorded)."""

    setting: Setting
    method: str
    static: tuple
    values: tuple
    seed: int
    replicas: int
    n_steps: int
    record_steps: tuple[int, ...]
    root_seed: int
    tuning: bool


def job_keys(root_seed: int, problem: str, seed: int):
    """(init key, run key) of seed ``seed`` of ``problem``: a function of these alone."""
    import jax

    k = jax.random.fold_in(jax.random.fold_in(jax.random.key(root_seed),
                                              PROBLEM_IDS.index(problem)), seed)
    return jax.random.fold_in(k, 0), jax.random.fold_in(k, 1)


_WARM: set = set()


def run_job(job: Job) -> dict[str, Any]:
    """Run one job (float64 for A1–A3, float32 for A4) and return its results.

    Tuning: ``{"score", "diverged_step", "samples", "wall"}`` (score: the mean over the
    replicas of the problem's score at the end, +inf if the run diverged). Comparison:
    ``steps``, ``samples``, ``wall`` ``(R,)`` and, per record and replica, the scores
    (``risk``, or ``test_risk`` and ``test_accuracy``) and ``mean_norm`` ``(R, A)``.
    """
    import jax

    with jax.enable_x64(True):
        return _run(job)


def _start(job: Job, built, opt):
    import jax.numpy as jnp

    init_key, run_key = job_keys(job.root_seed, job.setting.problem, job.seed)
    theta0 = built.init(init_key)
    x0 = jnp.broadcast_to(theta0, (job.replicas, *theta0.shape))
    state = opt.init(x0)
    offset = 0
    if job.setting.finite:  # seed s walks its own epochs of the one sampler
        offset = job.seed * EPOCH_STRIDE * built.batches_per_epoch
        state = state._replace(grad_evals=jnp.asarray(offset, state.grad_evals.dtype))
    return x0, state, run_key, offset


def _run(job: Job) -> dict[str, Any]:
    import time

    import mflab
    from mflab.errors import DivergenceError

    built = build(job.setting)
    opt = optimizer(job.method, job.static, job.values)
    x0, state, run_key, offset = _start(job, built, opt)
    m = job.setting.m
    sig = _signature(job, built, opt)
    if not job.tuning and sig not in _WARM:
        _warm_up(job, built, opt, x0, state, run_key, sig)
    t0 = time.perf_counter()
    try:
        tr = mflab.run(opt, built.landscape, x0, job.n_steps, run_key,
                       record_steps=job.record_steps, observables=built.observables,
                       state=state, record_positions=True,
                       on_divergence="raise" if job.tuning else "continue")
    except DivergenceError as e:  # tuning only: the first non-finite record ends the run
        _WARM.add(sig)
        return {"score": math.inf, "diverged_step": int(e.step), "samples": -1,
                "wall": time.perf_counter() - t0}
    _WARM.add(sig)
    if job.tuning:
        name = score_name(job.setting.problem)
        scores = [built.evaluate(x)[name] for x in np.asarray(tr.state.x)]
        return {"score": float(np.mean(scores)), "diverged_step": -1,
                "samples": int((int(tr.grad_evals[-1]) - offset) * m),
                "wall": time.perf_counter() - t0}
    xs = np.asarray(tr.records["x"])
    evals = [[built.evaluate(xs[r, a]) for a in range(xs.shape[1])] for r in range(xs.shape[0])]
    out = {"steps": np.asarray(tr.steps, np.int64),
           "samples": (np.asarray(tr.grad_evals, np.int64) - offset) * m,
           "wall": np.asarray(tr.wall, np.float64),
           "mean_norm": np.asarray(tr.records["mean_norm"], np.float64),
           "diverged": np.asarray(tr.diverged, np.int64)}
    for name in evals[0][0]:
        out[name] = np.array([[e[name] for e in row] for row in evals], np.float64)
    return out


def _signature(job: Job, built, opt) -> tuple:
    """What selects the compiled chunk of a job's run: setting, method, agents, the number
    of records and the fast path's block (the largest divisor ≤ BLOCK of the record gaps)."""
    from mflab.meanfield.kernels import BLOCK

    grid = np.unique(np.concatenate([[0], job.record_steps, [job.n_steps]]))
    block = 1
    fp = built.landscape.fast_path
    if fp is not None and fp(opt) is not None:
        g = int(np.gcd.reduce(np.diff(grid)))
        block = max(b for b in range(1, BLOCK + 1) if g % b == 0)
    return (job.setting, job.method, job.static, job.replicas, grid.size, block)


def _warm_up(job: Job, built, opt, x0, state, run_key, sig: tuple) -> None:
    """Compile the chunk of this job's timed run with a short run of the same signature
    (agents, number of records, block), so that ``wall`` is compute, not compilation."""
    import mflab

    n_grid, block = sig[-2], sig[-1]
    mflab.run(opt, built.landscape, x0, block * (n_grid - 1), run_key,
              record_steps=block * np.arange(1, n_grid - 1), observables=built.observables,
              state=state, record_positions=True, on_divergence="continue")
    _WARM.add(sig)


def record_steps(n_steps: int, n_records: int, align: int = 1) -> tuple[int, ...]:
    """About ``n_records − 1`` steps log-spaced from n_steps/100 to n_steps (and 0), rounded
    to multiples of ``align`` where the run is long enough (the fast path's block)."""
    if n_steps < align * n_records:
        align = 1
    lo = max(align, int(round(n_steps / 100 / align)) * align)
    pts = np.geomspace(lo, n_steps, max(n_records - 1, 1))
    steps = np.unique(np.minimum(np.round(pts / align) * align, n_steps).astype(np.int64))
    return tuple(int(s) for s in steps if 0 < s < n_steps)
