"""Study C5: the optimisers of Part B on the networks of Part A, at equal cost and fairly
tuned (SPEC C5, protocol revised 2026-12-04; report §3.2.1–3.2.3, figs. 5, 8, 10, 11).

Problems (:mod:`~mflab.studies.optnets.problems`): A1, A2 from its bad (κ = 0.1) and good
(κ = 0.4) starts, A3 from the start that trains (κ = 4) and the one that stalls (κ = 0.8),
A4 (MNIST). Methods (:mod:`~mflab.studies.optnets.methods`): B1, B2, B3, B4, B4r, B10, B5, B6,
B8, in mean-field units, at batch sizes m = 1 and 100. Every (problem, m) cell is one call
of the comparison harness :func:`mflab.compare.compare`: budget per ensemble with
batch-R·m SGD as the control of B6 and B10, bracketing tuning on the tuning seeds
(validation split), the comparison on fresh paired seeds with Wilcoxon tests against SGD,
and the exact-gradient runs as mechanism controls (A1–A3). Jobs go through the run's
executor (``--dask local:2``: identical numbers) and are stored as they finish, so
``mflab resume`` continues a cut run from its last finished job.

Files: ``tables/tuning.csv`` (every scored point, its seed scores, the choice),
``tables/results.csv`` (per entry and variant: final score, samples to target, share, paired
p-values), ``arrays/curves_P_mM_ENTRY_VARIANT.npz`` (every record of every seed), figures
from those files alone.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from mflab.errors import RunError
from mflab.runs.context import RunContext
from mflab.studies.base import Study
from mflab.studies.optnets import methods as M
from mflab.studies.optnets.config import OptimizersNetworksConfig
from mflab.studies.optnets.problems import (
    PROBLEMS,
    critical_batch_at_start,
    problem_for,
    tangent_curvature_at_start,
)
from mflab.studies.optnets.tables import curve_name


class OptimizersNetworksStudy(Study):
    name = "optimizers-networks"
    description = ("C5: Part B optimisers on the networks of A1–A4 (both starts of A2, A3) "
                   "at equal budget per ensemble, tuned alike, paired seeds; m = 1, 100.")
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
        from mflab.compare import Protocol, compare
        from mflab.runs.executor import SerialExecutor
        from mflab.studies.mnist_lln import resolve_data_dir

        executor = getattr(ctx, "executor", None) or SerialExecutor()
        data_dir = None
        if any(PROBLEMS[p].family == "a4" for p in config.problems):
            data_dir = resolve_data_dir(config)
            ctx.note("mnist_data_dir", data_dir or "cache/download")
        protocol = Protocol(budget=lambda p, m: config.budget(p.name, m),
                            tuning_seeds=config.tuning_seeds, seeds=config.seeds,
                            record_ratio=config.record_ratio, first_record=config.first_record,
                            max_extensions=config.max_extensions, reference="B1",
                            exact_controls=config.exact_controls,
                            exact_seeds=min(config.exact_seeds, config.seeds),
                            allow_few_seeds=config.smoke,
                            pairs=tuple(tuple(x.split(":")) for x in config.pairs))
        ck = ctx.load_checkpoint()
        book = ck.extra if ck else {"done": [], "tuning": [], "results": []}
        store = Path(ctx.dir) / "jobs"
        book.setdefault("critical_batch", [])
        book.setdefault("tangent_curvature", [])
        book.setdefault("liu_belkin", [])
        for problem in config.problems:
            fam = PROBLEMS[problem].family
            prob = problem_for(config, problem, data_dir)
            curvature = None
            if "B4lb" in config.methods:  # B4lb's constants
                curvature = self._at_start(
                    ctx, config, prob, book, "tangent_curvature", "Liu-Belkin constants",
                    tangent_curvature_at_start, config.lb_samples, config.lb_modes)
            if fam != "a4" and config.mstar_samples:
                self._at_start(ctx, config, prob, book, "critical_batch", "m*",
                               critical_batch_at_start, config.mstar_samples)
            for m in config.batch_sizes:
                cell = f"{problem} m={m}"
                if cell in book["done"]:
                    continue
                t0 = time.perf_counter()
                fixed = None
                if curvature is not None:
                    fixed = M.liu_belkin_choice(curvature, m, config.budget(problem, m) // m)
                    book["liu_belkin"] = [r for r in book["liu_belkin"]
                                          if (r["problem"], r["m"]) != (problem, m)]
                    book["liu_belkin"].append({"problem": problem, **fixed})
                methods = [M.method_for(meth, config, fam, m,
                                        fixed if meth == "B4lb" else None)
                           for meth in config.methods]
                if ctx.progress:
                    print(f"C5 {cell}: {len(methods)} methods", flush=True)
                res = compare([prob], methods, [m], protocol, executor=executor,
                              root_seed=ctx.seed, store=store, progress=ctx.progress)
                self._save_cell(ctx, res, book)
                ctx.record_timing(f"{cell}", time.perf_counter() - t0)
                book["done"].append(cell)
                ctx.save_checkpoint(progress=len(book["done"]), extra=book)
        ctx.save_table("tuning", _frame(book["tuning"]))
        ctx.save_table("results", _frame(book["results"]))
        for name in ("critical_batch", "liu_belkin"):
            if book[name]:
                ctx.save_table(name, _frame(book[name]))
        if book["tangent_curvature"]:  # one row per problem and mode j
            ctx.save_table("tangent_curvature", _frame([
                {"problem": r["problem"], "j": j + 1, "lam": r["lam"][j], "L1": r["L1"][j],
                 "kappa_tilde": r["kappa_tilde"][j], "samples": r["samples"]}
                for r in book["tangent_curvature"] for j in range(len(r["lam"]))]))
        shutil.rmtree(store, ignore_errors=True)  # every result is in arrays/ and tables/

    @staticmethod
    def _at_start(ctx, config, prob, book, name, what, estimate, *args) -> dict:
        """``estimate(prob, key, *args)`` at the start of ``prob``'s first comparison seed,
        once per problem: the row kept in the checkpoint's ``book[name]`` (timed as
        ``what``)."""
        from mflab.compare.jobs import job_keys

        for r in book[name]:
            if r["problem"] == prob.name:
                return r
        t0 = time.perf_counter()
        row = estimate(prob, job_keys(ctx.seed, prob.name, config.tuning_seeds)[0], *args)
        ctx.record_timing(f"{prob.name} {what}", time.perf_counter() - t0)
        book[name].append(row)
        ctx.save_checkpoint(progress=len(book["done"]), extra=book)
        return row

    def _save_cell(self, ctx, res, book) -> None:
        book["tuning"].extend(_jsonable(r) for r in res.tuning)
        book["results"].extend(_jsonable(r) for r in res.summary)
        for (p, m, entry), choice in res.choices.items():
            if choice["point"] is None:
                ctx.diverged(f"{M.label(entry)} on {p}, m = {m}",
                             "every point of its tuning grid diverged; it has no result")
        for (p, m, entry, variant), a in res.curves.items():
            ctx.save_arrays(curve_name(p, m, entry, variant), **a)
            self._log(ctx, p, m, entry, variant, a)
            if variant == "stochastic" and np.all(np.any(a["diverged"] >= 0, axis=1)):
                ctx.diverged(f"{M.label(entry)} on {p}, m = {m}",
                             "every comparison seed diverged at its tuned values",
                             step=int(a["diverged"][a["diverged"] >= 0].min()))

    @staticmethod
    def _log(ctx, problem, m, entry, variant, a) -> None:
        names = [n for n in ("risk", "risk_estimate", "test_risk", "test_accuracy") if n in a]
        ctx.log_metrics([  # records screened out (risk NaN, see compare.jobs) are not logged
            {"optimizer": entry, "variant": variant, "step": int(a["steps"][s, r]),
             "metric": n, "value": float(np.mean(a[n][s, r])), "problem": problem,
             "m": int(m), "seed_index": int(a["seeds"][s]),
             "samples": int(a["samples"][s, r]), "wall": float(a["wall"][s, r])}
            for n in names for s in range(a[n].shape[0]) for r in range(a[n].shape[1])
            if not np.isnan(a[n][s, r]).any()])

    # -------------------------------------------------------------- from files only
    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.optimizers_networks import plot_all

        return plot_all(Path(run_dir))

    def summarize(self, run_dir: Path) -> str:
        from mflab.studies.optnets.summary import summary_markdown

        return summary_markdown(Path(run_dir))

    def headline(self, run_dir: Path) -> list:
        """Per (problem, m): best method against SGD, paired; the report's claims (a), (c)
        where a cell answers them (:func:`~mflab.studies.optnets.summary.headline_rows`)."""
        from mflab.studies.optnets.summary import headline_rows

        return headline_rows(Path(run_dir))

    captions = {
        "risk_*": "Score against samples drawn per ensemble (top row), steps (middle) and "
                  "wall time (bottom), one column per batch size m (A1–A3: the risk's "
                  "Monte Carlo estimate on a fixed sample at every record; the exact risk "
                  "gives the final scores and the target crossings): line = median over the "
                  "comparison seeds, band = 25–75 % over seeds (an ensemble is one unit); "
                  "one colour per method; dashed: batch-R·m SGD, the control of a coupled "
                  "method; dotted curves: the exact-gradient run of a method (when run); "
                  "grey dotted horizontal line: the target.",
        "overview": "Score against samples drawn per ensemble, one row per problem and one "
                    "column per batch size: median over seeds (line) and 25–75 % band; "
                    "colours, dashes and the grey dotted target as in risk_*.",
        "tuning_*": "Tuning, one panel per batch size: at each ε (ε_eff for B2, B4), the "
                    "best median validation score over the method's other grid points "
                    "(median over the tuning seeds); ringed: the chosen point; gaps: every "
                    "run at that ε diverged; dashed: the controls.",
    }


def _jsonable(row: dict) -> dict:
    """A table row with NumPy scalars as Python numbers (for the JSON checkpoint)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows)


STUDY = OptimizersNetworksStudy()
