"""Driver throughput on Müller–Brown: mflab (jit + lax.scan) vs a plain vectorised NumPy loop.

    python benchmarks/bench_driver_mueller_brown.py [--agents 1000] [--steps 100000]

GD with η = 1e-4 from uniform starts in the SPEC C6 box. Prints agent-steps per
second for mflab (hand-written gradient and jax.grad) and for NumPy (same update,
same float64, one array op per term), and the ratio. The NumPy loop's rate does
not depend on the number of steps, so it runs ``--numpy-steps`` (default 10⁴) to
keep the benchmark short; both loops start from the same points and the script
checks they agree after those steps.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import mflab
from mflab.landscapes import Landscape, mueller_brown
from mflab.landscapes import mueller_brown_potential as mb
from mflab.optimizers import sgd

A, a, b, c = map(np.array, (mb.A, mb.a, mb.b, mb.c))
X0, Y0 = np.array(mb.x0), np.array(mb.y0)


def numpy_gd(p: np.ndarray, eta: float, steps: int) -> np.ndarray:
    """Reference: plain NumPy GD on (agents, 2), vectorised over agents."""
    x, y = p[:, 0].copy(), p[:, 1].copy()
    for _ in range(steps):
        gx = np.zeros_like(x)
        gy = np.zeros_like(y)
        for k in range(4):
            dx, dy = x - X0[k], y - Y0[k]
            e = A[k] * np.exp(a[k] * dx * dx + b[k] * dx * dy + c[k] * dy * dy)
            gx += e * (2 * a[k] * dx + b[k] * dy)
            gy += e * (b[k] * dx + 2 * c[k] * dy)
        x -= eta * gx
        y -= eta * gy
    return np.stack([x, y], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--numpy-steps", type=int, default=10_000)
    ap.add_argument("--eta", type=float, default=1e-4)
    args = ap.parse_args()

    L = mueller_brown()
    lo, hi = np.array([-1.5, -0.2]), np.array([1.2, 2.0])
    x0 = lo + (hi - lo) * np.random.default_rng(0).random((args.agents, 2))
    opt = sgd(args.eta)
    rec = args.steps // 100

    def timed(landscape):
        # warm-up on the same shapes (compile), then time
        mflab.run(opt, landscape, jnp.asarray(x0), args.steps, jax.random.key(0),
                  record_every=rec, progress=False)
        tr = mflab.run(opt, landscape, jnp.asarray(x0), args.steps, jax.random.key(0),
                       record_every=rec, progress=False)
        return tr

    tr = timed(L)
    rate_hand = args.agents * args.steps / tr.wall_time
    autodiff = Landscape("mb-autodiff", mb.value, jax.grad(mb.value), dim=2)
    tr_auto = timed(autodiff)
    rate_auto = args.agents * args.steps / tr_auto.wall_time

    t0 = time.perf_counter()
    ref = numpy_gd(x0, args.eta, args.numpy_steps)
    t_np = time.perf_counter() - t0
    rate_np = args.agents * args.numpy_steps / t_np

    check = mflab.run(opt, L, jnp.asarray(x0), args.numpy_steps, jax.random.key(0),
                      record_every=args.numpy_steps, progress=False)
    err = float(np.max(np.abs(np.asarray(check.state.x) - ref)))

    print(f"Müller–Brown GD, {args.agents} agents, float64, backend={jax.default_backend()}")
    print(f"  mflab (hand gradient): {args.steps} steps in {tr.wall_time:.2f} s "
          f"-> {rate_hand:.3g} agent-steps/s")
    print(f"  mflab (jax.grad)     : {args.steps} steps in {tr_auto.wall_time:.2f} s "
          f"-> {rate_auto:.3g} agent-steps/s")
    print(f"  NumPy loop           : {args.numpy_steps} steps in {t_np:.2f} s "
          f"-> {rate_np:.3g} agent-steps/s")
    print(f"  ratio mflab/NumPy = {rate_hand / rate_np:.1f}x ; hand/jax.grad = "
          f"{rate_hand / rate_auto:.2f}x ; max |mflab − NumPy| after {args.numpy_steps} "
          f"steps = {err:.1e}")


if __name__ == "__main__":
    main()
