"""Study C5: the optimisers of Part B on the networks of Part A, at equal cost and fairly
tuned (SPEC C5; report §3.2.1–3.2.3, figs. 5, 8, 10, 11).

Problems (:mod:`~mflab.studies.optnets.problems`): A1, A2 from its bad (κ = 0.1) and good
(κ = 0.4) starts, A3 from the start that trains (κ = 4) and the one that stalls (κ = 0.8),
A4 (MNIST). Methods (:mod:`~mflab.studies.optnets.methods`): B1, B2, B3, B4, B10, B5, B6,
B8, in mean-field units, at batch sizes m = 1 and 100. Protocol
(:mod:`~mflab.studies.optnets.protocol`): equal budget in samples per replica; automatic
tuning on a tuning seed over stated grids; the comparison on fresh seeds, median and
interquartile band. Tuning runs and seeds are independent jobs sent through the run's
executor (``mflab run optimizers-networks --dask local:2``), identical to a serial run.

Files: ``tables/tuning.csv`` (every grid point, its score, the choice), ``tables/results.csv``
(final score, samples to target, share reaching it), ``arrays/curves_P_mM_METHOD.npz``
(every record of every seed), figures from those files alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mflab.errors import RunError
from mflab.runs.context import RunContext
from mflab.studies.base import Study
from mflab.studies.optnets import methods as M
from mflab.studies.optnets import protocol as P
from mflab.studies.optnets.config import OptimizersNetworksConfig
from mflab.studies.optnets.jobs import run_job
from mflab.studies.optnets.problems import PROBLEMS, score_name, target_for
from mflab.studies.optnets.tables import curve_name, read_curves


class OptimizersNetworksStudy(Study):
    name = "optimizers-networks"
    description = ("C5: Part B optimisers on the networks of A1–A4 (both starts of A2, A3) "
                   "at equal sample budget, tuned per method on a tuning seed; m = 1, 100.")
    Config = OptimizersNetworksConfig

    def preflight(self, config: OptimizersNetworksConfig) -> None:
        """MD5-check the MNIST files when A4 is among the problems."""
        if any(PROBLEMS[p].family == "a4" for p in config.problems):
            from mflab.mnist.files import MnistFileError, mnist_paths
            from mflab.studies.mnist_lln import resolve_data_dir

            try:
                mnist_paths(resolve_data_dir(config), progress=False)
            except MnistFileError as e:
                raise RunError(" ".join(str(e).split())) from None

    # ------------------------------------------------------------------------ run
    def run(self, config: OptimizersNetworksConfig, ctx: RunContext) -> None:
        from mflab.runs.executor import SerialExecutor
        from mflab.studies.mnist_lln import resolve_data_dir

        executor = getattr(ctx, "executor", None) or SerialExecutor()
        data_dir = None
        if any(PROBLEMS[p].family == "a4" for p in config.problems):
            data_dir = resolve_data_dir(config)
            ctx.note("mnist_data_dir", data_dir or "cache/download")
        ck = ctx.load_checkpoint()
        book = ck.extra if ck else {"done": [], "tuning": [], "chosen": {}}
        for problem in config.problems:
            if f"tune {problem}" not in book["done"]:
                t0 = time.perf_counter()
                for rnd in (1, 2, 3):
                    self._tune_round(config, ctx, executor, problem, rnd, book, data_dir)
                ctx.save_table("tuning", _frame(P.jsonable_rows(book["tuning"])))
                ctx.record_timing(f"{problem}: tuning", time.perf_counter() - t0)
                book["done"].append(f"tune {problem}")
                ctx.save_checkpoint(progress=len(book["done"]), extra=book)
            if f"compare {problem}" not in book["done"]:
                t0 = time.perf_counter()
                self._compare(config, ctx, executor, problem, book["chosen"], data_dir)
                ctx.record_timing(f"{problem}: comparison", time.perf_counter() - t0)
                book["done"].append(f"compare {problem}")
                ctx.save_checkpoint(progress=len(book["done"]), extra=book)
        ctx.save_table("results", _frame(self._results(ctx.dir, config)))

    @staticmethod
    def _map(executor, jobs):
        """Run jobs (longest first), results in the given order; a lost job fails the run."""
        order = sorted(range(len(jobs)), key=lambda i: -P.cost(jobs[i]))
        res = executor.map(run_job, [jobs[i] for i in order])
        out = [None] * len(jobs)
        for i, r in zip(order, res, strict=True):
            if isinstance(r, BaseException):
                raise RunError(f"a job was lost ({type(r).__name__}: {r}); `mflab resume` "
                               "continues from the last finished phase.") from r
            out[i] = r
        return out

    def _tune_round(self, config, ctx, executor, problem, rnd, book, data_dir) -> None:
        pairs = P.tuning_jobs(config, problem, rnd, book["chosen"], ctx.seed, data_dir)
        if not pairs:
            return
        if ctx.progress:
            print(f"C5 {problem}: tuning round {rnd}, {len(pairs)} runs", flush=True)
        rows = [r for r, _ in pairs]
        failed = P.record_tuning(rows, self._map(executor, [j for _, j in pairs]),
                                 book["chosen"])
        book["tuning"].extend(rows)
        for key in failed:
            problem_, m, meth = key.split("|")
            ctx.diverged(f"{M.label(meth)} on {problem_}, m = {m}",
                         "every point of its tuning grid diverged; it has no result")

    def _compare(self, config, ctx, executor, problem, chosen, data_dir) -> None:
        items = P.comparison_jobs(config, problem, chosen, ctx.seed, data_dir)
        if ctx.progress:
            print(f"C5 {problem}: comparison, {len(items)} runs", flush=True)
        results = self._map(executor, [it[-1] for it in items])
        groups: dict[tuple, list] = {}
        for (p, m, variant, seed, _), res in zip(items, results, strict=True):
            groups.setdefault((p, m, variant), []).append((seed, res))
        score = score_name(problem)
        for (p, m, variant), runs in groups.items():
            runs.sort(key=lambda sr: sr[0])
            arrays = {k: np.stack([r[k] for _, r in runs]) for k in runs[0][1]}
            arrays["seeds"] = np.array([s for s, _ in runs])
            ctx.save_arrays(curve_name(p, m, variant), **arrays)
            self._log(ctx, p, m, variant, arrays, score)
            if np.all(arrays["diverged"] >= 0):
                ctx.diverged(f"{M.label(variant)} on {p}, m = {m}",
                             "every comparison seed diverged at its tuned values",
                             step=int(arrays["diverged"].min()))

    @staticmethod
    def _log(ctx, problem, m, variant, a, score) -> None:
        names = [n for n in (score, "test_accuracy", "mean_norm") if n in a]
        ctx.log_metrics([
            {"optimizer": variant, "step": int(a["steps"][s, r]), "metric": n,
             "value": float(a[n][s, r, k]), "problem": problem, "m": int(m),
             "seed_index": int(a["seeds"][s]), "replica": k,
             "samples": int(a["samples"][s, r]), "wall": float(a["wall"][s, r])}
            for n in names for s in range(a[n].shape[0]) for r in range(a[n].shape[1])
            for k in range(a[n].shape[2])])

    @staticmethod
    def _results(run_dir: Path, config) -> list[dict]:
        from mflab.studies.optnets.tables import summary_rows

        rows = []
        for problem in config.problems:
            fam = PROBLEMS[problem].family
            tmetric = "test_accuracy" if fam == "a4" else "risk"
            for m in config.batch_sizes:
                curves = read_curves(run_dir, problem, m, config.methods)
                for row in summary_rows(curves, score_name(problem), target_for(config, problem),
                                        fam == "a4", tmetric):
                    rows.append({"problem": problem, "m": m, "target": target_for(config,
                                 problem), **row, "label": M.label(row["method"])})
        return rows

    # -------------------------------------------------------------- from files only
    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.optimizers_networks import plot_all

        return plot_all(Path(run_dir))

    def summarize(self, run_dir: Path) -> str:
        from mflab.studies.optnets.summary import summary_markdown

        return summary_markdown(Path(run_dir))


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows)

STUDY = OptimizersNetworksStudy()
