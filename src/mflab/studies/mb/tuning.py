"""C6's tuning: each method's parameter that sets how far it looks beyond its start's basin
(:attr:`~mflab.studies.mb.methods.OptimizerSpec.tuned`) chosen by :class:`mflab.compare.Tuner`
on seeds of its own, every round's runs through the run's executor."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from mflab.runs.config import ConfigError
from mflab.studies.mb.basins import classify, descend
from mflab.studies.mb.comparison import noise_key, starts, study_landscape
from mflab.studies.mb.methods import OPTIMIZERS, TUNED_GRIDS, load_optimizer, steps_for


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

    import mflab

    c = job.config
    spec = next(s for s in OPTIMIZERS if s.id == job.method)
    with jax.enable_x64(job.x64):
        L = study_landscape()
        opt, why = load_optimizer(spec, replace(c, **dict(job.point)))
        if opt is None:
            raise ConfigError(f"tuning {why}")
        root = jax.random.fold_in(np.asarray(job.key_data, np.uint32), 1)  # tuning branch
        x0 = starts(c, root, job.t, job.x64)
        key = noise_key(root, job.t, spec.id)
        steps = steps_for(c, opt)
        tr = mflab.run(opt, L, x0, steps, key, record_every=steps, on_divergence="continue")
        ok = np.asarray(tr.diverged) < 0
        x = np.where(ok[:, None], np.asarray(tr.state.x), 0.0)
        xd, conv, _ = descend(L, x, eta=c.descent_eta, tol=c.descent_tol,
                              max_steps=c.descent_max_steps)
    in_a = ok & (classify(L, xd, conv, c.match_tol) == "A")
    score = 1.0 - np.mean(in_a) if ok.all() else np.inf
    return {"score": np.float64(score), "in_a": in_a, "diverged": np.int64(np.sum(~ok)),
            "x0": np.asarray(x0)}


def tune(config, ctx, specs) -> dict[str, dict[str, float]]:
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
