"""The cost of C5's critical-batch estimate, and the estimates it gives at the paper starts.

One command:  python benchmarks/bench_critical_batch.py  [--samples 16384] [--seed 0]

For each A1–A3 problem of the C5 paper preset (N = 800; d = 40 for A1, 320 for A2/A3),
at the start of the first comparison seed of root seed ``--seed`` (the point and the
samples the study uses, ``critical_batch_at_start``), estimates Liu & Belkin's critical
batch m* = tr H / λ_max(H) of the tangent features (``mflab.optimizers.critical_batch``)
and prints the bracket (λ_max of the whole sample, biased up; the held-out Rayleigh
quotient, biased down), the sup-based m*, and the wall time of one estimate (float32, as
the problems run; one process).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=16_384)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    from mflab.compare.jobs import job_keys
    from mflab.studies.optnets.config import OptimizersNetworksConfig
    from mflab.studies.optnets.problems import critical_batch_at_start, problem_for

    cfg = OptimizersNetworksConfig()
    print(f"{'problem':10s} {'m* (lam_max)':>13s} {'m* (held out)':>14s} {'m* (sup)':>9s} "
          f"{'tr H':>9s} {'lam_max':>9s} {'time (s)':>9s}")
    for name in ("A1", "A2-bad", "A2-good", "A3-trains", "A3-stalls"):
        prob = problem_for(cfg, name)
        key = job_keys(a.seed, name, cfg.tuning_seeds)[0]
        t0 = time.perf_counter()
        r = critical_batch_at_start(prob, key, a.samples)
        dt = time.perf_counter() - t0
        print(f"{name:10s} {r['m_star']:13.4g} {r['m_star_held_out']:14.4g} "
              f"{r['m_star_sup']:9.4g} {r['trace']:9.3g} {r['lam_max']:9.3g} {dt:9.1f}",
              flush=True)


if __name__ == "__main__":
    main()
