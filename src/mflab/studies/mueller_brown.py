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
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from mflab.compare.stats import lower_median
from mflab.runs.context import RunContext
from mflab.studies.base import Headline, Study
from mflab.studies.markdown import markdown_table
from mflab.studies.mb.basins import BASINS, OUTCOMES, basin_fractions, classify, descend
from mflab.studies.mb.config import MuellerBrownConfig
from mflab.studies.mb.methods import ALL_IDS, OPTIMIZERS, OptimizerSpec, load_optimizer
from mflab.studies.mb.paired import claim_verdict, paired_table
from mflab.studies.mb.summary import paired_lines, summarize_seeds, tuning_lines
from mflab.studies.mb.tuning import TuningJob, run_tuning_job, tune

__all__ = ["BASINS", "OPTIMIZERS", "OUTCOMES", "STUDY", "MuellerBrownConfig",
           "MuellerBrownStudy", "OptimizerSpec", "TuningJob", "claim_verdict", "classify",
           "descend", "load_optimizer", "paired_table", "run_tuning_job"]


class MuellerBrownStudy(Study):
    """C6 (see the module docstring)."""

    name = "mueller-brown"
    description = (
        "C6: every Part B optimiser on the Müller–Brown potential from uniform starts "
        "at equal gradient cost; basin fractions, final values, trajectories."
    )
    Config = MuellerBrownConfig

    def run(self, config: MuellerBrownConfig, ctx: RunContext) -> None:
        import jax
        import jax.numpy as jnp

        from mflab.landscapes import mueller_brown

        L = mueller_brown()
        k_init, k_runs = jax.random.split(ctx.key)
        lo = jnp.array([config.box[0], config.box[2]])
        hi = jnp.array([config.box[1], config.box[3]])
        sample = np.linspace(0, config.n_agents - 1, config.n_trajectories).astype(int)
        ck = ctx.load_checkpoint()
        resume_at = ck.extra if ck is not None else {"seed": 0, "opt": 0, "k": 0}
        specs = [s for s in OPTIMIZERS if s.id in config.optimizers]
        chosen = tune(config, ctx, specs)
        # one optimiser object per method for all seeds: its compiled chunks are reused
        loaded = {s.id: load_optimizer(s, replace(config, **chosen[s.id])) for s in specs}
        for seed in range(resume_at.get("seed", 0), config.n_seeds):
            x0 = jax.random.uniform(jax.random.fold_in(k_init, seed), (config.n_agents, 2),
                                    jnp.float64, lo, hi)
            ctx.save_arrays(f"starts_s{seed}", x0=np.asarray(x0), sample=sample)
            for i, spec in enumerate(specs):
                here = seed == resume_at.get("seed", 0)
                if here and i < resume_at["opt"]:
                    continue
                opt, why = loaded[spec.id]
                if opt is None:
                    ctx.warn(f"skipped {why}")
                    continue
                partial = resume_at if here and i == resume_at["opt"] and resume_at["k"] > 0 \
                    else None
                key = jax.random.fold_in(jax.random.fold_in(k_runs, seed),
                                         ALL_IDS.index(spec.id))
                self._run_one(config, ctx, L, spec, opt, x0, sample, key, seed,
                              (seed, i, len(specs)), partial)
                ctx.save_checkpoint(progress=(seed * len(specs) + i + 1) * 10_000,
                                    extra={"seed": seed, "opt": i + 1, "k": 0})
            ctx.save_checkpoint(progress=(seed + 1) * len(specs) * 10_000,
                                extra={"seed": seed + 1, "opt": 0, "k": 0})
        per_seed = self._per_seed(ctx)
        ctx.save_table("basins_per_seed", per_seed)
        ctx.save_table("basins", summarize_seeds(per_seed))

    def _run_one(self, config, ctx, L, spec, opt, x0, sample, key, seed, where, partial):
        import jax

        import mflab
        from mflab.driver import record_grid

        _, i, n_specs = where
        job = seed * n_specs + i
        steps = config.budget // opt.grads_per_step if config.equal_cost else config.budget
        # records log-spaced in steps (0, then geometric up to the last step), so that the
        # early descent — on a log cost axis, most of the figure — is resolved
        grid = record_grid(steps, config.n_records + 1, log=True)
        per_chunk = -(-(len(grid) - 1) // config.n_chunks)  # records per chunk
        template = {"opt": opt.init(x0), "traj": np.zeros(0), "tsteps": np.zeros(0, int),
                    "diverged": np.zeros(0, int)}
        if partial is not None:
            st = ctx.load_checkpoint(like=template).state
            state, traj, tsteps = st["opt"], [np.asarray(st["traj"])], [np.asarray(st["tsteps"])]
            diverged = np.array(st["diverged"])  # writable copy
            k, elapsed = partial["k"], partial["elapsed"]
        else:
            state, k, elapsed = opt.init(x0), 0, 0.0
            traj, tsteps = [np.asarray(x0)[sample][None]], [np.array([0])]
            diverged = np.full(config.n_agents, -1)
            v0 = np.asarray(jax.vmap(L.value)(x0))[None]
            self._log_records(ctx, spec, seed, v0, np.array([0]), np.array([0]))
        while k < steps:
            i0 = int(np.searchsorted(grid, k))
            i1 = min(i0 + per_chunk, len(grid) - 1)
            n = int(grid[i1]) - k
            t0 = time.perf_counter()
            tr = mflab.run(opt, L, state.x, n, key, record_steps=grid[i0 + 1:i1 + 1] - k,
                           state=state,
                           start_step=k, record_positions=True, progress=ctx.progress,
                           on_divergence="continue")
            elapsed += time.perf_counter() - t0
            state, k = tr.state, k + n
            new = (diverged < 0) & (tr.diverged >= 0)
            diverged[new] = tr.diverged[new]
            traj.append(tr.positions[1:][:, sample])
            tsteps.append(tr.steps[1:])
            self._log_records(ctx, spec, seed, tr.values[1:], tr.steps[1:], tr.grad_evals[1:])
            if (diverged >= 0).all():
                ctx.diverged(f"{spec.id} {spec.label}",
                             f"seed {seed}: every agent became non-finite (first at step "
                             f"{int(diverged.min())})", step=int(diverged.min()))
                return
            if k < steps:
                ctx.save_checkpoint(progress=job * 10_000 + k // per_chunk, extra={
                    "seed": seed, "opt": i, "k": k, "elapsed": elapsed},
                    state={"opt": state, "traj": np.concatenate(traj),
                           "tsteps": np.concatenate(tsteps), "diverged": diverged})
        self._finish_one(config, ctx, L, spec, opt, state, steps, elapsed,
                         np.concatenate(traj), np.concatenate(tsteps), seed, diverged)

    @staticmethod
    def _log_records(ctx, spec, seed, values, steps, grad_evals):
        """Quantiles of V over the (finite) agents at each record (values: (R, A))."""
        v = np.asarray(values)
        with warnings.catch_warnings():  # a record where every agent diverged gives NaN
            warnings.simplefilter("ignore", RuntimeWarning)  # (reported once, by the study)
            stats = {"median_value": np.nanquantile(v, 0.5, 1, method="lower"),
                     "mean_value": np.nanmean(v, 1),
                     "min_value": np.nanmin(v, 1), "q10_value": np.nanquantile(v, 0.1, 1),
                     "q90_value": np.nanquantile(v, 0.9, 1)}
        ctx.log_metrics([
            {"optimizer": spec.id, "step": int(s), "metric": m, "value": float(vals[r]),
             "grad_evals": int(g), "seed": seed}
            for m, vals in stats.items()
            for r, (s, g) in enumerate(zip(steps, grad_evals, strict=True))])

    @staticmethod
    def _finish_one(config, ctx, L, spec, opt, state, steps, elapsed, traj, tsteps, seed,
                    diverged):
        import jax

        x = np.asarray(state.x)
        v = np.asarray(jax.vmap(L.value)(state.x))
        ok = diverged < 0
        t0 = time.perf_counter()
        xd, conv, n_desc = descend(L, np.where(ok[:, None], x, 0.0), eta=config.descent_eta,
                                   tol=config.descent_tol, max_steps=config.descent_max_steps)
        names = np.where(ok, classify(L, xd, conv, config.match_tol), "div")
        ctx.record_timing(f"{spec.id} seed {seed}", elapsed)
        ctx.record_timing(f"{spec.id} seed {seed} basin descent", time.perf_counter() - t0)
        ge = int(np.asarray(state.grad_evals))
        ctx.save_arrays(f"final_{spec.id}_s{seed}", x=x, value=v, descended=xd, converged=conv,
                        stationary=names.astype("U4"), diverged_at=diverged, traj=traj,
                        traj_steps=tsteps, steps=steps, grads_per_step=opt.grads_per_step,
                        grad_evals=ge, descent_steps=n_desc)
        fr = basin_fractions(names)
        final = {**{f"fraction_{b}": fr[b] for b in OUTCOMES}, "median_final_value":
                 float(np.median(v[ok])), "grad_evals": ge, "steps": steps,
                 "grads_per_step": opt.grads_per_step, "descent_steps": n_desc}
        ctx.log_metrics([{"optimizer": spec.id, "step": steps, "metric": f"final/{m}",
                          "value": float(val), "grad_evals": ge, "seed": seed}
                         for m, val in final.items()])

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
