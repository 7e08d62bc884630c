"""The comparison harness: methods × problems × batch sizes under one protocol (SPEC C5).

:func:`compare` runs, for every problem and batch size m:

1. **Entries.** Each method at batch m; for every coupled method (R replicas) also the
   reference method (SGD) at batch R·m — the *control* that draws the same samples per
   step as the whole ensemble (a coupled method's gain over it is not a sample count).
2. **Budget per ensemble.** Every entry's ensemble draws the same total samples B
   (``Protocol.budget``): an entry with A agents (the problem's starts × the method's
   replicas), batch b and g oracle calls a step runs ⌊B / (A·b·g)⌋ steps.
3. **Tuning** on seeds 0 … T−1 (validation split) by :class:`~mflab.compare.tuning.Tuner`,
   which extends any grid whose best value is at an edge and flags what it could not
   bracket.
4. **Comparison** of the chosen points on seeds T … T+S−1 (test split), records geometric
   with ratio ≤ 1.2; and, as mechanism controls, the same runs (same steps and values)
   with the exact gradient where the problem has one.
5. **Statistics** over units (an ensemble is one unit), paired seed by seed against the
   reference at the same batch (Wilcoxon signed-rank), for coupled methods against
   their control, and for the ``Protocol.pairs`` one method against another.

Every run is a :class:`~mflab.compare.jobs.Job` mapped through the executor (serial, or
Dask: identical results); with a ``store`` folder finished jobs are saved as they come
back and skipped when the comparison is run again (resume).

Reference: SPEC C5 (revised 2026-12-04).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mflab.compare import stats
from mflab.compare.jobs import Job, landscape_of, run_job
from mflab.compare.spec import Method, Protocol, check_problem
from mflab.compare.tuning import Tuner
from mflab.errors import ProtocolError
from mflab.runs.executor import map_each


@dataclass(frozen=True)
class Entry:
    """One row of a comparison cell: ``method`` at batch ``batch``; ``control_of`` names
    the coupled method this entry is the batch-R·m control of (``""``: a method itself)."""

    name: str
    method: Method
    batch: int
    control_of: str = ""


def entries(methods, m: int, reference: str) -> list[Entry]:
    """The entries of a cell at batch ``m``: every method, and the reference at batch R·m
    for every coupled method (once per distinct R·m)."""
    by_name = {meth.name: meth for meth in methods}
    if reference not in by_name:
        raise ProtocolError(f"the reference method {reference!r} must be among the methods "
                            f"({', '.join(by_name)}).")
    out = [Entry(meth.name, meth, m) for meth in methods]
    for meth in methods:
        if meth.coupled:
            b = meth.replicas * m
            name = f"{reference}@m={b}"
            if not any(e.name == name for e in out):
                out.append(Entry(name, by_name[reference], b, control_of=meth.name))
    return out


def n_steps(budget: int, agents: int, batch: int, calls: int) -> int:
    """Steps that spend ``budget`` samples: ⌊budget / (agents · batch · calls)⌋."""
    return budget // (agents * batch * calls)


@dataclass
class Comparison:
    """What :func:`compare` returns (and a study saves): the tuning table, the chosen
    points, the curves and the summary table.

    * ``tuning``: one row per scored point (problem, m, entry, point, seed scores, score,
      round, chosen).
    * ``choices``: (problem, m, entry) → {"point", "flags"}.
    * ``curves``: (problem, m, entry, variant) → arrays with a leading seed axis
      (``variant``: ``"stochastic"`` or ``"exact"``): ``seeds``, ``steps``, ``samples``,
      ``wall``, ``diverged`` and each score ``(seeds, records, agents)``.
    * ``summary``: one row per (problem, m, entry, variant) (:func:`summary_rows`).
    """

    tuning: list[dict] = field(default_factory=list)
    choices: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    summary: list[dict] = field(default_factory=list)


def compare(problems, methods, batch_sizes, protocol: Protocol, *, executor=None,
            root_seed: int = 0, store: str | Path | None = None,
            progress: bool = False) -> Comparison:
    """Compare ``methods`` on ``problems`` at each batch size under ``protocol``.

    Args:
      problems: :class:`~mflab.compare.spec.Problem` objects (hashable).
      methods: :class:`~mflab.compare.spec.Method` objects; ``protocol.reference`` names
        the one every paired test compares against.
      batch_sizes: the batch sizes m of the cells.
      protocol: the numbers of the protocol.
      executor: anything with ``map(fn, items)`` (:mod:`mflab.runs.executor`); default:
        this process.
      root_seed: the seed of every key (with the problem's name and the seed index).
      store: a folder where each finished job is saved (and found again on a rerun).
      progress: print one line per phase.

    Returns a :class:`Comparison`. Raises :class:`ProtocolError` before running anything
    when a problem, method or budget breaks the protocol.
    """
    from mflab.runs.executor import SerialExecutor

    executor = executor or SerialExecutor()
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ProtocolError(f"method names must be distinct; got {names}.")
    for p in problems:
        check_problem(p)
    plan = _plan(problems, methods, batch_sizes, protocol)
    runner = _Runner(executor, store)
    out = Comparison()
    # --- tuning: every entry's rounds go through the executor together
    tuners = {c: Tuner(c.entry.method.grids, protocol.max_extensions) for c in plan}
    live = list(plan)
    rnd = 0
    while live:
        jobs, owners = [], []
        for c in live:
            for point in tuners[c].pending():
                for s in range(protocol.tuning_seeds):
                    jobs.append(c.job(point, s, "validation", root_seed))
                    owners.append((c, point))
        if progress:
            print(f"compare: tuning round {rnd + 1}, {len(jobs)} runs", flush=True)
        results = runner.map(jobs)
        got: dict = {}
        for (c, point), res in zip(owners, results, strict=True):
            got.setdefault((c, point), []).append(res["score"])
        for (c, point), scores in got.items():
            tuners[c].record(point, scores)
        live = [c for c in live if tuners[c].advance()]
        rnd += 1
    for c in plan:
        t = tuners[c]
        for row in t.table():
            out.tuning.append({**c.labels(), **row, "point": json.dumps(row["point"]),
                               "seed_scores": json.dumps(row["seed_scores"])})
        best = t.best()
        out.choices[c.cell_key()] = {"point": None if best is None else dict(best),
                                     "flags": t.flags()}
    # --- comparison and exact-gradient controls
    jobs, owners = [], []
    seeds = range(protocol.tuning_seeds, protocol.tuning_seeds + protocol.seeds)
    for c in plan:
        best = tuners[c].best()
        if best is None:
            continue
        variants = [("stochastic", c.entry.batch, seeds)]
        if (protocol.exact_controls and not c.entry.control_of
                and landscape_of(c.problem, None) is not None):
            variants.append(("exact", None, seeds[:protocol.exact_seeds]))
        for variant, m, variant_seeds in variants:
            for s in variant_seeds:
                jobs.append(c.job(best, s, "test", root_seed, m=m))
                owners.append((c, variant, s))
    if progress:
        print(f"compare: comparison, {len(jobs)} runs", flush=True)
    results = runner.map(jobs)
    grouped: dict = {}
    for (c, variant, s), res in zip(owners, results, strict=True):
        grouped.setdefault((c, variant), []).append((s, res))
    for (c, variant), runs in grouped.items():
        runs.sort(key=lambda sr: sr[0])
        arrays = {k: np.stack([r[k] for _, r in runs]) for k in runs[0][1]}
        arrays["seeds"] = np.array([s for s, _ in runs])
        out.curves[(*c.cell_key(), variant)] = arrays
    out.summary = summary_rows(plan, out, protocol)
    return out


@dataclass(frozen=True)
class _Cell:
    """One (problem, m, entry) of the plan with its steps and records."""

    problem: Any
    m: int
    entry: Entry
    agents: int
    steps: int
    records: tuple[int, ...]
    budget: int

    def cell_key(self) -> tuple:
        return (self.problem.name, self.m, self.entry.name)

    def labels(self) -> dict:
        return {"problem": self.problem.name, "m": self.m, "entry": self.entry.name,
                "method": self.entry.method.name, "batch": self.entry.batch,
                "control_of": self.entry.control_of}

    def job(self, point, seed: int, split: str, root_seed: int, m: Any = "same") -> Job:
        batch = self.entry.batch if m == "same" else m
        return Job(self.problem, self.entry.method, tuple(point), batch, seed, self.agents,
                   self.steps, () if split == "validation" else self.records, split,
                   root_seed)


def _plan(problems, methods, batch_sizes, protocol: Protocol) -> list[_Cell]:
    plan = []
    for p in problems:
        for m in batch_sizes:
            budget = protocol.budget_for(p, m)
            for e in entries(methods, m, protocol.reference):
                agents = getattr(p, "agents", 1) * e.method.replicas
                steps = n_steps(budget, agents, e.batch, e.method.calls_per_step)
                if steps < 1:
                    raise ProtocolError(
                        f"budget {budget} of {p.name} at m = {m} is less than one step of "
                        f"{e.name} ({agents} agents × batch {e.batch} × "
                        f"{e.method.calls_per_step} calls).")
                align = getattr(p, "record_align", 1)
                recs = stats.record_steps(steps, protocol.record_ratio,
                                          protocol.first_record, align)
                plan.append(_Cell(p, m, e, agents, steps, recs, budget))
    return plan


class _Runner:
    """Maps jobs through the executor, longest first, saving/reusing finished ones."""

    def __init__(self, executor, store):
        self.executor = executor
        self.store = None if store is None else Path(store)
        if self.store is not None:
            self.store.mkdir(parents=True, exist_ok=True)

    def map(self, jobs: list[Job]) -> list[dict]:
        out: list = [None] * len(jobs)
        todo = []
        for i, j in enumerate(jobs):
            got = self._load(j)
            if got is None:
                todo.append(i)
            else:
                out[i] = got
        todo.sort(key=lambda i: -_cost(jobs[i]))

        def keep(k: int, r) -> None:  # each job is stored as it ends (a cut run loses none)
            if not isinstance(r, BaseException):
                out[todo[k]] = r
                self._save(jobs[todo[k]], r)

        results = map_each(self.executor, run_job, [jobs[i] for i in todo], keep)
        for r in results:
            if isinstance(r, BaseException):
                from mflab.errors import RunError

                raise RunError(f"a comparison job was lost ({type(r).__name__}: {r}); run "
                               "again to continue from the jobs already stored.") from r
        return out

    def _path(self, job: Job) -> Path:
        return self.store / f"{job.key()}.npz"

    def _load(self, job: Job):
        if self.store is None or not self._path(job).exists():
            return None
        with np.load(self._path(job)) as z:
            d = {k: z[k] for k in z.files}
        return {k: (v.item() if v.ndim == 0 else v) for k, v in d.items()}

    def _save(self, job: Job, res: dict) -> None:
        if self.store is None:
            return
        fd, tmp = tempfile.mkstemp(dir=self.store, suffix=".tmp.npz")
        os.close(fd)
        np.savez(tmp, **{k: np.asarray(v) for k, v in res.items()})
        os.replace(tmp, self._path(job))


def _cost(job: Job) -> float:
    return float(job.n_steps) * job.agents * (job.m or 1) * job.method.calls_per_step


# ---------------------------------------------------------------------------- statistics
def summary_rows(plan, comp: Comparison, protocol: Protocol) -> list[dict]:
    """One row per (problem, m, entry, variant): units, final score (median, IQR), samples
    to target (median over units; +inf when fewer than half reach it; interpolated between
    records), the share of units reaching it, the share diverged, and paired tests — final
    score and samples to target against the reference at the same batch (columns
    ``p_final_vs_ref``, ``diff_final_vs_ref``, ``p_target_vs_ref`` and
    ``ratio_target_vs_ref``, the median paired ratio of samples to target), for a coupled method
    against its batch-R·m control (``…_vs_control``), and for every ``(a, b)`` of
    ``protocol.pairs`` method a's row against b (``…_vs_b``)."""
    rows = []
    finals, hits = {}, {}
    for c in plan:
        for variant in ("stochastic", "exact"):
            a = comp.curves.get((*c.cell_key(), variant))
            if a is None:
                continue
            p = c.problem
            u = stats.unit_scores(a[p.score_name])
            finals[(c.cell_key(), variant)] = u[:, -1]
            t = p.target
            if t is not None:
                tu = stats.unit_scores(a[p.target_name or p.score_name])
                h = np.array([stats.crossing(a["samples"][i], tu[i], t.value, t.higher)
                              for i in range(tu.shape[0])])
                hits[(c.cell_key(), variant)] = h
    for c in plan:
        for variant in ("stochastic", "exact"):
            key = (c.cell_key(), variant)
            if key not in finals:
                continue
            a = comp.curves[(*c.cell_key(), variant)]
            f = finals[key]
            med, lo, hi = stats.quantiles(f, [0.5, 0.25, 0.75])
            choice = comp.choices[c.cell_key()]
            row = {**c.labels(), "variant": variant, "units": int(f.size),
                   "agents": c.agents, "steps": c.steps, "budget": c.budget,
                   "samples": int(np.median(a["samples"][:, -1])),
                   "point": json.dumps(choice["point"]),
                   "flags": ",".join(choice["flags"]),
                   "final": float(med), "final_q25": float(lo), "final_q75": float(hi),
                   "wall": float(np.median(a["wall"][:, -1])),
                   "diverged": float(np.mean(np.any(a["diverged"] >= 0, axis=1)))}
            h = hits.get(key)
            if h is not None:
                row["samples_to_target"] = (float(np.median(h)) if np.mean(np.isfinite(h))
                                            >= 0.5 else math.inf)
                row["share_reaching"] = float(np.mean(np.isfinite(h)))
            ref = (c.problem.name, c.m, protocol.reference)
            row.update(_paired("ref", finals, hits, key, (ref, variant)))
            if c.entry.method.coupled:
                ctl = (c.problem.name, c.m, f"{protocol.reference}@m="
                       f"{c.entry.method.replicas * c.m}")
                row.update(_paired("control", finals, hits, key, (ctl, variant)))
            for a, b in protocol.pairs:
                if a == c.entry.name:
                    row.update(_paired(b, finals, hits, key, ((c.problem.name, c.m, b),
                                                              variant)))
            rows.append(row)
    return rows


def _median_ratio(x, y) -> float:
    """The median over pairs of x/y (samples to target; a miss is +inf, two misses a tie
    of ratio 1): +inf or 0 where misses make up the middle."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log10(x) - np.log10(y)
    d = np.where(np.isinf(x) & np.isinf(y), 0.0, d)
    d = d[~np.isnan(d)]
    return float(10.0 ** np.median(d)) if d.size else math.nan


def _paired(prefix: str, finals: dict, hits: dict, key, other) -> dict:
    """Paired tests of ``key`` against ``other`` (same seeds): final scores and log samples
    to target (unreached: +inf, ranked last)."""
    if other not in finals or other == key:
        return {}
    out = {}
    t = stats.paired_test(finals[key], finals[other])
    out[f"p_final_vs_{prefix}"] = t["p"]
    out[f"diff_final_vs_{prefix}"] = t["median_diff"]
    if key in hits and other in hits:
        with np.errstate(divide="ignore"):
            t = stats.paired_test(np.log10(hits[key]), np.log10(hits[other]))
        out[f"p_target_vs_{prefix}"] = t["p"]
        out[f"ratio_target_vs_{prefix}"] = _median_ratio(hits[key], hits[other])
    return out
