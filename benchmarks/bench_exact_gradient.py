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
run; 11 entries × 10 seeds); then, per problem at the paper's N, the float32 gradient and
the number of exact gradients the paper run's controls take (from the comparison's plan),
with their total time on one core.
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
        paper_total(_time)


def paper_total(timer) -> None:
    """The exact controls of the whole C5 paper run: exact gradients per problem and batch
    size (steps × agents × gradients per step × seeds, from the comparison's own plan)
    times one float32 gradient (the dynamics' dtype) of that problem at the paper's N."""
    from mflab.compare import Protocol
    from mflab.compare.harness import _plan
    from mflab.runs.config import build_config
    from mflab.studies.optnets import methods as M
    from mflab.studies.optnets.config import OptimizersNetworksConfig
    from mflab.studies.optnets.problems import PROBLEMS, problem_for

    cfg = build_config(OptimizersNetworksConfig, "paper", {})
    protocol = Protocol(budget=lambda p, m: cfg.budget(p.name, m), seeds=cfg.seeds)
    print(f"\nC5 paper run (N = {cfg.N}, {cfg.seeds} seeds, m in {cfg.batch_sizes}): "
          "its exact controls")
    print(f"{'problem':>10} {'d':>4} {'grad f32 (ms)':>14} {'exact gradients':>16} {'hours':>7}")
    total = 0.0
    for name in cfg.problems:
        fam = PROBLEMS[name].family
        if fam == "a4":  # MNIST: no exact risk, no control
            continue
        prob = problem_for(cfg, name, None)
        land = prob.landscape(None)
        x = prob.init(jax.random.key(0), 1)[0].astype(jnp.float32)
        t = timer(jax.jit(land.grad), x)
        count = 0
        for m in cfg.batch_sizes:
            methods = [M.method_for(meth, cfg, fam, m) for meth in cfg.methods]
            count += sum(c.steps * c.agents * c.entry.method.calls_per_step
                         for c in _plan([prob], methods, [m], protocol)) * cfg.seeds
        total += count * t / 3600
        print(f"{name:>10} {prob.d:>4} {t * 1e3:>14.1f} {count:>16} {count * t / 3600:>7.1f}",
              flush=True)
    print(f"{'total':>10} {'':>4} {'':>14} {'':>16} {total:>7.1f}  (one core)")


if __name__ == "__main__":
    main()
