"""The protocol of study C5: equal budgets, the tuning rounds, the comparison jobs.

* **Equal budget.** A method costing g oracle calls a step (B8, B10: g = L inner steps) at
  batch m runs budget/(m·g) steps, so every replica draws exactly ``budget`` samples.
* **Tuning.** Per (problem, m, method): every point of the method's grid
  (:mod:`~mflab.studies.optnets.methods`) runs on the tuning seed (seed 0) with the same
  budget; its score is the final risk (A1–A3, exact) or final test risk (A4), mean over
  the replicas, +inf when the run diverged; the lowest score is chosen. Rounds 2 and 3
  take B5's temperature and B8's coupling from the rounds before.
* **Comparison.** The chosen point on seeds 1..S (and B6, B10 again with λ = 0).

Every job goes through the executor (serial or Dask); only the study process writes.
"""

from __future__ import annotations

import json
import math

from mflab.studies.optnets import methods as M
from mflab.studies.optnets.jobs import Job, record_steps
from mflab.studies.optnets.problems import PROBLEMS, setting_for
from mflab.studies.optnets.tables import choose, on_edge

NOISY = ("B5", "B6", "B8", "B10")


def n_steps(config, problem: str, m: int, method: str) -> int:
    """Steps that spend the budget exactly: budget / (m · g)."""
    return config.budget(problem, m) // (m * M.grads_per_step(method, config))


def cost(job: Job) -> float:
    """A rough relative cost, to start the longest jobs first (results do not depend on it)."""
    s, static = job.setting, dict(job.static)
    g = static.get("inner_steps", static.get("M", 1))
    per = (8.0 if job.method in NOISY else 1.0) * s.N * s.d / s.m ** 0.7
    return job.n_steps * g * s.m * job.replicas * per


def align(m: int, method: str) -> int:
    """Record steps are multiples of the fast path's block where it applies (B1, B2, B4
    at small batches), so the blocked kernel runs whole blocks."""
    from mflab.meanfield.kernels import BLOCK, MAX_FAST_BATCH

    return BLOCK if (m <= MAX_FAST_BATCH and method in ("B1", "B2", "B4")) else 1


def _key(problem: str, m: int, method: str) -> str:
    return f"{problem}|{m}|{method}"


def inherited(chosen: dict, problem: str, m: int) -> dict:
    """B5's temperature and ε and B8's coupling and ε at (problem, m), when tuned."""
    out = {}
    b5, b8 = chosen.get(_key(problem, m, "B5")), chosen.get(_key(problem, m, "B8"))
    if b5 is not None:
        out.update(tau=b5["point"]["tau"], eps_B5=b5["eps"])
    if b8 is not None:
        out.update(coupling=b8["point"]["coupling"], eps_B8=b8["eps"])
    return out


#: The method whose chosen ε centres a coupled method's ε grid (B6 is B5 plus the pull,
#: B10 is B8's scheme plus the pull).
CENTRE = {"B6": "B5", "B10": "B8"}


def method_eps_grid(config, problem: str, m: int, method: str, inh: dict) -> tuple:
    """The ε grid of one method: the family grid (:func:`methods.eps_grid`), for B6 and
    B10 narrowed to the ``coupled_eps_points`` values nearest the ε chosen for B5 / B8
    (their ensembles cost ``replicas`` times more)."""
    grid = M.eps_grid(config, PROBLEMS[problem].family, m, method)
    centre = inh.get(f"eps_{CENTRE.get(method, '')}")
    k = config.coupled_eps_points
    if centre is None or k == 0 or k >= len(grid):
        return grid
    i = min(range(len(grid)), key=lambda j: abs(math.log(grid[j] / centre)))
    lo = min(max(0, i - k // 2), len(grid) - k)
    return grid[lo:lo + k]


def tuning_jobs(config, problem: str, rnd: int, chosen: dict, root_seed: int,
                data_dir: str | None) -> list[tuple[dict, Job]]:
    """(grid row, job) for every grid point of the methods of round ``rnd``."""
    out = []
    for m in config.batch_sizes:
        setting = setting_for(config, problem, m, data_dir)
        inh = inherited(chosen, problem, m)
        for meth in config.methods:
            spec = M.METHODS[meth]
            if spec.round != rnd:
                continue
            steps = n_steps(config, problem, m, meth)
            rec = record_steps(steps, config.n_records, align(m, meth))
            for eps in method_eps_grid(config, problem, m, meth, inh):
                for sec in M.secondary_grid(meth, config):
                    values, point = M.hyper(meth, eps, sec, setting.N, config, inh)
                    row = {"problem": problem, "m": m, "method": meth, "round": rnd,
                           "eps_grid": eps, "secondary": spec.secondary or "",
                           "secondary_value": math.nan if sec is None else sec,
                           "point": point, "values": values}
                    job = Job(setting, meth, M.static_kwargs(meth, config),
                              tuple(sorted(values.items())), 0,
                              config.replicas if spec.coupled else 1, steps, rec, root_seed,
                              True)
                    out.append((row, job))
    return out


def record_tuning(rows: list[dict], results: list[dict], chosen: dict) -> list[dict]:
    """Attach scores to the grid rows, choose per (problem, m, method); returns the methods
    whose every grid point diverged as ``[(key, rows)]`` (and updates ``chosen``)."""
    groups: dict[str, list[dict]] = {}
    for row, res in zip(rows, results, strict=True):
        row.update(score=res["score"], diverged_step=res["diverged_step"],
                   samples=res["samples"], wall=res["wall"], chosen=False, edge=False)
        groups.setdefault(_key(row["problem"], row["m"], row["method"]), []).append(row)
    failed = []
    for key, grp in groups.items():
        best = choose(grp)
        if best is None:
            failed.append(key)
            continue
        best["chosen"] = True
        best["edge"] = on_edge(grp, best)
        chosen[key] = {"eps": best["eps_grid"], "sec": None if math.isnan(
            best["secondary_value"]) else best["secondary_value"], "point": best["point"],
            "values": best["values"], "score": best["score"], "edge": best["edge"]}
    return failed


def comparison_jobs(config, problem: str, chosen: dict, root_seed: int,
                    data_dir: str | None) -> list[tuple[str, int, str, int, Job]]:
    """(problem, m, variant, seed, job) for every chosen method, its λ = 0 variant (B6,
    B10) and every comparison seed."""
    out = []
    for m in config.batch_sizes:
        setting = setting_for(config, problem, m, data_dir)
        for meth in config.methods:
            c = chosen.get(_key(problem, m, meth))
            if c is None:
                continue
            spec = M.METHODS[meth]
            steps = n_steps(config, problem, m, meth)
            rec = record_steps(steps, config.n_records, align(m, meth))
            variants = [(meth, c["values"])]
            if spec.coupled:
                variants.append((f"{meth}-lam0", {**c["values"], "lam": 0.0}))
            for variant, values in variants:
                for seed in range(1, config.n_seeds + 1):
                    job = Job(setting, meth, M.static_kwargs(meth, config),
                              tuple(sorted(values.items())), seed,
                              config.replicas if spec.coupled else 1, steps, rec, root_seed,
                              False)
                    out.append((problem, m, variant, seed, job))
    return out


def jsonable_rows(rows: list[dict]) -> list[dict]:
    """Grid rows with their dicts as JSON strings (for a CSV table)."""
    return [{**r, "point": json.dumps(r["point"], sort_keys=True),
             "values": json.dumps(r["values"], sort_keys=True)} for r in rows]
