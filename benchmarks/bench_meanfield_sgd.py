"""Steps/s of mean-field SGD and momentum on the network landscape, against CPU references.

One command:  python benchmarks/bench_meanfield_sgd.py  [--steps 200000] [--quick]

1. Online SGD, A1 (piecewise-linear σ, Δ = 0.8), N = 800, m = 1, one trajectory, float64,
   d = 40 and d = 320: a plain NumPy loop (draw, forward, rank-one update), the strongest CPU
   reference we could write — a numba kernel fusing the rank-one update of step t with
   W·x of step t+1 (one pass over W per step, samples drawn inside) — and mflab (B1 with
   η = Nε through ``mflab.run``: plain steps, and the exact blocked fast path). Ratios to
   both references.
2. B2 Nesterov and B4 MaSS (fixed γ) on the A2 network (N = 800, d = 320, m = 1, float64)
   through the blocked fast path, as a fraction of B1's blocked rate (same run).
3. m = 100 (A2, d = 320): B1–B5 through the general path, samples/s, against one NumPy
   mini-batch step (two GEMMs) per step.

mflab is timed on a second identical call (compilation excluded); every rate is steps/s of
one trajectory (section 3: samples/s).
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import mflab
from mflab.meanfield import (
    IsotropicGaussians,
    init_particles,
    network_landscape,
    sigma_a1,
    sigma_a2,
    unit_a,
)
from mflab.optimizers import interacting_sgld, mass, nesterov, restart_nesterov, sgd, sgld
from mflab.schedules import meanfield_learning_rate

N, EPS = 800, 1e-4


def numpy_loop(d, n_steps, delta, seed=0):
    """The report's loop: draw (x, y), forward, rank-one update, one step at a time."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((N, d)) * 0.8 / np.sqrt(d)
    sig = sigma_a1()
    (t1, t2), s1, slope = sig.knots, sig.c0, sig.betas[0]
    t0 = time.perf_counter()
    for _ in range(n_steps):
        y = 1.0 if rng.random() < 0.5 else -1.0
        x = rng.standard_normal(d) * (1.0 + y * delta)
        z = W @ x
        act = s1 + slope * (np.clip(z, t1, t2) - t1)
        dact = slope * ((z > t1) & (z < t2))
        W += (2 * EPS * (y - act.mean())) * dact[:, None] * x[None, :]
    return n_steps / (time.perf_counter() - t0)


def numba_fused(d, n_steps, delta):
    """Steps/s of the fused numba kernel (compiled first, then timed)."""
    import numba

    sig = sigma_a1()
    (t1, t2), s1, slope = sig.knots, sig.c0, sig.betas[0]

    @numba.njit(cache=False, fastmath=True)  # reassociated sums: the strongest numba loop
    def run(W, n_steps, seed):
        np.random.seed(seed)  # noqa: NPY002 (numba's in-kernel RNG)
        n, dd = W.shape
        x = np.empty(dd)
        xn = np.empty(dd)
        z = np.empty(n)
        zn = np.empty(n)
        y = 1.0 if np.random.random() < 0.5 else -1.0  # noqa: NPY002 (numba's in-kernel RNG)
        for j in range(dd):
            x[j] = np.random.standard_normal() * (1.0 + y * delta)  # noqa: NPY002 (numba's in-kernel RNG)
        for i in range(n):
            acc = 0.0
            for j in range(dd):
                acc += W[i, j] * x[j]
            z[i] = acc
        for _ in range(n_steps):
            mean = 0.0
            for i in range(n):
                zi = min(max(z[i], t1), t2)
                mean += s1 + slope * (zi - t1)
            coef = 2.0 * EPS * (y - mean / n)
            yn = 1.0 if np.random.random() < 0.5 else -1.0  # noqa: NPY002 (numba's in-kernel RNG)
            for j in range(dd):
                xn[j] = np.random.standard_normal() * (1.0 + yn * delta)  # noqa: NPY002 (numba's in-kernel RNG)
            for i in range(n):  # one pass over W: update row i with step t, then W_i·x_{t+1}
                c = coef * slope if t1 < z[i] < t2 else 0.0
                acc = 0.0
                for j in range(dd):
                    w = W[i, j] + c * x[j]
                    W[i, j] = w
                    acc += w * xn[j]
                zn[i] = acc
            x, xn = xn, x
            z, zn = zn, z
            y = yn
        return W

    W = np.random.default_rng(0).standard_normal((N, d)) * 0.8 / np.sqrt(d)
    run(W.copy(), 10, 0)
    t0 = time.perf_counter()
    run(W.copy(), n_steps, 1)
    return n_steps / (time.perf_counter() - t0)


def mflab_rate(opt, land, theta, n_steps, fast=True, batch=1):
    key = jax.random.key(1)
    kw = dict(record_every=n_steps, observables={}, fast=fast)
    mflab.run(opt, land, theta, n_steps, key, **kw)  # compile
    tr = mflab.run(opt, land, theta, n_steps, key, **kw)
    return n_steps * batch / (tr.wall_time)


def numpy_minibatch(d, n_steps, m, seed=0):
    """One NumPy mini-batch SGD step (forward GEMM, backward GEMM) per step: samples/s."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((N, d)) * 0.4 / np.sqrt(d)
    sig = sigma_a2()
    t0 = time.perf_counter()
    for _ in range(n_steps):
        y = np.where(rng.random(m) < 0.5, 1.0, -1.0)
        x = rng.standard_normal((m, d)) * (1.0 + 0.5 * y)[:, None]
        z = W @ x.T
        err = y - np.asarray(sig(z)).mean(0)
        W += (2 * EPS / m) * (np.asarray(sig.deriv(z)) * err[None]) @ x
    return n_steps * m / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true", help="a tenth of the steps")
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", True)
    steps = args.steps // (10 if args.quick else 1)
    print(f"jax {jax.__version__}, devices {jax.devices()}, N={N}, float64", flush=True)

    print("\n1. online SGD, A1, one trajectory (steps/s)")
    print(f"{'d':>4} {'numpy':>9} {'numba fused':>12} {'mflab plain':>12} "
          f"{'mflab blocked':>14} {'/numpy':>7} {'/numba':>7}")
    for d in (40, 320):
        units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, d)
        land = network_landscape(units, data, N)
        th = init_particles(jax.random.key(0), units, N, d, 0.8)[None]
        opt = sgd(meanfield_learning_rate(N, EPS))
        r_np = numpy_loop(d, max(steps // 10, 1000), 0.8)
        r_nb = numba_fused(d, steps, 0.8)
        r_pl = mflab_rate(opt, land, th, steps // 4, fast=False)
        r_bl = mflab_rate(opt, land, th, steps)
        print(f"{d:>4} {r_np:>9.0f} {r_nb:>12.0f} {r_pl:>12.0f} {r_bl:>14.0f} "
              f"{r_bl / r_np:>7.1f} {r_bl / r_nb:>7.2f}", flush=True)

    print("\n2. momentum on the A2 network, d = 320, m = 1 (steps/s, blocked fast path)")
    units, data = unit_a(sigma_a2()), IsotropicGaussians(0.5, 320)
    land = network_landscape(units, data, N)
    th = init_particles(jax.random.key(0), units, N, 320, 0.4)[None]
    rate = meanfield_learning_rate(N, 1e-6)
    r_b1 = mflab_rate(sgd(rate), land, th, steps)
    for name, opt in (("B2 nesterov", nesterov(rate, 0.9)),
                      ("B4 mass", mass(rate, 0.1 * N * 1e-6, 0.9))):
        r = mflab_rate(opt, land, th, steps)
        print(f"  {name:<12} {r:>9.0f}   {r / r_b1:.0%} of B1's {r_b1:.0f}", flush=True)

    print("\n3. m = 100, A2 network, d = 320 (samples/s, general path)")
    land = network_landscape(units, data, N, batch_size=100)
    n100 = max(steps // 100, 200)
    r_np = numpy_minibatch(320, n100, 100)
    print(f"  {'numpy GEMM step':<18} {r_np:>10.0f}")
    for name, opt in (("B1 sgd", sgd(rate)), ("B2 nesterov", nesterov(rate, 0.9)),
                      ("B3 restart", restart_nesterov(rate)),
                      ("B4 mass", mass(rate, 0.1 * N * 1e-6, 0.9)),
                      ("B5 sgld", sgld(rate, 1e6)),
                      ("B6 interacting", interacting_sgld(rate, 1e6, 1.0))):
        r = mflab_rate(opt, land, th, n100, batch=100)
        print(f"  {name:<18} {r:>10.0f}   {r / r_np:.1f}x numpy", flush=True)


if __name__ == "__main__":
    main()
