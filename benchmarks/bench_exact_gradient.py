"""What one exact-gradient step costs on the C5 networks: ∇_θ R_N(θ) of the exact risk
(:func:`mflab.meanfield.exact_risk`: Mehler series, kink-split quadrature for close
pairs and a closed-form diagonal; hand-written gradients of the series' dense pass and
of the gathered pairs under ``jax.grad``), the oracle of C5's mechanism controls
(``--set exact_controls=true``), against one mini-batch gradient of the same network.

One command:  python benchmarks/bench_exact_gradient.py  [--Ns 40,200,800] [--d 320]

Printed per N: ms per exact risk value (float64), ms per exact gradient (float32 and
float64 particles; the risk itself is computed in the particles' dtype), ms per batch-100
stochastic gradient, the ratio of the float64 gradient to it, and
what a C5 paper cell's exact control would take at that rate (A2 at m = 1: 2010 steps per
run; 11 entries × 10 seeds).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp


def _time(f, x, reps: int = 5) -> float:
    jax.block_until_ready(f(x))
    t = time.perf_counter()
    for _ in range(reps):
        jax.block_until_ready(f(x))
    return (time.perf_counter() - t) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--Ns", default="40,200,800")
    ap.add_argument("--d", type=int, default=320)
    args = ap.parse_args()
    from mflab.runs.config import build_config
    from mflab.studies.optnets.config import OptimizersNetworksConfig
    from mflab.studies.optnets.problems import problem_for

    print(f"A2 (non-monotone σ, κ = 0.1), d = {args.d}; jax {jax.__version__}, "
          f"{jax.devices()[0].platform}")
    print(f"{'N':>5} {'R_N f64 (ms)':>13} {'grad f32 (ms)':>14} {'grad f64 (ms)':>14} "
          f"{'batch-100 (ms)':>15} {'ratio f64':>10} {'paper cell (h)':>15}")
    with jax.enable_x64(True):
        for N in (int(n) for n in args.Ns.split(",")):
            cfg = build_config(OptimizersNetworksConfig, "paper", {"N": N, "d_a2": args.d})
            prob = problem_for(cfg, "A2-bad", None)
            x = prob.init(jax.random.key(0), 1)[0]
            land = prob.landscape(None)
            value = jax.jit(land.value)
            tv = _time(value, x.astype(jnp.float64))
            exact = jax.jit(land.grad)
            t32 = _time(exact, x.astype(jnp.float32))
            t64 = _time(exact, x.astype(jnp.float64))
            sto = prob.landscape(100)
            g = jax.jit(lambda th, s=sto: s.sample_grad(jax.random.key(1), th))
            ts = _time(g, x.astype(jnp.float64))
            cell_h = t64 * 2010 * 11 * 10 / 3600
            print(f"{N:>5} {tv * 1e3:>13.1f} {t32 * 1e3:>14.1f} {t64 * 1e3:>14.1f} "
                  f"{ts * 1e3:>15.3f} {t64 / ts:>10.0f} {cell_h:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
