"""Where one step of the blocked online-SGD kernel spends its time at d = 40, against the
fused numba step (A1, N = 800, m = 1, one trajectory, float64).

One command:  python benchmarks/bench_blocked_floor.py  [--steps 64000]

The blocked kernel (:func:`mflab.meanfield.blocked.sgd_block`) does per block of B steps
two (N × d)·B matrix products (z = W Xᵀ at the start, W + D X at the end: 4 N d flops per
step whatever B is), draws the block's samples with the plain steps' per-step keys, and runs
a sequential scan whose step reads the (N × B) correction matrix. The fused numba loop does
2 N d flops per step in one pass over W. Printed, in µs per step, measured in this run:

1. numba fused (the reference of ``bench_meanfield_sgd.py``) and mflab's blocked fast path
   through ``mflab.run``, and the budget a 1.2× ratio leaves (numba / 1.2);
2. the parts: the two GEMMs alone, drawing the samples alone, ``sgd_block`` on pre-drawn
   samples for B = 8, 16, 32 (its scan = that minus the GEMMs);
3. the least a sequential step costs in XLA's CPU loop: one clip, one mean over N and one
   update of an (N,) vector per iteration of a ``fori_loop``.

GEMMs + samples + (3) is a floor for any blocked scheme run by XLA: the per-step sequential
work cannot fall below (3), and the GEMM work per step does not fall with B.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from bench_meanfield_sgd import EPS, N, mflab_rate, numba_fused
from mflab.meanfield import IsotropicGaussians, init_particles, network_landscape, sigma_a1, unit_a
from mflab.meanfield.blocked import sgd_block
from mflab.optimizers import sgd
from mflab.schedules import meanfield_learning_rate

D, DELTA = 40, 0.8


def per_step(fn, arg, n_steps):
    """µs per step of ``fn(arg)`` (jitted; a second call is timed), for n_steps steps."""
    f = jax.jit(fn)
    jax.block_until_ready(f(arg))
    t0 = time.perf_counter()
    jax.block_until_ready(f(arg))
    return (time.perf_counter() - t0) / n_steps * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=64_000)
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", True)
    steps = args.steps
    units, data = unit_a(sigma_a1()), IsotropicGaussians(DELTA, D)
    land = network_landscape(units, data, N)
    theta = init_particles(jax.random.key(0), units, N, D, 0.8)
    extra, W = units.split(theta)
    print(f"jax {jax.__version__}, A1, N={N}, d={D}, m=1, float64; µs per step", flush=True)

    t_nb = 1e6 / numba_fused(D, steps, DELTA)
    t_mf = 1e6 / mflab_rate(sgd(meanfield_learning_rate(N, EPS)), land, theta[None], steps)
    print(f"\n1. numba fused {t_nb:6.2f}   mflab blocked {t_mf:6.2f}   "
          f"(ratio {t_nb / t_mf:.2f}x; 1.2x needs <= {t_nb / 1.2:.2f})")

    B = 32
    n_blocks = steps // B
    key = jax.random.key(1)

    def draw_block(b):
        ks = b * B + jnp.arange(B)
        return jax.vmap(lambda k: land.draw(
            jax.random.fold_in(jax.random.fold_in(key, k), 0), k, 0))(ks)

    X0 = draw_block(0)[0].reshape(B, D).astype(W.dtype)  # drawn once: GEMMs only below

    def gemms(W):
        def block(b, W):
            X = X0 + 1e-9 * b  # b keeps XLA from hoisting the products out of the loop
            return W + 1e-9 * (W @ X.T) @ X
        return jax.lax.fori_loop(0, n_blocks, block, W)

    def samples(acc):
        def block(b, acc):
            X, Y = draw_block(b)
            return acc + X.sum() + Y.sum()
        return jax.lax.fori_loop(0, n_blocks, block, acc)

    t_gemm = per_step(gemms, W, steps)
    t_draw = per_step(samples, jnp.zeros(()), steps)
    print(f"\n2. two GEMMs per block (B = {B}) {t_gemm:6.2f}   drawing the samples {t_draw:6.2f}")
    eta = jnp.full(B, N * EPS)
    X_all, Y_all = jax.vmap(draw_block)(jnp.arange(n_blocks))
    X_all = X_all.astype(W.dtype)
    Y_all = Y_all.astype(W.dtype)
    for b in (8, 16, 32):
        Xb = X_all.reshape(-1, b, 1, D)
        Yb = Y_all.reshape(-1, b, 1)

        def blocked(carry, Xb=Xb, Yb=Yb, b=b):
            def one(c, xy):
                return sgd_block(units, *c, *xy, eta[:b]), None
            return jax.lax.scan(one, carry, (Xb, Yb))[0]

        t_blk = per_step(blocked, (W, extra), steps)
        print(f"   sgd_block on pre-drawn samples, B = {b:>2}: {t_blk:6.2f}"
              + (f"   (its scan: {t_blk - t_gemm:.2f})" if b == B else ""))

    (t1, t2), s1, slope = sigma_a1().knots, sigma_a1().c0, sigma_a1().betas[0]

    def floor(z):
        def step(k, z):
            act = s1 + slope * (jnp.clip(z, t1, t2) - t1)
            return z + 1e-3 * (1.0 - jnp.mean(act)) * ((z > t1) & (z < t2))
        return jax.lax.fori_loop(0, steps, step, z)

    t_floor = per_step(floor, W[:, 0], steps)
    print(f"\n3. least sequential step in XLA's loop (clip, mean, update of (N,)) {t_floor:6.2f}")
    lo = t_gemm + t_draw + t_floor
    print(f"\nfloor of a blocked scheme under XLA: {t_gemm:.2f} + {t_draw:.2f} + {t_floor:.2f} "
          f"= {lo:.2f} µs/step -> at most {t_nb / lo:.2f}x the numba step")


if __name__ == "__main__":
    main()
