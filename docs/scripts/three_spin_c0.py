"""Which initial weight scale c0 trains the 3-spin kernel network stably? (docs/three-spin-model.md)

One command:  python docs/scripts/three_spin_c0.py  [--n 256] [--T 10] [--d 3 5 25]
                  [--factors 0 0.1 0.3 1 3] [--dts 1e-3 1e-2 1e-1] [--no-report-c0]

Exact-gradient descent (GD on the exact loss, Riemannian step) in mean-field time
(η = n·dt), n = 256, α = 5/d, for each d, c0 = factor × c0* with
c0* = √(3 E f²)/E_μ φ (``matched_weight_scale``) and the report's 40 d², over a grid of
dt, up to mean-field time T. Prints, per run: whether the loss decreased at every recorded
time (every step for the first 50 steps, then every T/50), the relative loss L/(½ E f²)
at t = 1, 3 and T (½ E f² is the loss of f_n ≡ 0), and the largest |c_i|/c0* at T.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from mflab.schedules import meanfield_learning_rate
from mflab.spherical import (
    init_kernel_params,
    matched_weight_scale,
    three_spin_couplings,
    three_spin_landscape,
)


def gd_losses(land, params, eta, steps, every):
    """Loss after each of the first 50 steps, then every ``every`` steps (one jit)."""

    def step(p, _):
        g = land.grad(p)
        p = land.retract(jax.tree_util.tree_map(lambda x, y: x - eta * y, p, g))
        return p, land.value(p)

    def chunk(p, _):
        p, _ = jax.lax.scan(step, p, None, length=every)
        return p, land.value(p)

    @jax.jit
    def run(p):
        p, first = jax.lax.scan(step, p, None, length=50)
        p, rest = jax.lax.scan(chunk, p, None, length=(steps - 50) // every)
        return p, first, rest

    return run(params)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--T", type=float, default=10.0)
    ap.add_argument("--d", type=int, nargs="+", default=[3, 5, 25])
    ap.add_argument("--factors", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0, 3.0])
    ap.add_argument("--dts", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1])
    ap.add_argument("--no-report-c0", action="store_true", help="skip c0 = 40 d²")
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    print(f"n = {args.n}, alpha = 5/d, GD on the exact loss, mean-field time T = {args.T}")
    print("d | c0 | c0/c0* | dt | monotone | L/(½Ef²) at t=1 | t=3 | t=T | max|c|/c0* at T | s")
    for d in args.d:
        a = three_spin_couplings(jax.random.key(0), d)
        land = three_spin_landscape(a, args.n)
        c_star = float(matched_weight_scale(a, land.info["alpha"]))
        half = 0.5 * land.info["second_moment"]
        c0s = [(f, f * c_star) for f in args.factors]
        if not args.no_report_c0:
            c0s.append((40 * d * d / c_star, 40.0 * d * d))
        for factor, c0 in c0s:
            params = init_kernel_params(jax.random.key(1), args.n, d, c0)
            for dt in args.dts:
                steps = int(round(args.T / dt))
                every = max(steps // 50, 1)
                steps = 50 + every * ((steps - 50) // every)
                t0 = time.perf_counter()
                end, first, rest = gd_losses(
                    land, params, float(meanfield_learning_rate(args.n, dt)(0)), steps, every
                )
                losses = np.concatenate([[float(land.value(params))], first, rest])
                times = np.concatenate([np.arange(51) * dt, 50 * dt + every * dt *
                                        np.arange(1, len(rest) + 1)])
                at = [losses[np.argmin(np.abs(times - t))] / half for t in (1.0, 3.0, args.T)]
                monotone = bool(np.all(np.diff(losses) < 0))
                cmax = float(jnp.max(jnp.abs(end.c))) / c_star
                print(f"{d} | {c0:.4g} | {factor:.3g} | {dt:g} | {monotone} | "
                      + " | ".join(f"{v:.3g}" for v in at)
                      + f" | {cmax:.3g} | {time.perf_counter() - t0:.1f}", flush=True)


if __name__ == "__main__":
    main()
