"""Hyper-parameters carried in the state (optax.inject_hyperparams for mflab): the same
iterates as the factory with those values, and one compilation for every value."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab
import mflab.optimizers as O
from mflab.landscapes import mueller_brown
from mflab.meanfield import IsotropicGaussians, init_particles, network_landscape, sigma_a1, unit_a
from mflab.schedules import meanfield_learning_rate

X0 = jnp.array([[-0.5, 1.5], [0.6, 0.0], [0.0, 0.5], [-1.0, 1.0]])
CASES = [
    ("sgd", ("eta",), {}, {"eta": 2e-4}),
    ("mass", ("eta1", "eta2"), {"gamma": 0.8}, {"eta1": 1e-4, "eta2": 2e-5}),
    ("restart_nesterov", ("eta",), {}, {"eta": 1e-4}),
    ("interacting_sgld", ("eta", "beta", "lam"), {}, {"eta": 1e-4, "beta": 0.5, "lam": 2.0}),
    ("hj_smoothing", ("eta", "beta", "gamma"), {"inner_steps": 10, "burn_in": 2},
     {"eta": 1e-3, "beta": 0.2, "gamma": 0.05}),
    ("mf_hom_sgld", ("Delta", "lam"), {"M": 10, "burn_in": 2}, {"Delta": 1e-3, "lam": 1.0}),
]


@pytest.mark.parametrize("name,names,static,values", CASES, ids=[c[0] for c in CASES])
def test_tunable_equals_the_factory(name, names, static, values):
    factory = getattr(O, name)
    L = mueller_brown()
    ref = mflab.run(factory(**static, **values), L, X0, 200, jax.random.key(0),
                    record_every=100)
    opt = O.tunable(factory, names, **static)
    state = O.init_with(opt, X0, **values)
    tr = mflab.run(opt, L, X0, 200, jax.random.key(0), record_every=100, state=state)
    # the same arithmetic with the constants traced: equal up to rounding
    np.testing.assert_allclose(tr.state.x, ref.state.x, rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(tr.grad_evals, ref.grad_evals)


def test_one_compilation_for_every_value():
    L = mueller_brown()
    opt = O.tunable(O.sgd, ("eta",))
    finals = []
    for eta in (1e-5, 1e-4, 3e-4):
        tr = mflab.run(opt, L, X0, 100, jax.random.key(0), record_every=50,
                       state=O.init_with(opt, X0, eta=eta))
        finals.append(tr.values[-1])
    chunk = mflab.driver.make_chunk(opt, L, (("value", L.value),), None)
    assert chunk._cache_size() == 1
    assert not np.allclose(finals[0], finals[2])  # the values did act


def test_tunable_uses_the_blocked_fast_path_on_networks():
    units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, 8)
    L = network_landscape(units, data, 12)
    th = init_particles(jax.random.key(1), units, 12, 8)[None]
    opt = O.tunable(O.nesterov, ("eta", "gamma"))
    state = O.init_with(opt, th, eta=meanfield_learning_rate(12, 1e-3)(0), gamma=0.7)
    assert L.fast_path(opt) is not None
    fast = mflab.run(opt, L, th, 320, jax.random.key(2), record_every=320, state=state,
                     observables={})
    plain = mflab.run(opt, L, th, 320, jax.random.key(2), record_every=320, state=state,
                      observables={}, fast=False)
    np.testing.assert_allclose(fast.state.x, plain.state.x, rtol=1e-10, atol=1e-12)


def test_tuned_momentum_keeps_float32_networks_on_the_fast_path():
    """A tuned γ is a float64 scalar under x64; the blocked kernel must keep a float32
    network float32 (it used to fail: scan carry float32 vs float64) and equal plain steps."""
    units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, 8)
    L = network_landscape(units, data, 12)
    th = init_particles(jax.random.key(1), units, 12, 8, dtype=jnp.float32)[None]
    opt = O.tunable(O.mass, ("eta1", "eta2", "gamma"))
    state = O.init_with(opt, th, eta1=0.012, eta2=0.004, gamma=0.7)
    fast = mflab.run(opt, L, th, 64, jax.random.key(2), record_every=64, state=state,
                     observables={})
    plain = mflab.run(opt, L, th, 64, jax.random.key(2), record_every=64, state=state,
                      observables={}, fast=False)
    assert fast.state.x.dtype == jnp.float32
    # float32 rounding over 64 steps of a 12-unit network (entries O(1))
    np.testing.assert_allclose(fast.state.x, plain.state.x, rtol=1e-4, atol=1e-5)


def test_tunable_refuses_bad_names_and_values():
    with pytest.raises(ValueError, match="has no argument"):
        O.tunable(O.sgd, ("learning_rate",))
    opt = O.tunable(O.sgd, ("eta",))
    with pytest.raises(ValueError, match="eta must be > 0; got -1"):
        O.init_with(opt, X0, eta=-1)
    with pytest.raises(ValueError, match="not tuned"):
        O.init_with(opt, X0, beta=1.0)
