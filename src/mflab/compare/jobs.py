"""One run of a comparison: a method at one point, on one problem, batch and seed.

A :class:`Job` is a complete, picklable description; :func:`run_job` (module level, so an
executor's workers can run it) builds the landscape once per process and problem/batch,
runs :func:`mflab.run` and scores the records on the job's split. Keys come from the
description alone (root seed, problem name, seed index), never from the order of jobs:

* seed s starts every method from the same point (its ``init`` key) and gives agent i of
  every method the same oracle stream (its run key; agent keys fold in i): the methods'
  results are paired seed by seed;
* tuning seeds and comparison seeds are disjoint ranges of the same index.

A timed comparison run is preceded, once per compiled chunk and process, by a short
warm-up of the same shape, so ``wall`` is compute and not compilation.
"""

from __future__ import annotations

import hashlib
import math
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Job:
    """Run ``method`` at ``point`` on ``problem`` at batch ``m`` (``None``: exact
    gradients) on seed index ``seed`` with ``agents`` agents for ``n_steps`` steps,
    recorded at ``records`` and scored on ``split`` (``"validation"``: only the final
    point is scored)."""

    problem: Any
    method: Any
    point: tuple[tuple[str, float], ...]
    m: int | None
    seed: int
    agents: int
    n_steps: int
    records: tuple[int, ...]
    split: str
    root_seed: int

    @property
    def tuning(self) -> bool:
        return self.split == "validation"

    def key(self) -> str:
        """A stable file-name key of this job (for a store of finished jobs)."""
        text = repr((self.problem.name, self.method.name, self.method.replicas, self.point,
                     self.m, self.seed, self.agents, self.n_steps, self.records, self.split,
                     self.root_seed))
        h = hashlib.sha1(text.encode()).hexdigest()[:16]
        return f"{self.split}-{_slug(self.problem.name)}-{_slug(self.method.name)}-s{self.seed}-{h}"


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s)[:40]


def job_keys(root_seed: int, problem_name: str, seed: int):
    """(init key, run key) of seed index ``seed`` of a problem: a function of these alone
    (the problem enters through a CRC of its name)."""
    import jax

    k = jax.random.fold_in(jax.random.key(root_seed), zlib.crc32(problem_name.encode()) >> 1)
    k = jax.random.fold_in(k, seed)
    return jax.random.fold_in(k, 0), jax.random.fold_in(k, 1)


_LANDSCAPES: dict = {}
_WARM: set = set()


def landscape_of(problem, m):
    """``problem.landscape(m)``, built once per process."""
    k = (problem, m)
    if k not in _LANDSCAPES:
        _LANDSCAPES[k] = problem.landscape(m)
    return _LANDSCAPES[k]


def run_job(job: Job) -> dict[str, Any]:
    """Run one job (64-bit types enabled; the dtypes follow the problem's start).

    Tuning (``split == "validation"``): ``{"score", "diverged_step", "wall"}``: the
    ensemble's score (the mean over its agents of ``score_name`` at the end), +inf if the
    run diverged. Comparison: ``steps``, ``samples`` (the whole ensemble's, per record),
    ``wall`` and ``diverged`` ``(agents,)``, and per score name an ``(records, agents)``
    array.
    """
    import jax

    with jax.enable_x64(True):
        return _run(job)


def _run(job: Job) -> dict[str, Any]:
    import jax

    import mflab
    from mflab.errors import DivergenceError

    problem = job.problem
    land = landscape_of(problem, job.m)
    opt = job.method.build(dict(job.point), problem, job.m)
    init_key, run_key = job_keys(job.root_seed, problem.name, job.seed)
    x0 = problem.init(init_key, job.agents)
    obs = problem.observables()
    offset = problem.call_offset(job.seed, job.m) if hasattr(problem, "call_offset") else 0
    state = None
    if offset:  # this seed's own place in the data stream
        state = opt.init(x0)
        state = state._replace(grad_evals=jax.numpy.asarray(offset, state.grad_evals.dtype))
    if not job.tuning:
        sig = (problem, job.m, jax.tree_util.tree_structure(opt), job.agents,
               len(job.records), _block(land, opt, job))
        if sig not in _WARM:
            _warm_up(opt, land, x0, run_key, obs, sig[-2], sig[-1])
            _WARM.add(sig)
    t0 = time.perf_counter()
    try:
        tr = mflab.run(opt, land, x0, job.n_steps, run_key, record_steps=job.records,
                       observables=obs, record_positions=True, state=state,
                       on_divergence="raise" if job.tuning else "continue")
    except DivergenceError as e:  # tuning: a diverged point scores +inf
        return {"score": math.inf, "diverged_step": int(e.step if e.step is not None else -1),
                "wall": time.perf_counter() - t0}
    per_call = 1 if job.m is None else job.m
    if job.tuning:
        xs = _agents(tr.state.x, job.agents)
        scores = [problem.score(x, "validation")[problem.score_name] for x in xs]
        return {"score": float(np.mean(scores)), "diverged_step": -1,
                "wall": time.perf_counter() - t0}
    out = {"steps": np.asarray(tr.steps, np.int64),
           "samples": (np.asarray(tr.grad_evals, np.int64) - offset) * per_call * job.agents,
           "wall": np.asarray(tr.wall, np.float64),
           "diverged": np.asarray(tr.diverged, np.int64)}
    out.update(score_records(problem, [_agents(_record(tr.records["x"], r), job.agents)
                                       for r in range(len(tr.steps))]))
    for name, v in tr.records.items():
        if name != "x":
            out[f"obs_{name}"] = np.asarray(v, np.float64)
    return out


#: A record is screened out when its estimate is more than Z_SCREEN standard errors on the
#: far side of the target (one-sided normal tail 3e-5: the chance that the exact score of
#: such a record meets the target).
Z_SCREEN = 4.0


def score_records(problem, records: list[list]) -> dict[str, np.ndarray]:
    """Score a comparison run's records (``records[r][a]``: agent a's parameters at record
    r) on the test split: ``{name: (records, agents)}``.

    Without :meth:`~mflab.compare.Problem.estimate` (or without a target) every record is
    scored. With it every record gets the estimate (``{name}_estimate`` and
    ``{name}_estimate_se``, the unit's SE taken as its agents' mean SE, an upper bound
    under any correlation), and :meth:`~mflab.compare.Problem.score` runs, for every
    agent, only at

    * the last record (the final score),
    * each record, in order, whose unit estimate is within ``Z_SCREEN`` standard errors
      of the target or beyond it, until one whose exact unit score meets the target, and
      the record before that one (the crossing's bracket, :func:`~mflab.compare.stats.
      crossing`);

    elsewhere the score is NaN. The first crossing and the final score are thus those of
    scoring every record, except where a record screened out as clearly short of the
    target in fact meets it (probability ≤ 3e-5 per record for a normal estimate).
    """
    t = problem.target
    name = getattr(problem, "target_name", None) or problem.score_name
    ests = None if t is None else [[problem.estimate(x, "test") for x in row]
                                   for row in records]
    if ests is None or any(e is None or name not in e for row in ests for e in row):
        scored = {r: [problem.score(x, "test") for x in row] for r, row in enumerate(records)}
        return _stack(scored, len(records))
    est = np.array([[e[name] for e in row] for row in ests], np.float64)  # (R, agents, 2)
    unit, se = est[..., 0].mean(axis=1), est[..., 1].mean(axis=1)
    scored: dict[int, list] = {}

    def score(r: int) -> None:
        if r not in scored:
            scored[r] = [problem.score(x, "test") for x in records[r]]

    score(len(records) - 1)
    far = (unit + Z_SCREEN * se < t.value) if t.higher else (unit - Z_SCREEN * se > t.value)
    for r in range(len(records)):
        if far[r] and np.isfinite(unit[r]):
            continue
        score(r)
        if t.met(np.mean([s[name] for s in scored[r]])):
            if r > 0:
                score(r - 1)
            break
    out = _stack(scored, len(records))
    out[f"{name}_estimate"], out[f"{name}_estimate_se"] = est[..., 0], est[..., 1]
    return out


def _stack(scored: dict[int, list], n: int) -> dict[str, np.ndarray]:
    """{record: [agent's scores]} → {name: (records, agents)}, NaN at unscored records."""
    first = next(iter(scored.values()))
    out = {}
    for name in first[0]:
        a = np.full((n, len(first)), np.nan)
        for r, row in scored.items():
            a[r] = [s[name] for s in row]
        out[name] = a
    return out


def _record(x, r: int):
    import jax

    return jax.tree_util.tree_map(lambda a: np.asarray(a[r]), x)


def _agents(x, n: int) -> list:
    """The agents of an ensemble pytree, one by one."""
    import jax

    return [jax.tree_util.tree_map(lambda a, i=i: np.asarray(a[i]), x) for i in range(n)]


def _block(land, opt, job: Job) -> int:
    """The fast path's block the driver will choose for this job's records (it selects the
    compiled chunk; 0: plain steps)."""
    from mflab.driver import _choose_block

    fp = land.fast_path(opt) if getattr(land, "fast_path", None) else None
    if fp is None:
        return 0
    grid = np.unique(np.concatenate([[0], job.records, [job.n_steps]]))
    return _choose_block(fp, np.diff(grid))


def _warm_up(opt, land, x0, run_key, obs, n_grid: int, block: int) -> None:
    """Compile the timed run's chunk with a short run of the same shape: as many records
    (the chunk's length follows their number) and the same block."""
    import mflab

    b = max(block, 1)  # gaps of one block: the driver picks that block again
    mflab.run(opt, land, x0, b * (n_grid + 1), run_key,
              record_steps=b * np.arange(1, n_grid + 1), observables=obs,
              record_positions=True, on_divergence="continue")
