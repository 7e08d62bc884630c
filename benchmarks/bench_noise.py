"""The Langevin noise of the Part B optimisers: one (N, d) standard normal draw per agent and step.

One command:  python benchmarks/bench_noise.py  [--draws 500]

1. Draws of an (800, 320) float32 standard normal (the A2/A3 network of C5), inside one
   jitted ``lax.scan`` of ``--draws`` draws (compilation excluded, best of 3):
   mflab's ``standard_normal`` (XLA's ThreeFry bits + erf⁻¹), ``jax.random.normal``
   (JAX's ThreeFry, the same erf⁻¹), JAX's raw 32-bit words of both generators, and
   NumPy's ``Generator.standard_normal`` (PCG64 + ziggurat, float32) in a plain loop.
2. One tuning run of B1 (SGD) and of B5 (Langevin) in C5's paper cell A2-bad at m = 1
   (N = 800, d = 320, float32, 2010 steps): what the noise costs a Langevin run, with
   mflab's noise and, in a fresh process, with ``jax.random.normal`` in its place.

Prints ns per normal and ratios against ``standard_normal`` in the same run.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from mflab.optimizers.base import standard_normal

SHAPE = (800, 320)


def best_of(fn, repeat: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def scan_of(draw, draws: int):
    """A jitted scan of ``draws`` draws, each summed (so none is optimised away)."""
    keys = jax.random.split(jax.random.key(0), draws)
    f = jax.jit(lambda ks: jax.lax.scan(lambda c, k: (c + draw(k).sum(), None), 0.0, ks)[0])
    return lambda: f(keys).block_until_ready()


def xla_words(k):
    state = jax.random.bits(k, (4,), jnp.uint32)
    return jax.lax.rng_bit_generator(state, SHAPE, jnp.uint32,
                                     algorithm=jax.lax.RandomAlgorithm.RNG_THREE_FRY)[1]


def draws_table(draws: int) -> None:
    n = draws * SHAPE[0] * SHAPE[1]
    rng = np.random.default_rng(0)

    def numpy_loop():
        s = 0.0
        for _ in range(draws):
            s += rng.standard_normal(SHAPE, dtype=np.float32).sum()
        return s

    rows = {
        "mflab standard_normal (XLA ThreeFry + erfinv)": scan_of(
            lambda k: standard_normal(k, SHAPE), draws),
        "jax.random.normal (JAX ThreeFry + erfinv)": scan_of(
            lambda k: jax.random.normal(k, SHAPE, jnp.float32), draws),
        "XLA ThreeFry words only": scan_of(lambda k: xla_words(k).astype(jnp.float32), draws),
        "JAX ThreeFry words only": scan_of(
            lambda k: jax.random.bits(k, SHAPE, jnp.uint32).astype(jnp.float32), draws),
        "NumPy PCG64 ziggurat, float32 (plain loop)": numpy_loop,
    }
    ref = None
    print(f"{draws} draws of a {SHAPE} float32 normal (ns per number; ratio to mflab's)")
    for name, fn in rows.items():
        ns = best_of(fn) / n * 1e9
        ref = ref or ns
        print(f"  {name:46s} {ns:6.2f} ns   {ns / ref:5.2f}x")


def langevin_runs() -> dict[str, tuple[int, float]]:
    """B1 and B5 tuning runs of the C5 paper cell A2-bad, m = 1 (the comparison harness's
    own jobs: N = 800, d = 320, float32, 2010 steps, scored once at the end): name →
    (steps, seconds, best of 2 after a first call)."""
    from mflab.compare import Protocol
    from mflab.compare.harness import _plan
    from mflab.compare.jobs import run_job
    from mflab.compare.tuning import Tuner
    from mflab.runs.config import build_config
    from mflab.studies.optnets import methods as M
    from mflab.studies.optnets.config import OptimizersNetworksConfig
    from mflab.studies.optnets.problems import problem_for

    cfg = build_config(OptimizersNetworksConfig, "paper", ["methods=B1,B5"])
    prob = problem_for(cfg, "A2-bad")
    methods = [M.method_for(m, cfg, "a2", 1) for m in cfg.methods]
    protocol = Protocol(budget=lambda p, m: cfg.budget(p.name, m), reference="B1")
    out = {}
    for c in _plan([prob], methods, [1], protocol):
        point = Tuner(c.entry.method.grids, 0).pending()[0]
        job = c.job(point, 0, "validation", 0)
        out[c.entry.name] = (c.steps, best_of(lambda job=job: run_job(job), repeat=2))
    return out


def langevin_share() -> None:
    """:func:`langevin_runs` here and, as the reference, in a fresh process whose Langevin
    noise is ``jax.random.normal`` (``--jax-normal``)."""
    import json
    import subprocess
    import sys

    mine = langevin_runs()
    ref = json.loads(subprocess.run([sys.executable, __file__, "--jax-normal"], check=True,
                                    capture_output=True, text=True).stdout.splitlines()[-1])
    print("C5 paper cell A2-bad, m = 1: one tuning run (N = 800, d = 320, float32), s:")
    print(f"  {'':14s} {'standard_normal':>16s} {'jax.random.normal':>18s}")
    for name, (steps, t) in mine.items():
        print(f"  {name:3s} {steps} steps {t:12.2f} s {ref[name][1]:15.2f} s"
              f"   ({ref[name][1] / t:.1f}x; {t / mine['B1'][1]:.0f}x B1 with mflab's noise)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--jax-normal", action="store_true",
                    help="(the reference run) Langevin noise from jax.random.normal; "
                    "print the runs' times as JSON")
    a = ap.parse_args()
    if a.jax_normal:
        import json

        import mflab.optimizers.base as base

        base.standard_normal = lambda k, shape: jax.random.normal(k, shape, jnp.float32)
        print(json.dumps(langevin_runs()))
        return
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}")
    draws_table(a.draws)
    langevin_share()


if __name__ == "__main__":
    main()
