"""The jitted driver: chunking-invariance, recording, divergence errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab
from mflab.landscapes import Landscape, quadratic
from mflab.optimizers import sgd


def test_gd_on_quadratic_matches_closed_form():
    # GD on ½ λ x²: x_k = (1 − ηλ)^k x_0 exactly (diagonal H).
    lam = np.array([1.0, 10.0])
    L = quadratic(np.diag(lam))
    x0 = jnp.array([[1.0, 1.0], [2.0, -1.0]])
    eta = 0.05
    tr = mflab.run(sgd(eta), L, x0, 40, jax.random.key(0), record_every=4,
                   record_positions=True, progress=False)
    k = tr.steps[:, None, None]
    expected = (1 - eta * lam)[None, None, :] ** k * np.asarray(x0)[None]
    np.testing.assert_allclose(tr.positions, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(tr.grad_evals, tr.steps)
    assert tr.values.shape == (11, 2)


def test_chunking_does_not_change_the_trajectory():
    # a stochastic oracle: step k's key is fold_in(key, k) whatever the chunking
    L0 = quadratic(np.eye(2))
    L = Landscape("noisy", L0.value, L0.grad,
                  sample_grad=lambda k, x: x + jax.random.normal(k, x.shape), exact=False)
    x0 = jnp.ones((3, 2))
    a = mflab.run(sgd(0.1), L, x0, 60, jax.random.key(1), record_every=3, chunk_steps=6,
                  progress=False)
    b = mflab.run(sgd(0.1), L, x0, 60, jax.random.key(1), record_every=3, chunk_steps=60,
                  progress=False)
    np.testing.assert_array_equal(a.values, b.values)
    # resuming from the middle gives the same end state
    half = mflab.run(sgd(0.1), L, x0, 30, jax.random.key(1), record_every=3, progress=False)
    rest = mflab.run(sgd(0.1), L, x0, 30, jax.random.key(1), record_every=3, progress=False,
                     state=half.state, start_step=30)
    np.testing.assert_array_equal(rest.state.x, a.state.x)
    np.testing.assert_array_equal(rest.values[-1], a.values[-1])


def test_dtype_is_preserved():
    L = quadratic(np.eye(2))
    for dtype in (jnp.float32, jnp.float64):
        tr = mflab.run(sgd(0.1), L, jnp.ones((2, 2), dtype), 5, jax.random.key(0),
                       progress=False)
        assert tr.state.x.dtype == dtype


def test_divergence_names_step_agent_and_quantity():
    # GD on ½ x² with η = 3 multiplies x by −2 each step: overflows in float32.
    L = quadratic(np.eye(1))
    x0 = jnp.array([[0.0], [1.0]], jnp.float32)
    msg = r"observable .value. became non-finite by step \d+ for agent \(replica\) 1"
    with pytest.raises(mflab.DivergenceError, match=msg):
        mflab.run(sgd(3.0), L, x0, 400, jax.random.key(0), record_every=10, progress=False)


def test_bad_arguments():
    L = quadratic(np.eye(2))
    with pytest.raises(ValueError, match="multiple of record_every"):
        mflab.run(sgd(0.1), L, jnp.ones((2, 2)), 10, jax.random.key(0), record_every=3)
    with pytest.raises(ValueError, match="leading agent axis"):
        mflab.run(sgd(0.1), L, jnp.float64(1.0), 10, jax.random.key(0))
    with pytest.raises(ValueError, match="eta must be > 0; got -0.1"):
        sgd(-0.1)


def test_continue_on_divergence_reports_each_agents_first_bad_step():
    # GD on ½ x² with η = 3 multiplies x by −2 per step: agent 1 (x = 1, float32) overflows
    # after ~128 steps; agent 0 (x = 0) stays at 0 and is never reported
    L = quadratic(np.eye(1))
    x0 = jnp.array([[0.0], [1.0]], jnp.float32)
    tr = mflab.run(sgd(3.0), L, x0, 400, jax.random.key(0), record_every=10,
                   on_divergence="continue")
    assert tr.diverged[0] == -1
    first = tr.diverged[1]
    assert 0 < first <= 400 and first % 10 == 0
    v = tr.values[:, 1]
    assert np.all(np.isfinite(v[tr.steps < first])) and not np.isfinite(v[tr.steps == first][0])


def test_captured_arrays_are_arguments_not_constants():
    # a closure over 10⁵ numbers: jax.jit embeds them in the program, the driver's jit
    # passes them as an argument; both compute the same
    data = jax.random.normal(jax.random.key(0), (100_000,))

    def fn(x):
        return jnp.sum(data * x), x + data[:3]

    x = jnp.asarray(2.0)
    hoisted = mflab.driver.jit_with_array_arguments(fn)
    for a, b in zip(jax.tree_util.tree_leaves(hoisted(x)),
                    jax.tree_util.tree_leaves(jax.jit(fn)(x)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(jax.jit(fn).lower(x).as_text()) > 1_000_000  # the numbers, printed
    assert len(hoisted.lower(x).as_text()) < 5_000
    hoisted(x + 1)
    assert hoisted._cache_size() == 1  # one signature, one compilation


def test_an_empty_ensemble_is_refused_in_plain_words():
    # issue 26, case 7: x0 of shape (0, 2) used to fail inside a reshape
    L = quadratic(np.eye(2))
    with pytest.raises(ValueError, match=r"x0 has no agents: its leading agent axis is empty"):
        mflab.run(sgd(0.1), L, jnp.zeros((0, 2)), 10, jax.random.key(0))


def test_divergence_names_the_first_non_finite_step_not_the_record():
    # issue 26, case 7: GD with η = 3 on ½x² multiplies x by −2 a step; in float64
    # |x_k| = 2^k and x − 3x overflows on the step from k = 1023, so x_1024 is the first
    # non-finite iterate — between the records at 1000 and 2000
    with jax.enable_x64(True):
        L = quadratic(np.eye(1))
        x0 = jnp.array([[0.0], [1.0]])
        obs = {"sign": lambda x: jnp.sign(x[0])}  # finite at ±inf: the iterate goes first
        msg = r"the iterate became non-finite at step 1024 \(the first non-finite step\)"
        with pytest.raises(mflab.DivergenceError, match=msg) as e:
            mflab.run(sgd(3.0), L, x0, 2000, jax.random.key(0), record_every=1000,
                      observables=obs)
        assert (e.value.step, e.value.agent, e.value.quantity) == (1024, 1, "x")
        tr = mflab.run(sgd(3.0), L, x0, 2000, jax.random.key(0), record_every=1000,
                       observables=obs, on_divergence="continue")
        np.testing.assert_array_equal(tr.diverged, [-1, 1024])
