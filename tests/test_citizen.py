"""mflab as a citizen of the JAX ecosystem: importing it changes no global setting, float32
code next to it runs unchanged, and bad input to ``run`` gets a plain-language error."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import mflab
from mflab.landscapes import from_loss, mueller_brown, quadratic
from mflab.optimizers import sgd


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_import_changes_no_global_jax_setting():
    out = _fresh("import jax, jax.numpy as jnp\n"
                 "before = jax.config.jax_enable_x64\n"
                 "import mflab, mflab.meanfield, mflab.optimizers, mflab.landscapes\n"
                 "print(before, jax.config.jax_enable_x64, jnp.array(1.0).dtype)")
    assert out == "False False float32"


def test_float32_langevin_scan_runs_next_to_mflab():
    # a blackjax-style SGLD kernel scanned over float32 positions (the case that failed when
    # mflab switched x64 on), then mflab itself on float32: both stay float32
    code = """
import jax, jax.numpy as jnp
import mflab
from mflab.landscapes import quadratic
from mflab.optimizers import sgld

def logdensity_grad(x):
    return -x

def kernel(carry, key):
    x = carry
    noise = jax.random.normal(key, x.shape, x.dtype)
    return x + 1e-2 * logdensity_grad(x) + jnp.sqrt(2e-2) * noise, None

x0 = jnp.ones(3, jnp.float32)
xs, _ = jax.lax.scan(kernel, x0, jax.random.split(jax.random.key(0), 100))
tr = mflab.run(sgld(1e-2, 1.0), quadratic(jnp.eye(3)), jnp.ones((4, 3), jnp.float32), 100,
               jax.random.key(1), record_every=50)
print(xs.dtype, tr.state.x.dtype, tr.values.dtype)
"""
    assert _fresh(code) == "float32 float32 float32"


L = mueller_brown()
X0 = jnp.zeros((3, 2))


@pytest.mark.parametrize("kwargs,err,msg", [
    (dict(x0=jnp.zeros((3, 5))), ValueError,
     r"x0 does not fit the landscape .mueller-brown.: it takes flat parameters of dimension 2"),
    (dict(key=1), TypeError, r"key must be a JAX PRNG key"),
    (dict(optimizer=optax.sgd(0.1)), TypeError, r"looks like an optax transformation"),
    (dict(x0=jnp.zeros((3, 2), jnp.int32)), TypeError, r"x0 must be floating point"),
    (dict(x0=jnp.zeros(2)), ValueError, r"leading agent axis"),
    (dict(n_steps=-1), ValueError, r"n_steps must be an integer >= 0; got -1"),
    (dict(on_divergence="ignore"), ValueError, r"on_divergence must be one of"),
])
def test_run_refuses_common_mistakes_in_plain_language(kwargs, err, msg):
    args = dict(optimizer=sgd(1e-4), landscape=L, x0=X0, n_steps=10, key=jax.random.key(0))
    args.update(kwargs)
    with pytest.raises(err, match=msg):
        mflab.run(**args)


def test_from_loss_refuses_a_fractional_batch():
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1 and <= 4; got 1.5"):
        from_loss(lambda p, b: 0.0, (np.ones((4, 2)), np.ones(4)), batch_size=1.5)


def test_library_calls_show_no_progress_bar(capsys):
    mflab.run(sgd(0.1), quadratic(np.eye(2)), jnp.ones((2, 2)), 20, jax.random.key(0))
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
