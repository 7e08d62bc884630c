"""Throughput of a full MNIST training pass: mflab (jit + lax.scan) vs a plain NumPy loop.

    python benchmarks/bench_mnist.py [--N 1000] [--batch-size 100] [--epochs 3]

The SPEC A4 network (unit type (c), N hidden units) trained by mean-field SGD on
0-vs-rest, one epoch = 60000 samples in mini-batches of m. Prints training samples
per second for ``mflab.mnist.train_epoch`` (compilation excluded: it is timed
separately) and for NumPy (the same update, same dtype, same permutation, one
matmul per term), their ratio, and the largest relative difference of the c_i after
one epoch (the two must agree up to float roundoff). Data: ``--data-dir`` or
the usual :func:`mflab.mnist.load_mnist` sources.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import mflab
from mflab.mnist import epoch_batches, init_params, load_mnist, one_vs_rest, train_epoch


def numpy_epoch(c, w, x, y, idx, s):
    """Reference: θ_i ← θ_i + 2 s (1/m) Σ_b (y_b − ŷ_b) ∇_θ σ*(x_b; θ_i), batch by batch."""
    N = c.shape[0]
    two_s = c.dtype.type(2 * s)
    for ib in idx:
        xb, yb = x[ib], y[ib]
        sig = 1 / (1 + np.exp(-(xb @ w.T)))
        g = (two_s / len(ib)) * (yb - sig @ c / N)
        dc = g @ sig
        dw = ((g[:, None] * sig * (1 - sig)) * c[None, :]).T @ xb
        c, w = c + dc, w + dw
    return c, w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=3, help="timed mflab epochs")
    ap.add_argument("--step-size", type=float, default=0.1)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()

    dt = np.dtype(args.dtype)
    task = one_vs_rest(load_mnist(args.data_dir, progress=False), 0, dtype=dt.type)
    x, y = jax.numpy.asarray(task.x_train), jax.numpy.asarray(task.y_train)
    n, m = x.shape[0], args.batch_size
    key = jax.random.key(0)
    p0 = init_params(jax.random.key(1), args.N, x.shape[1], dtype=dt)

    t = time.perf_counter()
    lowered = train_epoch.lower(p0, key, x, y, args.step_size, 0, batch_size=m)
    compiled = lowered.compile()
    t_compile = time.perf_counter() - t

    p = p0
    jax.block_until_ready(compiled(p, key, x, y, args.step_size, 0))  # warm-up
    t = time.perf_counter()
    for e in range(args.epochs):
        p, _ = compiled(p, jax.random.fold_in(key, e), x, y, args.step_size, 0)
    jax.block_until_ready(p)
    t_jax = time.perf_counter() - t
    samples = (n // m) * m
    rate_jax = samples * args.epochs / t_jax

    idx = np.asarray(epoch_batches(key, n, m))
    xn, yn = np.asarray(x), np.asarray(y)
    cn, wn = np.asarray(p0.c), np.asarray(p0.w)
    t = time.perf_counter()
    cn, wn = numpy_epoch(cn, wn, xn, yn, idx, args.step_size)
    t_np = time.perf_counter() - t
    rate_np = samples / t_np

    p1, _ = compiled(p0, key, x, y, args.step_size, 0)
    diff = np.max(np.abs(np.asarray(p1.c) - cn)) / np.max(np.abs(cn))

    print(
        f"mflab {mflab.__version__}, jax {jax.__version__}, numpy {np.__version__}, "
        f"device {jax.devices()[0].platform}"
    )
    print(f"N={args.N}, m={m}, {args.dtype}, {n // m} steps/epoch ({samples} samples)")
    print(f"compile: {t_compile:.2f} s")
    print(
        f"mflab train_epoch: {rate_jax:,.0f} samples/s ({t_jax / args.epochs:.2f} s/epoch, "
        f"{args.epochs} epochs)"
    )
    print(f"numpy loop:        {rate_np:,.0f} samples/s ({t_np:.2f} s/epoch)")
    print(f"ratio mflab/numpy: {rate_jax / rate_np:.2f}")
    print(f"max |c_mflab - c_numpy| / max |c| after one epoch: {diff:.1e}")


if __name__ == "__main__":
    main()
