"""A toy study for the run-infrastructure tests: a random walk checkpointed at every step.

    x_{k+1} = x_k + ξ_k,   ξ_k ~ N(0, I_3) from fold_in(key(seed), k)

so a resumed run can be checked against a plain loop (:func:`walk`). Class switches
(set by the tests, not config fields) simulate a crash at a step, a method whose every
agent diverges (``ctx.diverged``), or a study stopped by a ``FloatingPointError``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from mflab.runs import StudyConfig, param
from mflab.runs.io import read_arrays, read_metrics
from mflab.studies import base, registry


class Crash(RuntimeError):
    pass


@dataclass(frozen=True)
class ToyConfig(StudyConfig):
    n_steps: int = param(6, ge=1)
    crash_at: int = param(-1, ge=-1)  # step at which run() raises (simulated crash), -1: never
    n_bytes: int = param(0, ge=0)  # the memory estimate (size-guard tests)
    step_seconds: float = param(0.0, ge=0)  # sleep per step: a run long enough to be killed

    PRESETS: ClassVar[dict] = {"paper": {}, "quick": {"n_steps": 6}}

    def memory_bytes(self) -> int:
        return self.n_bytes


class Toy(base.Study):
    """The walk above; logs x0 at every step under optimizer "walk"."""

    name = "toy"
    description = "toy random walk"
    Config = ToyConfig
    crash_at = -1  # class switches used by the tests (not part of the config)
    diverge_at = -1  # ctx.diverged("walk", ...) at this step, then the walk stops
    blow_up_at = -1  # raise FloatingPointError at this step
    repetition_column = False  # log the study's own repetition index as "seed" (always 0)

    def run(self, config, ctx):
        like = {"x": jnp.zeros(3), "key": jax.random.key(0)}
        ck = ctx.load_checkpoint(like=like)
        k, state = (ck.progress, ck.state) if ck else (0, {"x": jnp.zeros(3),
                                                         "key": jax.random.key(ctx.seed)})
        while k < config.n_steps:
            if k == Toy.crash_at:
                raise Crash(f"simulated crash at step {k}")
            if k == Toy.blow_up_at:
                raise FloatingPointError(f"walk became nan at step {k}")
            if k == Toy.diverge_at:
                ctx.diverged("walk", f"x became inf at step {k}", step=k)
                break
            time.sleep(config.step_seconds)
            xi = jax.random.normal(jax.random.fold_in(state["key"], k), (3,))
            state = {"x": state["x"] + xi, "key": state["key"]}
            k += 1
            row = {"optimizer": "walk", "step": k, "metric": "x0", "value": float(state["x"][0])}
            if Toy.repetition_column:  # as Müller–Brown does: its repetitions are seeds 0..
                row["seed"] = 0
            ctx.log_metrics(row)
            ctx.save_checkpoint(k, state=state)
        ctx.save_arrays("final", x=np.asarray(state["x"]))

    def plot(self, run_dir):
        import matplotlib.pyplot as plt

        m = read_metrics(run_dir)
        fig, ax = plt.subplots()
        ax.plot(m.step, m.value)
        path = Path(run_dir) / "figures" / "walk.png"
        fig.savefig(path)
        plt.close(fig)
        return [path]

    def summarize(self, run_dir):
        return f"# toy\n\nfinal x = {read_arrays(run_dir, 'final')['x'].tolist()}\n"


class ToyB(Toy):
    """The same walk under another name (members of a reproduction)."""

    name = "toy-b"
    description = "toy random walk, again"


class ToyC(Toy):
    """And a third."""

    name = "toy-c"
    description = "toy random walk, once more"


def toy_job(job: tuple[int, int, float]) -> float:
    """One independent job of :class:`ToyJobs`: x0 after ``n`` steps of walk ``seed``
    (sleeping ``seconds`` first, so that the jobs of a run overlap on a cluster)."""
    from mflab.runs.lifecycle import float64

    seed, n, seconds = job
    time.sleep(seconds)
    with float64():  # as the run computes (a worker's job runs outside the run's context)
        return float(walk(seed, n)[-1])


class ToyJobs(Toy):
    """A run made of independent jobs sent through ``ctx.executor`` (as C5's are): 8 walks of
    seeds 100·seed + j, their end points logged under optimizer "jobs"."""

    name = "toy-jobs"
    description = "toy walks as independent jobs"
    job_seconds = 0.25  # each job sleeps this long: on a cluster they overlap

    def run(self, config, ctx):
        from mflab.runs.executor import SerialExecutor

        executor = ctx.executor or SerialExecutor()
        jobs = [(100 * ctx.seed + j, config.n_steps, self.job_seconds) for j in range(8)]
        ends = executor.map(toy_job, jobs)
        for j, x in enumerate(ends):
            ctx.log_metrics({"optimizer": "jobs", "step": j, "metric": "x0", "value": x})
        ctx.save_arrays("final", x=np.asarray(ends))


TOY, TOY_B, TOY_C, TOY_JOBS = Toy(), ToyB(), ToyC(), ToyJobs()


ENTRIES = {name: registry.Entry(f"{__name__}:{attr}", cls.description)
           for name, attr, cls in (("toy", "TOY", Toy), ("toy-b", "TOY_B", ToyB),
                                   ("toy-c", "TOY_C", ToyC), ("toy-jobs", "TOY_JOBS", ToyJobs))}


def register(monkeypatch) -> None:
    """Register "toy", "toy-b", "toy-c" and "toy-jobs" for one test and reset the class switches."""
    for name, entry in ENTRIES.items():
        monkeypatch.setitem(registry.STUDIES, name, entry)
    for switch in ("crash_at", "diverge_at", "blow_up_at"):
        monkeypatch.setattr(Toy, switch, -1)
    monkeypatch.setattr(Toy, "repetition_column", False)


def walk(seed: int, n: int) -> np.ndarray:
    """The same walk by a plain loop (reference for resumed runs)."""
    key, x, out = jax.random.key(seed), jnp.zeros(3), []
    for k in range(n):
        x = x + jax.random.normal(jax.random.fold_in(key, k), (3,))
        out.append(float(x[0]))
    return np.array(out)


def register_globally() -> None:
    """Register the toys for this whole process (a subprocess or a Dask worker)."""
    registry.STUDIES.update(ENTRIES)


if __name__ == "__main__":  # `python tests/toy_study.py ARGS`: the mflab CLI, toys registered
    from mflab.cli import main

    register_globally()
    sys.exit(main(sys.argv[1:]))
