"""Throughput of MNIST training on the engine: B1 on the sigmoid network's landscape through
``mflab.run`` vs a plain NumPy loop of the same update.

    python benchmarks/bench_mnist.py [--N 1000] [--batch-size 100] [--epochs 3]

The SPEC A4 network (unit type (c), N hidden units) trained by mean-field SGD on 0-vs-rest,
one epoch = ⌊60000/m⌋ mini-batches of m. Prints training samples per second for
``mflab.run`` (compilation excluded: a first, identical call compiles) and for NumPy (the
same update, same dtype, same mini-batches — the landscape's epoch sampler), their ratio, and
the largest relative difference of the c_i after one epoch (equal up to float roundoff).
Data: ``--data-dir`` or the usual :func:`mflab.mnist.load_mnist` sources.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import mflab
from mflab.landscapes.sampling import EpochSampler
from mflab.meanfield import UNIT_SIGMOID, init_particles, network_landscape
from mflab.mnist import load_mnist, mnist_sets
from mflab.optimizers import sgd
from mflab.schedules import meanfield_learning_rate


def numpy_epoch(c, w, x, y, batches, eps):
    """Reference: θ_i ← θ_i + 2 ε (1/m) Σ_b (y_b − ŷ_b) ∇_θ σ*(x_b; θ_i), batch by batch."""
    N = c.shape[0]
    two_s = c.dtype.type(2 * eps)
    for ib in batches:
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
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)

    dt = np.dtype(args.dtype)
    train, _ = mnist_sets(load_mnist(args.data_dir, progress=False), 0, dtype=dt)
    n, m, N = train.n, args.batch_size, args.N
    land = network_landscape(UNIT_SIGMOID, train, N, batch_size=m, seed=3)
    theta = init_particles(jax.random.key(1), UNIT_SIGMOID, N, train.d, 1.0, c_init="uniform",
                           dtype=dt)[None]
    opt = sgd(meanfield_learning_rate(N, args.step_size))
    spe = n // m
    kw = dict(record_every=spe, observables={})

    t = time.perf_counter()
    mflab.run(opt, land, theta, spe, jax.random.key(0), **kw)  # compiles
    t_compile = time.perf_counter() - t
    tr = mflab.run(opt, land, theta, args.epochs * spe, jax.random.key(0), **kw)
    rate_jax = args.epochs * spe * m / tr.wall_time

    sampler = EpochSampler(n, m, seed=3)
    batches = [np.asarray(sampler.indices(k, 0)) for k in range(spe)]
    xn, yn = np.asarray(train.x), np.asarray(train.y)
    c0, w0 = np.asarray(theta[0, :, 0]), np.asarray(theta[0, :, 1:])
    t = time.perf_counter()
    cn, _ = numpy_epoch(c0, w0, xn, yn, batches, args.step_size)
    t_np = time.perf_counter() - t
    rate_np = spe * m / t_np

    one = mflab.run(opt, land, theta, spe, jax.random.key(0), **kw)
    diff = np.max(np.abs(np.asarray(one.state.x[0, :, 0]) - cn)) / np.max(np.abs(cn))

    print(f"mflab {mflab.__version__}, jax {jax.__version__}, numpy {np.__version__}, "
          f"device {jax.devices()[0].platform}")
    print(f"N={N}, m={m}, {args.dtype}, {spe} steps/epoch ({spe * m} samples)")
    print(f"compile (first one-epoch call): {t_compile:.2f} s")
    print(f"mflab.run:  {rate_jax:,.0f} samples/s ({tr.wall_time / args.epochs:.2f} s/epoch, "
          f"{args.epochs} epochs)")
    print(f"numpy loop: {rate_np:,.0f} samples/s ({t_np:.2f} s/epoch)")
    print(f"ratio mflab/numpy: {rate_jax / rate_np:.2f}")
    print(f"max |c_mflab - c_numpy| / max |c| after one epoch: {diff:.1e}")


if __name__ == "__main__":
    main()
