"""Splitting the agents over two CPU host devices gives the same trajectories."""

import subprocess
import sys

CODE = r"""
import mflab, mflab.devices
mflab.devices.use_host_devices(2)
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)  # the tolerances below are float64 roundoff
from mflab.landscapes import mueller_brown
from mflab.optimizers import interacting_sgld, sgd
assert jax.device_count() == 2
L = mueller_brown()
x0 = jnp.asarray(np.random.default_rng(0).uniform([-1.5, -0.2], [1.2, 2.0], (64, 2)))
for opt in (sgd(1e-4), interacting_sgld(1e-4, beta=0.1, lam=1.0)):
    a = mflab.run(opt, L, x0, 2000, jax.random.key(3), record_every=100, progress=False)
    b = mflab.run(opt, L, x0, 2000, jax.random.key(3), record_every=100, progress=False,
                  devices=2)
    assert len(b.state.x.sharding.device_set) == 2
    # per-agent work is identical; the ensemble mean (B6) is an all-reduce whose summation
    # order may differ in the last bit
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-10)
print("ok")
"""


def test_sharded_run_matches_single_device():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith("ok")


def test_too_late_for_host_devices_is_an_error():
    code = ("import mflab, mflab.devices, jax.numpy as jnp; jnp.ones(1)\n"
            "try:\n    mflab.devices.use_host_devices(2)\nexcept RuntimeError as e:\n"
            "    print('refused:', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "refused: JAX's CPU backend already started" in r.stdout, r.stderr[-2000:]
