"""B1–B5 as optax ``GradientTransformation``s, for use in an ordinary optax training loop.

An optax transformation sees one set of parameters (no agent axis): the whole
parameter pytree is **one agent**, so the B3 restart test g̃ᵀ(w⁺ − w) is a single dot
product over all leaves. The loop is the usual one::

    opt = as_optax_nesterov(eta=0.1)
    state = opt.init(params)
    for batch in data:
        grads = jax.grad(loss)(params, batch)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)

For the momentum methods (B2–B4) the optax ``params`` are the look-ahead point u,
where the gradient must be evaluated, and the iterate w (``state.x`` of the mflab
form) is kept in the optimiser state as ``state.w``: read the trained weights from
there. The iterates are those of the mflab forms with one agent (checked in
``tests/test_optax_adapters.py``). Hyper-parameters, defaults and references are those
of :func:`~mflab.optimizers.sgd.sgd`, :func:`~mflab.optimizers.nesterov.nesterov`,
:func:`~mflab.optimizers.nesterov.restart_nesterov`, :func:`~mflab.optimizers.mass.mass`
and :func:`~mflab.optimizers.langevin.sgld`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from mflab.optimizers.base import check_interval, check_positive, normal_like


class MomentumOptaxState(NamedTuple):
    """State of the B2–B4 adapters: the iterate ``w`` and the restart counter ``alpha``
    (an int32 scalar, unused and kept at 1 for a fixed γ)."""

    w: optax.Params
    alpha: jax.Array


class SGLDOptaxState(NamedTuple):
    """State of the B5 adapter: the base ``key`` and the step ``count``; step k draws its
    noise from ``fold_in(key, k)`` exactly as :func:`mflab.run` does."""

    key: jax.Array
    count: jax.Array


def _tmap(f, *trees):
    return jax.tree_util.tree_map(f, *trees)


def _tree_dot(x, y) -> jax.Array:
    return sum(
        jnp.vdot(a, b)
        for a, b in zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(y), strict=True)
    )


def as_optax_sgd(eta: float = 1e-4) -> optax.GradientTransformation:
    """B1 as optax: updates = −η g  (x ← x − η g̃(x)); same as ``optax.sgd(eta)``."""
    eta = check_positive("eta", eta)

    def init(params):
        del params
        return optax.EmptyState()

    def update(grads, state, params=None):
        del params
        return _tmap(lambda g: -eta * g, grads), state

    return optax.GradientTransformation(init, update)


def _momentum(eta1: float, eta2: float, gamma: float | None) -> optax.GradientTransformation:
    """Common kernel of B2–B4: params = u, state.w = w; γ = None means the B3 schedule.

    w⁺ = u − η1 g,  u⁺ = (1 + γ) w⁺ − γ w + η2 g,  updates = u⁺ − u.
    """

    def init(params):
        return MomentumOptaxState(w=params, alpha=jnp.ones((), jnp.int32))

    def update(grads, state, params=None):
        if params is None:
            raise ValueError(
                "this optax transformation needs params (the look-ahead point u): call "
                "opt.update(grads, state, params)."
            )
        w_new = _tmap(lambda u, g: u - eta1 * g, params, grads)
        if gamma is None:
            diff = _tmap(jnp.subtract, w_new, state.w)
            alpha = jnp.where(_tree_dot(grads, diff) > 0, 1, state.alpha)
            gam = (alpha - 1.0) / (alpha + 2.0)
            alpha_next = alpha + 1
        else:
            gam, alpha_next = gamma, state.alpha

        def u_next(wn, w, g, u):
            gl = jnp.asarray(gam, jnp.result_type(u))
            return ((1.0 + gl) * wn - gl * w + eta2 * g) - u

        updates = _tmap(u_next, w_new, state.w, grads, params)
        return updates, MomentumOptaxState(w=w_new, alpha=alpha_next)

    return optax.GradientTransformation(init, update)


def as_optax_nesterov(eta: float = 1e-4, gamma: float = 0.9) -> optax.GradientTransformation:
    """B2 (report eq. 32) as optax; params are u, ``state.w`` is the iterate w."""
    eta = check_positive("eta", eta)
    gamma = check_interval("gamma", gamma, 0.0, 1.0)
    return _momentum(eta, 0.0, gamma)


def as_optax_restart_nesterov(eta: float = 1e-4) -> optax.GradientTransformation:
    """B3 (report eq. 33; O'Donoghue & Candès 2015) as optax, with the restart convention
    of :func:`~mflab.optimizers.nesterov.restart_nesterov` over the whole pytree."""
    eta = check_positive("eta", eta)
    return _momentum(eta, 0.0, None)


def as_optax_mass(
    eta1: float = 1e-4, eta2: float = 1e-5, gamma: float | None = None, restart: bool = False
) -> optax.GradientTransformation:
    """B4, MaSS (report eqs. 34–35; Liu & Belkin 2020) as optax; params are u."""
    eta1 = check_positive("eta1", eta1)
    eta2 = check_positive("eta2", eta2, allow_zero=True)
    if restart and gamma is not None:
        raise ValueError(
            f"as_optax_mass: give either a fixed gamma or restart=True, not both; got "
            f"gamma={gamma!r} with restart=True."
        )
    if not restart:
        gamma = check_interval("gamma", 0.9 if gamma is None else gamma, 0.0, 1.0)
    return _momentum(eta1, eta2, None if restart else gamma)


def as_optax_sgld(key: jax.Array, eta: float = 1e-4, beta: float = 1.0):
    """B5, SGLD (report eq. 19, SPEC errata 1) as optax: updates = −η g + sqrt(2η/β) ξ.

    ``key`` seeds the noise; step k uses ``split(fold_in(key, k))[1]`` (the same
    stream as :func:`~mflab.optimizers.langevin.sgld` under :func:`mflab.run` with the
    same key), so a run is reproducible from the key alone.
    """
    eta = check_positive("eta", eta)
    beta = check_positive("beta", beta)
    scale = (2.0 * eta / beta) ** 0.5

    def init(params):
        del params
        return SGLDOptaxState(key=key, count=jnp.zeros((), jnp.int32))

    def update(grads, state, params=None):
        del params
        _, key_noise = jax.random.split(jax.random.fold_in(state.key, state.count))
        xi = normal_like(key_noise, grads)
        updates = _tmap(lambda g, z: -eta * g + scale * z, grads, xi)
        return updates, SGLDOptaxState(state.key, state.count + 1)

    return optax.GradientTransformation(init, update)
