"""The optax adapters run in an ordinary optax loop (optax.apply_updates) and produce the
iterates of the mflab forms (one agent); they also solve a least-squares problem whose
solution is known in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import mflab
from mflab.landscapes import from_loss
from mflab.optimizers.langevin import sgld
from mflab.optimizers.mass import mass
from mflab.optimizers.nesterov import nesterov, restart_nesterov
from mflab.optimizers.optax_adapters import (
    as_optax_mass,
    as_optax_nesterov,
    as_optax_restart_nesterov,
    as_optax_sgd,
    as_optax_sgld,
)
from mflab.optimizers.sgd import sgd

N_STEPS = 150


def _problem(seed=0):
    """Least squares ½ mean (X p − y)² with condition number ~100 (so restarts happen)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 4)) * np.array([10.0, 3.0, 1.0, 1.0])
    y = X @ rng.normal(size=4) + 0.3 * rng.normal(size=40)
    data = (jnp.asarray(X), jnp.asarray(y))

    def loss(p, batch):
        xb, yb = batch
        return 0.5 * jnp.mean((xb @ p - yb) ** 2)

    L = np.linalg.eigvalsh(X.T @ X / len(X)).max()
    p_star = np.linalg.lstsq(X, y, rcond=None)[0]
    return loss, data, L, p_star


def _optax_loop(opt, loss, data, p0, n):
    """The ordinary optax loop; returns the params (u for momentum methods) and states."""

    @jax.jit
    def run(p0):
        def body(carry, _):
            params, state = carry
            grads = jax.grad(loss)(params, data)
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            return (params, state), (params, state)

        return jax.lax.scan(body, (p0, opt.init(p0)), None, length=n)[1]

    return run(p0)


CASES = {
    "sgd": (lambda eta: sgd(eta), lambda eta: as_optax_sgd(eta)),
    "nesterov": (lambda eta: nesterov(eta, 0.9), lambda eta: as_optax_nesterov(eta, 0.9)),
    "restart": (lambda eta: restart_nesterov(eta), lambda eta: as_optax_restart_nesterov(eta)),
    "mass": (lambda eta: mass(eta, 0.1 * eta, 0.9), lambda eta: as_optax_mass(eta, 0.1 * eta, 0.9)),
    "mass-restart": (
        lambda eta: mass(eta, 0.1 * eta, restart=True),
        lambda eta: as_optax_mass(eta, 0.1 * eta, restart=True),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_optax_adapter_gives_the_mflab_iterates_and_converges(name):
    loss, data, L, p_star = _problem()
    eta = 1.0 / L
    mf_factory, ox_factory = CASES[name]
    p0 = jnp.zeros(4)
    land = from_loss(loss, data)  # exact (full-data) gradients
    tr = mflab.run(
        mf_factory(eta),
        land,
        p0[None],
        N_STEPS,
        jax.random.key(0),
        record_positions=True,
        progress=False,
    )
    w_mf = tr.positions[1:, 0]  # (n, d): the iterate x = w after each step
    params, state = _optax_loop(ox_factory(eta), loss, data, p0, N_STEPS)
    w_ox = np.asarray(params if name == "sgd" else state.w)
    # same recursion, different rounding (params + (u⁺ − u) vs u⁺): ~1e-16 per step in a
    # stable recursion; 1e-10 relative to |p*| covers 150 steps with a wide margin
    scale = np.abs(p_star).max()
    np.testing.assert_allclose(w_ox, w_mf, rtol=0, atol=1e-10 * scale)
    if name != "sgd":  # optax params are the look-ahead point u
        np.testing.assert_allclose(
            np.asarray(params[-1]), np.asarray(tr.state.u[0]), rtol=0, atol=1e-10 * scale
        )
    if "restart" in name:  # the restart branch was exercised
        assert np.any(np.diff(np.asarray(state.alpha)) < 0)
    # and it trains: the last iterate approaches the least-squares solution (closed form);
    # even GD at η = 1/L contracts the slowest direction (κ ≈ 100) enough in 150 steps
    # to be within 0.5 |p*|, momentum methods far closer
    err = np.abs(w_ox[-1] - p_star).max() / scale
    assert err < (0.5 if name == "sgd" else 1e-2), err


def test_optax_sgld_gives_the_mflab_iterates():
    loss, data, L, _ = _problem(seed=1)
    eta, beta = 0.2 / L, 50.0
    key = jax.random.key(7)
    p0 = jnp.ones(4)
    tr = mflab.run(
        sgld(eta, beta),
        from_loss(loss, data),
        p0[None],
        N_STEPS,
        key,
        record_positions=True,
        progress=False,
    )
    params, state = _optax_loop(as_optax_sgld(key, eta, beta), loss, data, p0, N_STEPS)
    # same noise stream (fold_in(key, k)), rounding-level differences only
    np.testing.assert_allclose(np.asarray(params), tr.positions[1:, 0], rtol=0, atol=1e-10)
    assert int(state.count[-1]) == N_STEPS
    # and the noise is really there: the path differs from plain GD by O(sqrt(2η/β))
    gd, _ = _optax_loop(as_optax_sgd(eta), loss, data, p0, N_STEPS)
    assert np.abs(np.asarray(params) - np.asarray(gd)).max() > 1e-3


def test_momentum_adapter_on_a_pytree_matches_mflab():
    """Params as a dict of arrays: the whole pytree is one agent (one restart test)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 5))
    y = X @ rng.normal(size=5)
    data = (jnp.asarray(X), jnp.asarray(y))

    def loss(p, batch):
        xb, yb = batch
        return 0.5 * jnp.mean((xb[:, :2] @ p["a"] + xb[:, 2:] @ p["b"] - yb) ** 2)

    p0 = {"a": jnp.zeros(2), "b": jnp.zeros(3)}
    eta = 0.3
    opt = restart_nesterov(eta)
    state = opt.init(jax.tree_util.tree_map(lambda v: v[None], p0))
    land = from_loss(loss, data)
    step = jax.jit(lambda s, k: opt.step(jax.random.key(k), s, land)[0])
    for k in range(60):
        state = step(state, k)
    _, ostate = _optax_loop(as_optax_restart_nesterov(eta), loss, data, p0, 60)
    for leaf in ("a", "b"):
        np.testing.assert_allclose(
            np.asarray(ostate.w[leaf][-1]), np.asarray(state.x[leaf][0]), rtol=0, atol=1e-10
        )


def test_momentum_adapter_needs_params_and_validates():
    opt = as_optax_nesterov(0.1)
    with pytest.raises(ValueError, match="params"):
        opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
    with pytest.raises(ValueError, match=r"-0\.1"):
        as_optax_nesterov(-0.1)
    with pytest.raises(ValueError, match=r"0\.0"):
        as_optax_sgld(jax.random.key(0), 0.1, 0.0)
    with pytest.raises(ValueError, match=r"0\.5"):
        as_optax_mass(0.1, 0.01, gamma=0.5, restart=True)
