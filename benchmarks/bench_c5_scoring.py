"""Where a C5 comparison run's time goes: the run against the scoring of its records.

One command:  python benchmarks/bench_c5_scoring.py  [--problem A2-bad] [--seed 5]

Runs one comparison job of the C5 paper preset — B1 (SGD) at m = 1 on ``--problem``
(N = 800, d = 320 for A2/A3), at the first point of its tuning grid, with the study's
records (from 1 % of the run, geometric with ratio 1.15) — as the harness runs it, and
times separately the run and the scoring of each record by the exact risk (float64, as
the harness scores). Per record it also
counts the near-parallel unit pairs (|ρ| > 0.85 on a class, integrated by quadrature)
and the medium pairs (0.45 < |ρ| ≤ 0.85, whose Mehler series is summed past 32 terms),
and times the same risk in float32 for comparison. Last, the whole job (run + scoring)
with every record scored exactly against the harness's screening (the Monte Carlo estimate
at every record, the exact risk at the last record and where the target crossing is in
doubt), at the paper's target and at one the run crosses.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="A2-bad")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()

    import mflab.studies.optnets.problems as P
    from mflab.compare import Protocol, Target
    from mflab.compare.harness import _plan
    from mflab.compare.jobs import run_job
    from mflab.compare.tuning import Tuner
    from mflab.meanfield import exact_risk
    from mflab.meanfield.risk import HEAD_RHO, SERIES_RHO, _moments, class_covariance
    from mflab.runs.config import build_config
    from mflab.studies.optnets import methods as M
    from mflab.studies.optnets.config import OptimizersNetworksConfig
    from mflab.studies.optnets.problems import PROBLEMS, _units_and_data, build, problem_for

    cfg = build_config(OptimizersNetworksConfig, "paper", ["methods=B1"])
    prob = dataclasses.replace(problem_for(cfg, a.problem), n_estimate=0)  # every record
    fam = PROBLEMS[a.problem].family
    units, data = _units_and_data(prob)
    protocol = Protocol(budget=lambda p, m: cfg.budget(p.name, m), reference="B1",
                        record_ratio=cfg.record_ratio, first_record=cfg.first_record)
    cell = _plan([prob], [M.method_for("B1", cfg, fam, 1)], [1], protocol)[0]
    point = Tuner(cell.entry.method.grids, 0).pending()[0]
    job = cell.job(point, a.seed, "test", 0)
    built = build(prob)
    rows: list = []
    f32_risk = jax.jit(lambda th: exact_risk(units, data, th))

    def timed(theta, split):  # the harness's scorer, timed; then untimed diagnostics
        t1 = time.perf_counter()
        out = built.evaluate(theta, split)
        t64 = time.perf_counter() - t1
        th = jnp.asarray(theta, jnp.float32)
        f32_risk(th).block_until_ready()  # compiled once
        t1 = time.perf_counter()
        v32 = float(f32_risk(th).block_until_ready())
        t32 = time.perf_counter() - t1
        th = jnp.asarray(theta, jnp.float64)
        _, _, s, _, w = _moments(units, th, data.class_variances())
        cov = class_covariance(data.class_variances(), w, w)
        big = np.abs(np.asarray(jnp.clip(cov / (s[:, :, None] * s[:, None, :]), -1, 1)))
        big = big.max(axis=0)
        np.fill_diagonal(big, 0.0)
        rows.append((out["risk"], int(np.sum(big > SERIES_RHO)) // 2,
                     int(np.sum((big > HEAD_RHO) & (big <= SERIES_RHO))) // 2, t64, t32, v32))
        return out

    P._BUILT[prob] = built._replace(evaluate=timed)
    run_job(job)  # compiles the run's chunk and the scorer
    rows.clear()
    t0 = time.perf_counter()
    res = run_job(job)
    total = time.perf_counter() - t0
    run_s = float(res["wall"][-1])
    print(f"C5 paper, {a.problem}, B1 at m = 1, {cell.steps} steps, point {dict(point)}, "
          f"seed {a.seed}; jax {jax.__version__}, {jax.devices()[0].platform}")
    print(f"one comparison job (compare.jobs.run_job): {total:.2f} s with this bench's "
          f"diagnostics; the run {run_s:.2f} s "
          f"(its 'wall'), {len(rows)} records scored")
    print(f"{'step':>6s} {'risk':>10s} {'close':>7s} {'medium':>7s} {'f64 (s)':>8s} "
          f"{'f32 (s)':>8s} {'f32 risk rel. err':>17s}")
    for step, (v, close, medium, t64, t32, v32) in zip(res["steps"], rows, strict=True):
        print(f"{int(step):6d} {v:10.5f} {close:7d} {medium:7d} {t64:8.3f} {t32:8.3f} "
              f"{abs(v32 - v) / abs(v):17.1e}")
    s64 = sum(r[3] for r in rows)
    s32 = sum(r[4] for r in rows)
    print(f"scoring: {s64:.1f} s in float64 ({s64 / run_s:.0f}x the run), {s32:.1f} s in "
          f"float32 ({s64 / s32:.1f}x faster)")

    # The harness's screened scoring (compare.jobs.score_records), against every record
    # exact: the whole job timed plainly, after a warm-up of each variant.
    P._BUILT[prob] = built
    risk = np.asarray(res["risk"])[:, 0]
    crossing_target = float(risk[2 * len(risk) // 3]) * 1.0001
    print("the whole job, run + scoring (compare.jobs.run_job, warm):")
    for label, target in ((f"paper target {prob.target.value:g}", prob.target),
                          (f"target {crossing_target:.4g} (crossed at record "
                           f"{2 * len(risk) // 3})", Target(crossing_target))):
        for n_est in (0, cfg.estimate_samples):
            p = dataclasses.replace(prob, n_estimate=n_est, target=target)
            j = dataclasses.replace(job, problem=p)
            run_job(j)
            t0 = time.perf_counter()
            out = run_job(j)
            dt = time.perf_counter() - t0
            exact = int(np.sum(np.isfinite(out["risk"][:, 0])))
            what = "every record exact" if not n_est else f"screened, n = {n_est}"
            print(f"  {label:42s} {what:22s} {dt:6.2f} s  ({exact} of {len(risk)} records "
                  f"scored exactly)")


if __name__ == "__main__":
    main()
