"""The optax adapters: the same iterates as the native mflab forms (one agent), exactly
optax's own Nesterov for B2, and the conventions optax checks on its own optimisers
(optax/_src/alias_test.py): parabola and Rosenbrock, extra keyword arguments,
``inject_hyperparams`` under jit, dtype preservation and stability, ``MultiSteps``, and
chaining (a scale after MaSS is MaSS with scaled steps)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mflab.landscapes import from_loss
from mflab.optimizers import (
    as_optax_mass,
    as_optax_nesterov,
    as_optax_restart_nesterov,
    as_optax_sgd,
    as_optax_sgld,
    mass,
    nesterov,
    restart_nesterov,
    sgd,
    sgld,
)

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


def _optax_loop(opt, grad_fn, p0, n):
    """The ordinary optax loop; returns params after each step and the final state."""

    @jax.jit
    def run(p0):
        def body(carry, _):
            params, state = carry
            updates, state = opt.update(grad_fn(params), state, params)
            params = optax.apply_updates(params, updates)
            return (params, state), params

        (_, state), ps = jax.lax.scan(body, (p0, opt.init(p0)), None, length=n)
        return ps, state

    return run(p0)


def _mflab_points(opt, land, p0, n, seed=0):
    """The native optimiser on one agent: (w after each step, u after each step)."""
    key = jax.random.key(seed)
    state = opt.init(jax.tree_util.tree_map(lambda v: v[None], p0))

    def body(s, k):
        s = opt.step(jax.random.fold_in(key, k), s, land)[0]
        return s, (s.x, getattr(s, "u", s.x))

    _, (w, u) = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(n)))(state)
    take = lambda t: jax.tree_util.tree_map(lambda a: a[:, 0], t)  # noqa: E731
    return take(w), take(u)


CASES = {
    "sgd": (lambda eta: sgd(eta), lambda eta: as_optax_sgd(eta)),
    "nesterov": (lambda eta: nesterov(eta, 0.9), lambda eta: as_optax_nesterov(eta, 0.9)),
    "restart": (lambda eta: restart_nesterov(eta), lambda eta: as_optax_restart_nesterov(eta)),
    "mass": (lambda eta: mass(eta, 0.1 * eta, 0.9),
             lambda eta: as_optax_mass(eta, 0.9, eta2=0.1 * eta)),
    "mass-restart": (lambda eta: mass(eta, 0.1 * eta, restart=True),
                     lambda eta: as_optax_mass(eta, restart=True, ratio=0.1)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_adapter_gives_the_mflab_iterates_and_converges(name):
    loss, data, L, p_star = _problem()
    eta = 1.0 / L
    mf_factory, ox_factory = CASES[name]
    p0 = jnp.zeros(4)
    land = from_loss(loss, data)  # exact (full-data) gradients
    w_mf, u_mf = _mflab_points(mf_factory(eta), land, p0, N_STEPS)
    params, state = _optax_loop(ox_factory(eta), land.grad, p0, N_STEPS)
    # optax params are the points where gradients are taken: mflab's u (= w for SGD).
    # Same recursion, different rounding: ~1e-16 per step in a stable recursion; 1e-10
    # relative to |p*| covers 150 steps with a wide margin.
    scale = np.abs(p_star).max()
    np.testing.assert_allclose(params, u_mf, rtol=0, atol=1e-10 * scale)
    if "restart" in name:  # the restart branch was exercised
        alphas = []
        s = ox_factory(eta).init(p0)
        p = p0
        for _ in range(N_STEPS):
            upd, s = ox_factory(eta).update(land.grad(p), s, p)
            p = optax.apply_updates(p, upd)
            alphas.append(int(s[0].alpha))
        assert np.any(np.diff(alphas) < 0)
    # and it trains: the iterate w approaches the least-squares solution (closed form);
    # even GD at η = 1/L contracts the slowest direction (κ ≈ 100) enough in 150 steps
    # to be within 0.5 |p*|, momentum methods far closer
    err = np.abs(np.asarray(w_mf[-1]) - p_star).max() / scale
    assert err < (0.5 if name == "sgd" else 1e-2), err


def test_nesterov_adapter_is_optax_nesterov():
    """B2's direction t⁺ + g with t = γs is optax's trace s⁺ = g + γs, update g + γs⁺."""
    loss, data, L, _ = _problem(seed=2)
    g = from_loss(loss, data).grad
    p0 = jnp.ones(4)
    ours, _ = _optax_loop(as_optax_nesterov(0.5 / L, 0.9), g, p0, N_STEPS)
    ref, _ = _optax_loop(optax.sgd(0.5 / L, momentum=0.9, nesterov=True), g, p0, N_STEPS)
    # float64 roundoff of two algebraically equal recursions (γ t vs γ² s + γ g)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def test_sgld_adapter_gives_the_mflab_iterates():
    loss, data, L, _ = _problem(seed=1)
    eta, beta = 0.2 / L, 50.0
    land = from_loss(loss, data)
    p0 = jnp.ones(4)
    w_mf, _ = _mflab_points(sgld(eta, beta), land, p0, N_STEPS, seed=7)
    params, state = _optax_loop(as_optax_sgld(eta, beta, seed=7), land.grad, p0, N_STEPS)
    # same noise stream (fold_in(key(seed), k)), rounding-level differences only
    np.testing.assert_allclose(params, w_mf, rtol=0, atol=1e-10)
    assert int(state.count) == N_STEPS
    # and the noise is really there: the path differs from plain GD by O(sqrt(2η/β))
    gd, _ = _optax_loop(as_optax_sgd(eta), land.grad, p0, N_STEPS)
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
    land = from_loss(loss, data)
    _, u = _mflab_points(restart_nesterov(0.3), land, p0, 60)
    params, _ = _optax_loop(as_optax_restart_nesterov(0.3), land.grad, p0, 60)
    for leaf in ("a", "b"):
        np.testing.assert_allclose(params[leaf], u[leaf], rtol=0, atol=1e-10)


# ------------------------------------------------- optax's own conventions, every adapter

ADAPTERS = {
    "sgd": lambda: as_optax_sgd(learning_rate=1e-3),
    "nesterov": lambda: as_optax_nesterov(learning_rate=1e-3, gamma=0.9),
    "restart": lambda: as_optax_restart_nesterov(learning_rate=1e-3),
    "mass": lambda: as_optax_mass(learning_rate=1e-3, gamma=0.9),
    "mass-restart": lambda: as_optax_mass(learning_rate=1e-3, restart=True),
    # β large: the stationary spread sqrt(1/(β λ)) is far below optax's 3e-2 tolerance
    "sgld": lambda: as_optax_sgld(learning_rate=1e-3, beta=1e8),
}
FACTORIES = {"sgd": as_optax_sgd, "nesterov": as_optax_nesterov,
             "restart": as_optax_restart_nesterov, "mass": as_optax_mass,
             "mass-restart": as_optax_mass, "sgld": as_optax_sgld}
KWARGS = {"sgd": {}, "nesterov": {"gamma": 0.9}, "restart": {}, "mass": {"gamma": 0.9},
          "mass-restart": {"restart": True}, "sgld": {"beta": 1e8}}


def _parabola():
    final = jnp.array([1.0, -1.0, 1.0], jnp.float32)
    return jnp.array([-1.0, 10.0, 1.0], jnp.float32), final, lambda p: jnp.sum((p - final) ** 2)


def _rosenbrock():
    return (jnp.zeros(2, jnp.float32), jnp.array([1.0, 1.0], jnp.float32),
            lambda p: (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2)


@pytest.mark.parametrize("target", [_parabola, _rosenbrock], ids=["parabola", "rosenbrock"])
@pytest.mark.parametrize("name", list(ADAPTERS))
def test_optax_optimization_targets(name, target):
    # optax's alias test: 10 000 steps from its initial point to within 3e-2 (float32)
    p0, final, objective = target()
    params, _ = _optax_loop(ADAPTERS[name](), jax.grad(objective), p0, 10_000)
    np.testing.assert_allclose(params[-1], final, rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_extra_args_inject_hyperparams_and_schedules(name):
    opt = ADAPTERS[name]()
    params = [-jnp.ones((2, 3), jnp.float32), jnp.ones((2, 5, 2), jnp.float32)]
    grads = [jnp.ones((2, 3), jnp.float32), -jnp.ones((2, 5, 2), jnp.float32)]
    # extra keyword arguments are accepted (GradientTransformationExtraArgs)
    opt.update(grads, opt.init(params), params, unexpected_extra_arg=1)
    # inject_hyperparams under jit gives the same updates and inner state
    injected = optax.inject_hyperparams(FACTORIES[name])(learning_rate=1e-3, **KWARGS[name])
    u1, s1 = jax.jit(opt.update)(grads, jax.jit(opt.init)(params), params)
    u2, s2 = jax.jit(injected.update)(grads, jax.jit(injected.init)(params), params)
    for a, b in zip(jax.tree_util.tree_leaves(u1), jax.tree_util.tree_leaves(u2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # a schedule as the learning rate: constant schedule = the number
    sched = FACTORIES[name](learning_rate=optax.constant_schedule(1e-3), **KWARGS[name])
    u3, _ = jax.jit(sched.update)(grads, jax.jit(sched.init)(params), params)
    for a, b in zip(jax.tree_util.tree_leaves(u1), jax.tree_util.tree_leaves(u3), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32, jnp.float64])
@pytest.mark.parametrize("name", list(ADAPTERS))
def test_dtypes_preserved_and_state_stable(name, dtype):
    opt = ADAPTERS[name]()
    params = jnp.array([1.0, 2.0], dtype)
    grads = jax.grad(lambda x: jnp.sum(x.astype(jnp.float32) ** 2))(params)
    state = jax.jit(opt.init)(params)
    updates, new_state = jax.jit(opt.update)(grads, state, params)
    assert updates.dtype == grads.dtype
    # the state keeps its shapes and dtypes (lax.cond between old and new state traces)
    same = jax.tree_util.tree_map(lambda a, b: (a.shape, a.dtype) == (b.shape, b.dtype),
                                  state, new_state)
    assert all(jax.tree_util.tree_leaves(same))


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_multisteps_accumulation(name):
    opt = optax.MultiSteps(ADAPTERS[name](), every_k_schedule=4)
    params = jnp.array([1.0, 2.0], jnp.float32)
    state = jax.jit(opt.init)(params)
    for _ in range(8):
        updates, state = jax.jit(opt.update)(jax.grad(lambda x: jnp.sum(x**2))(params), state,
                                             params)
        params = optax.apply_updates(params, updates)
    assert jnp.all(jnp.isfinite(params)) and float(jnp.abs(params).max()) < 2.0


def test_chain_after_mass_scales_the_steps():
    """chain(MaSS(η), scale(½)) is MaSS with both steps halved (η₁ → η₁/2, η₂ → η₂/2)."""
    loss, data, L, _ = _problem(seed=4)
    g = from_loss(loss, data).grad
    p0 = jnp.ones(4)
    chained = optax.chain(as_optax_mass(1.0 / L, 0.9, ratio=0.1), optax.scale(0.5))
    a, _ = _optax_loop(chained, g, p0, 50)
    b, _ = _optax_loop(as_optax_mass(0.5 / L, 0.9, ratio=0.1), g, p0, 50)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_adapters_validate():
    with pytest.raises(ValueError, match=r"-0\.1"):
        as_optax_nesterov(-0.1)
    with pytest.raises(ValueError, match=r"beta must be > 0; got 0\.0"):
        as_optax_sgld(0.1, 0.0)
    with pytest.raises(ValueError, match=r"0\.5"):
        as_optax_mass(0.1, gamma=0.5, restart=True)
    with pytest.raises(TypeError, match="learning_rate or eta"):
        as_optax_sgd(0.1, eta=0.1)
    assert as_optax_sgd(eta=0.1) is not None  # the paper's name is an alias
