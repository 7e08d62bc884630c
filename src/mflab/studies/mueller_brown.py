"""Study C6: every optimiser of SPEC Part B on the Müller–Brown potential.

    V(x, y) = Σ_{k=1..4} A_k exp[a_k(x−x0_k)² + b_k(x−x0_k)(y−y0_k) + c_k(y−y0_k)²]

(Müller & Brown, Theor. Chim. Acta 53, 1979; report §3.2.4, figs. 12–13.) The same
``n_agents`` uniform starts in the box ``[−1.5, 1.2] × [−0.2, 2.0]`` are given to each
optimiser of :data:`OPTIMIZERS`, with full gradients. By default they are compared at
equal gradient cost per agent: a method costing ``g`` gradient evaluations per step
runs ``budget // g`` steps; its ``n_records`` records are log-spaced in steps.

Tuned alike, compared paired (SPEC C5's protocol, applied to C6): each method's parameter
that sets how far it looks beyond its start's basin (β of the noisy methods, B11's
Langevin β, B7's width h) is chosen by :class:`mflab.compare.Tuner` on ``tuning_seeds``
seeds of their own (a grid extended by a decade while the choice sits at an edge); the
``n_seeds`` comparison seeds are the statistical units (one 1000-start ensemble each,
shared by every method), and methods are compared seed by seed with Wilcoxon's
signed-rank test (:mod:`mflab.studies.mb.paired`).

A run's basin is decided without distance thresholds on the final iterate: plain
gradient descent (B1 with ``descent_eta``) is run from the final point until every
gradient norm is below ``descent_tol``, and the stationary point reached is matched to
the landscape's known ``stationary_points`` (``match_tol`` only absorbs the rounding
of the tabulated coordinates, 1e−6). Runs that end at a saddle or do not converge
count as "elsewhere".

Optimisers are looked up by factory name in ``mflab.optimizers`` when the run starts;
one that is not importable (not written yet) or refuses the keyword arguments of its
table entry is skipped with a warning recorded in ``meta.json`` and the summary.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from mflab.compare.stats import lower_median
from mflab.runs.context import RunContext
from mflab.studies.base import Headline, Study
from mflab.studies.markdown import markdown_table
from mflab.studies.mb.basins import BASINS, OUTCOMES, basin_fractions, classify, descend
from mflab.studies.mb.comparison import RECORD_STATS, ComparisonJob, run_comparison_job, starts
from mflab.studies.mb.config import MuellerBrownConfig
from mflab.studies.mb.methods import OPTIMIZERS, OptimizerSpec, load_optimizer
from mflab.studies.mb.paired import claim_verdict, paired_table
from mflab.studies.mb.summary import paired_lines, summarize_seeds, tuning_lines
from mflab.studies.mb.tuning import TuningJob, run_tuning_job, tune

__all__ = ["BASINS", "OPTIMIZERS", "OUTCOMES", "STUDY", "ComparisonJob", "MuellerBrownConfig",
           "MuellerBrownStudy", "OptimizerSpec", "TuningJob", "claim_verdict", "classify",
           "descend", "load_optimizer", "paired_table", "run_comparison_job", "run_tuning_job"]


class MuellerBrownStudy(Study):
    """C6 (see the module docstring)."""

    name = "mueller-brown"
    description = (
        "C6: every Part B optimiser on the Müller–Brown potential from uniform starts "
        "at equal gradient cost; basin fractions, final values, trajectories."
    )
    Config = MuellerBrownConfig

    def run(self, config: MuellerBrownConfig, ctx: RunContext) -> None:
        """Tune (:func:`~mflab.studies.mb.tuning.tune`), then every (seed, method) job
        (:class:`~mflab.studies.mb.comparison.ComparisonJob`) through the run's executor,
        each stored as it ends; then the metrics and tables, from the stored arrays in
        (seed, method) order, so that they do not depend on where or in which order the
        jobs ran."""
        import jax
        from tqdm.auto import tqdm

        from mflab.runs.executor import save_each

        key_data = tuple(int(v) for v in np.asarray(ctx.key).ravel())
        x64 = bool(jax.config.read("jax_enable_x64"))
        sample = np.linspace(0, config.n_agents - 1, config.n_trajectories).astype(int)
        specs = [s for s in OPTIMIZERS if s.id in config.optimizers]
        chosen = tune(config, ctx, specs)
        runnable = []
        for spec in specs:
            tuned = replace(config, **chosen[spec.id])
            opt, why = load_optimizer(spec, tuned)
            if opt is None:
                ctx.warn(f"skipped {why}")
            else:
                runnable.append((spec, tuned))
        jobs = [ComparisonJob(tuned, spec.id, seed, key_data, x64)
                for seed in range(config.n_seeds) for spec, tuned in runnable]
        for seed in range(config.n_seeds):
            if not (ctx.dir / "arrays" / f"starts_s{seed}.npz").exists():
                ctx.save_arrays(f"starts_s{seed}", sample=sample, x0=np.asarray(
                    starts(config, np.asarray(key_data, np.uint32), seed, x64)))
        todo = [j for j in jobs if not any((ctx.dir / "arrays" / f"{n}.npz").exists()
                                           for n in (j.name, j.diverged_name))]
        bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="run",
                   desc="C6 comparison", disable=None if ctx.progress else True)
        stored = [len(jobs) - len(todo)]

        def save(k: int, out) -> None:
            j = todo[k]
            ctx.record_timing(f"{j.method} seed {j.seed}", float(out.pop("seconds")))
            if "all_diverged_at" in out:
                ctx.save_arrays(j.diverged_name, **out)
            else:
                ctx.record_timing(f"{j.method} seed {j.seed} basin descent",
                                  float(out.pop("descent_seconds")))
                ctx.save_arrays(j.name, **out)
            stored[0] += 1
            ctx.save_checkpoint(progress=stored[0])
            bar.update()

        try:
            save_each(ctx.executor, run_comparison_job, todo, save)
        finally:
            bar.close()
        for j in jobs:
            self._log_job(ctx, j)
        per_seed = self._per_seed(ctx)
        ctx.save_table("basins_per_seed", per_seed)
        ctx.save_table("basins", summarize_seeds(per_seed))

    @staticmethod
    def _log_job(ctx, job) -> None:
        """Metrics of one stored job: the records' quantiles of V and its final numbers; a
        job where every agent diverged is recorded as a divergence of its method."""
        from mflab.runs.io import read_arrays

        spec = next(s for s in OPTIMIZERS if s.id == job.method)
        done = (ctx.dir / "arrays" / f"{job.name}.npz").exists()
        a = read_arrays(ctx.dir, job.name if done else job.diverged_name)
        rows = [{"optimizer": spec.id, "step": int(s), "metric": m, "value": float(v),
                 "grad_evals": int(g), "seed": job.seed}
                for m in RECORD_STATS
                for s, g, v in zip(a["rec_step"], a["rec_grad_evals"], a[f"rec_{m}"],
                                   strict=True)]
        if not done:
            ctx.log_metrics(rows)
            step = int(a["all_diverged_at"])
            ctx.diverged(f"{spec.id} {spec.label}", f"seed {job.seed}: every agent became "
                         f"non-finite (first at step {step})", step=step)
            return
        ok = a["diverged_at"] < 0
        fr = basin_fractions(a["stationary"])
        ge, steps = int(a["grad_evals"]), int(a["steps"])
        final = {**{f"fraction_{b}": fr[b] for b in OUTCOMES},
                 "median_final_value": float(np.median(a["value"][ok])), "grad_evals": ge,
                 "steps": steps, "grads_per_step": int(a["grads_per_step"]),
                 "descent_steps": int(a["descent_steps"])}
        rows += [{"optimizer": spec.id, "step": steps, "metric": f"final/{m}",
                  "value": float(val), "grad_evals": ge, "seed": job.seed}
                 for m, val in final.items()]
        ctx.log_metrics(rows)

    # ------------------------------------------------------------------ outputs
    @staticmethod
    def _per_seed(ctx: RunContext):
        """One row per (seed, optimiser) from the saved ``final_*_s*.npz`` and the timings."""
        import pandas as pd

        from mflab.runs.io import read_arrays

        rows = []
        for seed in range(ctx.config.n_seeds):
            for s in OPTIMIZERS:
                if s.id not in ctx.config.optimizers:
                    continue
                if not (ctx.dir / "arrays" / f"final_{s.id}_s{seed}.npz").exists():
                    continue  # skipped, or every agent diverged (recorded in meta.json)
                a = read_arrays(ctx.dir, f"final_{s.id}_s{seed}")
                fr = basin_fractions(a["stationary"])
                finite = a["value"][a["diverged_at"] < 0]
                rows.append({"seed": seed, "id": s.id, "method": s.label,
                             **{f"basin {b}": fr[b] for b in OUTCOMES},
                             "median final V": lower_median(finite),
                             "grads/step": int(a["grads_per_step"]), "steps": int(a["steps"]),
                             "grad evals/agent": int(a["grad_evals"]),
                             "wall time (s)": ctx.timing(f"{s.id} seed {seed}")})
        columns = ["seed", "id", "method", *(f"basin {b}" for b in OUTCOMES), "median final V",
                   "grads/step", "steps", "grad evals/agent", "wall time (s)"]
        return pd.DataFrame(rows, columns=columns)

    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.mueller_brown import plot_all
        from mflab.runs.io import read_table

        # the paired tests are derived from the per-seed table: remade with the figures
        path = Path(run_dir) / "tables" / "paired.csv"
        paired_table(read_table(run_dir, "basins_per_seed")).to_csv(f"{path}.tmp", index=False)
        os.replace(f"{path}.tmp", path)
        return plot_all(Path(run_dir), {s.id: s.label for s in OPTIMIZERS})

    captions = {
        "trajectories": "Sample trajectories on the contours of V (seed 0), one panel per "
                        "method: open circle = start, filled circle = end; stars and "
                        "crosses mark the minima A (global), B, C and the two saddles.",
        "final_values": "Histogram of the final value V over the agents (seed 0), one panel "
                        "per method; dashed vertical lines: the values of the minima A, B, C "
                        "in their basin colours.",
        "basins": "Share of the ensemble whose final point descends into basin A (global), "
                  "B or C, or elsewhere, per method: stacked bars = median share over seeds "
                  "per basin; error bar on A: its min–max over seeds.",
        "convergence": "Median V over the agents against gradient evaluations per agent "
                       "(log-spaced records; lower median over seeds), one colour per "
                       "method; dashed and dotted patterns let curves that coincide (B3 on "
                       "B1, B4 on B2) show both; dotted horizontal lines: the minima A, B, C.",
    }

    def headline(self, run_dir: Path) -> list[Headline]:
        """The share of agents ending in the global minimum's basin: the best method, B10
        against the best other, and GD; the report's claim (§3.2.4) is that MF-Hom-SGLD
        (B10) substantially outperforms all other methods."""
        from mflab.runs.io import read_table

        t, per = read_table(run_dir, "basins"), read_table(run_dir, "basins_per_seed")
        if not len(t):
            return []
        n = int(t["seeds"].max())

        def row(i):
            r = t[t["id"] == i].iloc[0]
            return (f"{r['basin A']:.3f}", f"[{r['basin A min']:.3f}, {r['basin A max']:.3f}] "
                    f"min–max over {int(r['seeds'])} seeds", f"{i} {r['method']}")

        best = t.loc[t["basin A"].idxmax(), "id"]
        rows = [Headline(f"share in the global basin A, best method ({row(best)[2]})",
                         *row(best)[:2])]
        if "B1" in set(t["id"]):
            rows.append(Headline("share in A, B1 GD", *row("B1")[:2]))
        if "B10" in set(t["id"]):
            verdict = claim_verdict(paired_table(per), n)
            rows.append(Headline("share in A, B10 MF-Hom-SGLD (report: substantially "
                                 "outperforms all others)", *row("B10")[:2], verdict))
        return rows

    def summarize(self, run_dir: Path) -> str:
        import pandas as pd

        from mflab.runs.io import read_config, read_meta, read_table

        run_dir = Path(run_dir)
        cfg, meta = read_config(run_dir), read_meta(run_dir)
        t = read_table(run_dir, "basins")

        def spread(col, fmt):
            return [f"{fmt(m)} [{fmt(lo)}, {fmt(hi)}]"
                    for m, lo, hi in zip(t[col], t[f"{col} min"], t[f"{col} max"], strict=True)]

        frac = lambda f: f"{f:.3f}"  # noqa: E731
        fmt = pd.DataFrame({"id": t["id"], "method": t["method"], "seeds": t["seeds"]})
        if len(t):
            for b in OUTCOMES:
                fmt[f"basin {b}"] = spread(f"basin {b}", frac)
            fmt["median final V"] = spread("median final V", lambda f: f"{f:.2f}")
            for c in ("grads/step", "steps", "grad evals/agent"):
                fmt[c] = t[c].astype(int)
            fmt["wall time (s)"] = t["wall time (s)"].map(lambda f: f"{f:.1f}")
        cost = ("equal gradient cost: each method ran budget // grads_per_step steps"
                if cfg["equal_cost"] else "equal step count: each method ran `budget` steps")
        lines = [
            "# C6 — optimisers on the Müller–Brown potential", "",
            f"{cfg['n_agents']} uniform starts in [{cfg['box'][0]}, {cfg['box'][1]}] × "
            f"[{cfg['box'][2]}, {cfg['box'][3]}], the same for every method within a seed; "
            f"{cfg['n_seeds']} seeds (new starts and new noise each); full gradients; "
            f"learning rate η = {cfg['eta']:g} for GD-like methods; budget {cfg['budget']} "
            f"gradient evaluations per agent ({cost}); B10 with Curie–Weiss interaction "
            f"λ = {cfg['mfhom_lam']:g} (its pull λ(X − X̄) acts in the outer step, the inner "
            "Langevin chain is per agent). Each cell is the median over seeds [min, max] of the "
            "fraction of the ensemble (or of its median final V). Medians of final V are "
            "lower medians (of an even count, the lower middle value), so that they are "
            "energies an agent reached, never the midpoint between two basins.", "",
            "Basin of a run: plain GD (η = "
            f"{cfg['descent_eta']:g}) from its final point until |∇V| < {cfg['descent_tol']:g}, "
            "then matched to the tabulated stationary points (A global: V = −146.700, "
            "B: −108.167, C: −80.768); saddles and unconverged runs count as elsewhere; "
            "`diverged`: the run became NaN/inf. Wall time: median per seed of the "
            "optimiser's runs including JIT compilation, excluding the basin descent.", "",
            markdown_table(fmt, {}) if len(t) else
            "No method finished: every one diverged or was skipped (see below and meta.json).",
            "",
            "Figures (seed 0): `figures/trajectories.png` (sample trajectories on the "
            "contours), `figures/final_values.png` (histograms of final V); over seeds: "
            "`figures/basins.png` (median basin fractions with their range), "
            "`figures/convergence.png` (median V vs gradient evaluations). Tables: "
            "`tables/basins.csv` (median, min, max), `tables/basins_per_seed.csv`; all "
            "records: `metrics.parquet`.",
        ]
        lines += tuning_lines(run_dir, cfg) + paired_lines(run_dir, int(cfg["n_seeds"]))
        skipped = [w for w in meta.get("warnings", []) if w.startswith("skipped")]
        if skipped:
            lines += ["", "Not run (optimiser not available yet or refused its arguments):"]
            lines += [f"- {w[len('skipped '):]}" for w in skipped]
        return "\n".join(lines) + "\n"


STUDY = MuellerBrownStudy()
