"""Driver throughput on Müller–Brown: mflab (jit + lax.scan) vs a plain vectorised NumPy loop.

    python benchmarks/bench_driver_mueller_brown.py [--agents 1000] [--steps 100000]
                                                    [--host-devices 2]

GD with η = 1e-4 from uniform starts in the SPEC C6 box. Prints agent-steps per
second for mflab (hand-written gradient and jax.grad) and for NumPy (same update,
same float64, one array op per term), and the ratio. The NumPy loop's rate does
not depend on the number of steps, so it runs ``--numpy-steps`` (default 10⁴) to
keep the benchmark short; both loops start from the same points and the script
checks they agree after those steps. With ``--host-devices 2`` (default: the number of
cores) mflab also runs with the agents split over that many CPU host devices.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import mflab.devices

if __name__ == "__main__":
    _n = os.cpu_count() or 1
    if "--host-devices" in sys.argv:  # XLA reads its flags before argparse runs
        _n = int(sys.argv[sys.argv.index("--host-devices") + 1])
    mflab.devices.use_host_devices(_n)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a script may opt in: float64 and float32 both run

import mflab  # noqa: E402
from mflab.landscapes import Landscape, mueller_brown  # noqa: E402
from mflab.landscapes import mueller_brown_potential as mb  # noqa: E402
from mflab.optimizers import sgd  # noqa: E402

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
    ap.add_argument("--host-devices", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    L = mueller_brown()
    lo, hi = np.array([-1.5, -0.2]), np.array([1.2, 2.0])
    x0 = lo + (hi - lo) * np.random.default_rng(0).random((args.agents, 2))
    opt = sgd(args.eta)
    rec = args.steps // 100

    def rate(landscape, dtype=jnp.float64, devices=None):
        # warm-up on the same shapes (compile), then the best of two timed runs
        x = jnp.asarray(x0, dtype)
        times = []
        for _ in range(3):
            tr = mflab.run(opt, landscape, x, args.steps, jax.random.key(0), record_every=rec,
                           progress=False, devices=devices)
            times.append(tr.wall_time)
        return args.agents * args.steps / min(times[1:])

    def numpy_rate(dtype):
        p = x0.astype(dtype)
        t0 = time.perf_counter()
        out = numpy_gd(p, args.eta, args.numpy_steps)
        return args.agents * args.numpy_steps / (time.perf_counter() - t0), out

    autodiff = Landscape("mb-autodiff", mb.value, jax.grad(mb.value), dim=2)
    rate_hand = rate(L)
    rate_auto = rate(autodiff)
    rate_f32 = rate(L, jnp.float32)
    ndev = min(args.host_devices, jax.device_count())
    rate_dev = rate(L, devices=ndev) if ndev > 1 and args.agents % ndev == 0 else None
    rate_dev32 = rate(L, jnp.float32, ndev) if rate_dev else None
    rate_np, ref = numpy_rate(np.float64)
    rate_np32, _ = numpy_rate(np.float32)

    check = mflab.run(opt, L, jnp.asarray(x0), args.numpy_steps, jax.random.key(0),
                      record_every=args.numpy_steps, progress=False)
    err = float(np.max(np.abs(np.asarray(check.state.x) - ref)))

    print(f"Müller–Brown GD, {args.agents} agents × {args.steps} steps (NumPy: "
          f"{args.numpy_steps} steps), backend={jax.default_backend()}, "
          f"{jax.device_count()} device(s), agent-steps/s:")
    print(f"  NumPy loop, float64          : {rate_np:.3g}")
    print(f"  NumPy loop, float32          : {rate_np32:.3g}")
    print(f"  mflab, jax.grad, float64     : {rate_auto:.3g}  ({rate_auto / rate_np:.1f}x NumPy)")
    print(f"  mflab, hand gradient, float64: {rate_hand:.3g}  ({rate_hand / rate_np:.1f}x NumPy;"
          f" {rate_hand / rate_auto:.2f}x jax.grad)")
    print(f"  mflab, hand gradient, float32: {rate_f32:.3g}  ({rate_f32 / rate_np32:.1f}x NumPy "
          f"float32)")
    if rate_dev:
        print(f"  mflab, {ndev} host devices, float64: {rate_dev:.3g}  "
              f"({rate_dev / rate_np:.1f}x NumPy)")
        print(f"  mflab, {ndev} host devices, float32: {rate_dev32:.3g}  "
              f"({rate_dev32 / rate_np32:.1f}x NumPy float32)")
    print(f"  check: max |mflab − NumPy| after {args.numpy_steps} steps = {err:.1e}")


if __name__ == "__main__":
    main()
