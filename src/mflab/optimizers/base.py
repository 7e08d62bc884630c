"""The optimiser interface shared by B1–B11 (SPEC Part B).

An optimiser is a small factory returning an :class:`Optimizer`, a NamedTuple of
pure functions (the optax/blackjax style):

* ``init(x0) -> state`` where ``x0`` is the ensemble's parameters: every leaf has a
  leading **agent axis** of size A.
* ``step(key, state, landscape) -> (state, info)``: one step for every agent.
  Gradients come from :func:`ensemble_grad` (the landscape's oracle, ``vmap``-ed over
  the agents with independent keys).

Every state is a NamedTuple whose first fields are ``x`` (the current iterate, the
point a user reads off), ``grad_evals`` (gradient evaluations — oracle calls — per agent
so far, an int32 scalar) and ``count`` (steps taken, int32: the k of a schedule η_k), so
the driver can record any optimiser the same way and compare them at equal cost.
``grads_per_step`` is the oracle calls each step costs one agent. Step sizes are
``ScalarOrSchedule`` (:mod:`mflab.schedules`). ``hyperparams`` records the factory's
arguments (for run records and for fast paths that recognise an update rule).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mflab.validation import check_ensemble

Params = Any
State = Any
Info = Any


class Optimizer(NamedTuple):
    """A pair of pure functions plus the per-step gradient cost (per agent).

    Optimisers compare and hash by identity (like the functions they hold), so they can
    key compilation caches.
    """

    init: Callable[[Params], State]
    step: Callable[[jax.Array, State, Any], tuple[State, Info]]
    grads_per_step: int
    name: str
    hyperparams: Mapping[str, Any] = MappingProxyType({})

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other


class EmptyInfo(NamedTuple):
    """Info of optimisers with no per-step diagnostics."""


# --------------------------------------------------------------------------- helpers


def num_agents(x: Params) -> int:
    """Size of the leading agent axis of an ensemble pytree (checked: floating leaves)."""
    return check_ensemble("parameters", x)


def zero_counts() -> tuple[jax.Array, jax.Array]:
    """(grad_evals, count) of a fresh state: int32 zeros."""
    z = jnp.zeros((), jnp.int32)
    return z, z


def ensemble_grad(landscape, key: jax.Array, x: Params, calls=0) -> Params:
    """g̃(x_i) for every agent i, with independent keys (``vmap`` of the one-agent oracle).

    Agent i draws with ``fold_in(key, i)`` (:func:`agent_keys`), so its stream does not
    depend on the size of the ensemble. ``calls`` is the index of this oracle call in each
    agent's sequence (an optimiser passes its ``state.grad_evals`` plus the calls already
    made this step): a landscape with a data stream (``landscape.draw``) uses it to walk
    its epochs. For an exact oracle no keys are drawn (A keys per step cost more than the
    Müller–Brown gradient itself).
    """
    if landscape.exact:
        return jax.vmap(landscape.grad)(x)
    A = jax.tree_util.tree_leaves(x)[0].shape[0]
    keys = agent_keys(key, A)
    if landscape.draw is not None:
        return jax.vmap(lambda k, a, xa: landscape.batch_grad(xa, landscape.draw(k, calls, a)))(
            keys, jnp.arange(A), x)
    return jax.vmap(landscape.sample_grad)(keys, x)


def agent_keys(key: jax.Array, n_agents: int) -> jax.Array:
    """The oracle keys of one step: ``fold_in(key, i)`` for agents i = 0..A−1."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n_agents))


def retract(landscape, x: Params) -> Params:
    """``landscape.retract`` applied to every agent (identity for unconstrained landscapes)."""
    if landscape.retract is None:
        return x
    return jax.vmap(landscape.retract)(x)


def ensemble_value(landscape, x: Params) -> jax.Array:
    """Φ(x_i) for every agent, shape ``(A,)``."""
    return jax.vmap(landscape.value)(x)


def normal_like(key: jax.Array, x: Params) -> Params:
    """Standard normal noise with the structure and dtype of ``x``.

    Drawn in float32 and cast: JAX's float64 PRNG is ~10x slower, and the noise of
    a Langevin step needs no 53-bit mantissa.
    """
    leaves, treedef = jax.tree_util.tree_flatten(x)
    keys = jax.random.split(key, len(leaves))
    noise = [
        jax.random.normal(k, jnp.shape(leaf), dtype=jnp.float32).astype(jnp.result_type(leaf))
        for k, leaf in zip(keys, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, noise)


def tree_axpy(alpha, x: Params, y: Params) -> Params:
    """alpha * x + y, leafwise (alpha a scalar or an agent-axis vector broadcast on the left)."""
    return jax.tree_util.tree_map(lambda a, b: _bcast(alpha, a) * a + b, x, y)


def tree_scale(alpha, x: Params) -> Params:
    return jax.tree_util.tree_map(lambda a: _bcast(alpha, a) * a, x)


def tree_add(*trees: Params) -> Params:
    return jax.tree_util.tree_map(lambda *xs: sum(xs[1:], xs[0]), *trees)


def tree_sub(x: Params, y: Params) -> Params:
    return jax.tree_util.tree_map(jnp.subtract, x, y)


def tree_agent_dot(x: Params, y: Params) -> jax.Array:
    """⟨x_i, y_i⟩ per agent, shape ``(A,)``."""
    parts = jax.tree_util.tree_map(
        lambda a, b: jnp.sum((a * b).reshape(a.shape[0], -1), axis=1), x, y
    )
    return sum(jax.tree_util.tree_leaves(parts))


def tree_agent_mean(x: Params) -> Params:
    """x̄ = mean over agents, kept with a leading axis of 1 (broadcasts against x).

    Computed as the product with the vector (1/A, …, 1/A): XLA's CPU reduction over the
    leading axis inside a jitted loop is far slower (measured on a (3, 800, 320) float32
    ensemble: 7 ms a step against 0.2 ms), which doubled the cost of a B6 step.
    """
    def mean(a):
        w = jnp.full((a.shape[0],), 1.0 / a.shape[0], a.dtype)
        return jnp.tensordot(w, a, axes=1)[None]

    return jax.tree_util.tree_map(mean, x)


def _bcast(alpha, leaf):
    alpha = jnp.asarray(alpha)
    if alpha.ndim == 0:
        return alpha.astype(jnp.result_type(leaf))
    return alpha.reshape(alpha.shape + (1,) * (leaf.ndim - alpha.ndim)).astype(
        jnp.result_type(leaf)
    )
