"""The open engine (issue 21): a user's optimiser on the fast path, and a sweep that compiles once.

One command:  python benchmarks/bench_open_engine.py  [--steps 20000] [--sweep-steps 2000]

1. Heavy ball — the optimiser of ``docs/extending.md``, with the blocked kernel it registers
   for the network landscape — on the A2 network (N = 800, d = 320, m = 1, float64), as a
   fraction of B1's blocked rate in the same run; also its plain steps (``fast=False``) and
   the built-in Nesterov (fixed γ) on its kernel. Timed on a second identical call
   (compilation excluded); steps/s of one trajectory.
2. A step-size sweep of 8 values of B2 Nesterov on the same network, 2000 steps each, every
   optimiser a fresh factory call, on a landscape nothing was compiled for: the sweep's
   total time (its compilation included) against one run's on another fresh landscape (its
   compilation included), and the number of XLA compilations of each (JAX's monitoring
   event).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import types
from pathlib import Path

import jax
import numpy as np

import mflab
from mflab.meanfield import IsotropicGaussians, init_particles, network_landscape, sigma_a2, unit_a
from mflab.optimizers import nesterov, sgd
from mflab.schedules import meanfield_learning_rate

N, D, EPS = 800, 320, 1e-4
DOCS = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def heavy_ball_from_the_docs():
    """The ``HeavyBall`` class of docs/extending.md (its first block, without its demo),
    with its kernel registered."""
    block = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)[0]
    module = types.ModuleType("extending_example")  # a real module, as a user's file is
    sys.modules[module.__name__] = module
    exec(compile(block, str(DOCS), "exec"), module.__dict__)  # noqa: S102 - our own docs
    return module.HeavyBall


def rate(opt, land, theta, n_steps, fast=True):
    key = jax.random.key(0)
    obs = {"risk": land.value}
    mflab.run(opt, land, theta, n_steps, key, record_every=n_steps, observables=obs, fast=fast)
    t0 = time.perf_counter()
    tr = mflab.run(opt, land, theta, n_steps, key, record_every=n_steps, observables=obs,
                   fast=fast)
    jax.block_until_ready(tr.state)
    return n_steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--sweep-steps", type=int, default=2000)
    args = ap.parse_args()
    HeavyBall = heavy_ball_from_the_docs()
    with jax.enable_x64(True):
        units, data = unit_a(sigma_a2()), IsotropicGaussians(delta=0.5, d=D)
        land = network_landscape(units, data, N)
        theta = init_particles(jax.random.key(1), units, N, D, 0.4)[None]
        eta = meanfield_learning_rate(N, EPS)
        n = args.steps
        print(f"1. A2 network N = {N}, d = {D}, m = 1, float64, {n} steps (steps/s)")
        b1 = rate(sgd(eta), land, theta, n)
        hb = rate(HeavyBall(learning_rate=N * EPS, beta=0.9), land, theta, n)
        hb_plain = rate(HeavyBall(learning_rate=N * EPS, beta=0.9), land, theta, n // 4,
                        fast=False)
        nes = rate(nesterov(eta, 0.9), land, theta, n)
        for name, r in (("B1 sgd, blocked kernel", b1),
                        ("heavy ball (docs), its registered kernel", hb),
                        ("heavy ball, plain steps", hb_plain),
                        ("B2 nesterov, blocked kernel", nes)):
            print(f"   {name:44s} {r:10.0f}   {r / b1:5.2f} x B1")

        m = args.sweep_steps
        print(f"2. B2 step-size sweep, 8 values x {m} steps, fresh optimisers "
              "(compilation included), recording the start and the end")
        seen = []

        def listener(event, duration, **kw):
            if event == "/jax/core/compile/backend_compile_duration":
                seen.append(duration)

        jax.monitoring.register_event_duration_secs_listener(listener)
        observables = {
            "the exact risk R_N (0.2 s an evaluation)": lambda land: {"risk": land.value},
            "a cheap observable (mean |theta|)": lambda land: {
                "norm": lambda t: jax.numpy.mean(jax.numpy.abs(t))}}
        for what, make_obs in observables.items():
            def run_nesterov(land, eta, obs):
                mflab.run(nesterov(eta, 0.9), land, theta, m, jax.random.key(0),
                          record_every=m, observables=obs)

            land1 = network_landscape(units, data, N)  # fresh: nothing compiled for it yet
            n0 = len(seen)
            t0 = time.perf_counter()
            run_nesterov(land1, N * EPS, make_obs(land1))
            one, n_one = time.perf_counter() - t0, len(seen) - n0
            land2 = network_landscape(units, data, N)  # another fresh one for the sweep
            obs2 = make_obs(land2)
            n0 = len(seen)
            t0 = time.perf_counter()
            for f in np.geomspace(0.25, 4.0, 8):
                run_nesterov(land2, f * N * EPS, obs2)
            sweep, n_sweep = time.perf_counter() - t0, len(seen) - n0
            print(f"   {what}:")
            print(f"     one run {one:.2f} s ({n_one} compilations), the sweep of 8 "
                  f"{sweep:.2f} s ({n_sweep} compilations): sweep / one run = "
                  f"{sweep / one:.2f} (target <= 1.5)")
        jax.monitoring.unregister_event_duration_listener(listener)


if __name__ == "__main__":
    main()
