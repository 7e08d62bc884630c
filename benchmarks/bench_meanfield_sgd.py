"""Steps/s of mflab's mean-field SGD (A1: piecewise-linear σ, N = 800) vs a plain NumPy loop.

One command:  python benchmarks/bench_meanfield_sgd.py  [--steps 200000] [--numpy-steps 20000]

Prints, for d = 40 and d = 320, float64 and float32, one trajectory: the NumPy
step-by-step loop in the style of the source report, mflab's "plain" scan kernel and
its exact "blocked" kernel, with the ratio to NumPy; then 8 seeds one after another vs
8 seeds at once (vmap on one device, and 2 host devices × vmap 4).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import mflab  # noqa: E402,F401  (enables x64)
from mflab.meanfield import IsotropicGaussians, advance, init_particles, sigma_a1, unit_a  # noqa: E402

N, DELTA, KAPPA, EPS = 800, 0.8, 0.8, 1e-4


def numpy_loop(d, n_steps, dtype, seed=0):
    """The report's loop: draw (x, y), forward, rank-one update, one step at a time."""
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((N, d)) * KAPPA / np.sqrt(d)).astype(dtype)
    sig = sigma_a1()
    t1, t2 = sig.knots
    s1 = sig.c0
    slope = sig.betas[0]
    t0 = time.perf_counter()
    for _ in range(n_steps):
        y = 1.0 if rng.random() < 0.5 else -1.0
        x = (rng.standard_normal(d) * (1.0 + y * DELTA)).astype(dtype)
        z = W @ x
        act = s1 + slope * (np.clip(z, t1, t2) - t1)
        dact = slope * ((z > t1) & (z < t2))
        yhat = act.mean()
        W += (2 * EPS * (y - yhat)) * dact[:, None] * x[None, :]
    return n_steps / (time.perf_counter() - t0)


def mflab_rate(d, n_steps, dtype, kernel, block=32, seeds=1, mode="single"):
    units, data = unit_a(sigma_a1()), IsotropicGaussians(DELTA, d)
    keys = jax.random.split(jax.random.key(1), seeds)
    th = jnp.stack([init_particles(k, units, N, d, KAPPA, dtype=dtype) for k in keys])
    nb = max(n_steps // block, 1)

    def one(theta, key, b1):
        return advance(units, data, theta, key, 0, b1, eps=EPS, kernel=kernel, block=block)

    if mode == "single":
        fn = lambda b1: [one(th[i], keys[i], b1) for i in range(seeds)]  # noqa: E731
    elif mode == "vmap":
        fn = lambda b1: jax.vmap(one, in_axes=(0, 0, None))(th, keys, b1)  # noqa: E731
    else:  # pmap over host devices, vmap inside
        nd = jax.local_device_count()
        pm = jax.pmap(jax.vmap(one, in_axes=(0, 0, None)), in_axes=(0, 0, None))
        tr, kr = th.reshape(nd, -1, *th.shape[1:]), keys.reshape(nd, -1, *keys.shape[1:])
        fn = lambda b1: pm(tr, kr, b1)  # noqa: E731
    jax.block_until_ready(fn(2))  # compile
    t0 = time.perf_counter()
    jax.block_until_ready(fn(nb))
    return seeds * nb * block / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--numpy-steps", type=int, default=20_000)
    ap.add_argument("--block", type=int, default=32)
    args = ap.parse_args()
    print(f"jax {jax.__version__}, devices {jax.devices()}, N={N}, A1 (Delta={DELTA})")
    hdr = ("d", "dtype", "numpy", "plain", "blocked", "blocked/numpy")
    print("{:>4} {:>8} {:>10} {:>10} {:>10} {:>14}".format(*hdr))
    for d in (40, 320):
        for dtype in (np.float64, np.float32):
            r_np = numpy_loop(d, args.numpy_steps, dtype)
            r_pl = mflab_rate(d, args.steps, dtype, "plain", args.block)
            r_bl = mflab_rate(d, args.steps, dtype, "blocked", args.block)
            print(f"{d:>4} {dtype.__name__:>8} {r_np:>10.0f} {r_pl:>10.0f} {r_bl:>10.0f} "
                  f"{r_bl / r_np:>14.1f}", flush=True)
    print("8 seeds, d=40, float64, blocked (total steps/s over all seeds):")
    for mode in ("single", "vmap", "pmap"):
        r = mflab_rate(40, args.steps // 4, np.float64, "blocked", args.block, seeds=8, mode=mode)
        print(f"  {mode:>7}: {r:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
