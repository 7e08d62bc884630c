"""The optimiser interface shared by B1–B11 (SPEC Part B).

An optimiser is a small factory returning an :class:`Optimizer`, a NamedTuple of
pure functions (the optax/blackjax style):

* ``init(x0) -> state`` where ``x0`` is the ensemble's parameters: every leaf has a
  leading **agent axis** of size A.
* ``step(key, state, landscape) -> (state, info)``: one step for every agent.
  Gradients come from ``landscape.sample_grad(key, x)`` (one agent), ``vmap``-ed
  over the agents with independent keys.

Every state is a NamedTuple whose first fields are ``x`` (the current iterate, the
point a user reads off) and ``grad_evals`` (gradient evaluations per agent so far,
an int scalar), so the driver can record any optimiser the same way and compare
them at equal gradient cost. ``grads_per_step`` is the gradient evaluations each
step costs one agent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Params = Any
State = Any
Info = Any


class Optimizer(NamedTuple):
    """A pair of pure functions plus the per-step gradient cost (per agent)."""

    init: Callable[[Params], State]
    step: Callable[[jax.Array, State, Any], tuple[State, Info]]
    grads_per_step: int
    name: str


class EmptyInfo(NamedTuple):
    """Info of optimisers with no per-step diagnostics."""


# --------------------------------------------------------------------------- helpers


def num_agents(x: Params) -> int:
    """Size of the leading agent axis of an ensemble pytree."""
    leaves = jax.tree_util.tree_leaves(x)
    if not leaves or jnp.ndim(leaves[0]) == 0:
        raise ValueError(
            "parameters need a leading agent axis on every leaf (shape (A, ...)); "
            "for one agent use x[None]."
        )
    A = leaves[0].shape[0]
    for leaf in leaves:
        if jnp.ndim(leaf) == 0 or leaf.shape[0] != A:
            shapes = [jnp.shape(leaf) for leaf in leaves]
            raise ValueError(f"every leaf needs the same leading agent axis; got shapes {shapes}.")
    return A


def ensemble_grad(landscape, key: jax.Array, x: Params) -> Params:
    """g̃(x_i) for every agent i, with independent keys (``vmap`` of the one-agent oracle).

    For an exact oracle no keys are drawn (splitting A keys per step costs more than
    the Müller–Brown gradient itself).
    """
    if landscape.exact:
        return jax.vmap(landscape.grad)(x)
    keys = jax.random.split(key, num_agents(x))
    return jax.vmap(landscape.sample_grad)(keys, x)


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
    """x̄ = mean over agents, kept with a leading axis of 1 (broadcasts against x)."""
    return jax.tree_util.tree_map(lambda a: jnp.mean(a, axis=0, keepdims=True), x)


def _bcast(alpha, leaf):
    alpha = jnp.asarray(alpha)
    if alpha.ndim == 0:
        return alpha.astype(jnp.result_type(leaf))
    return alpha.reshape(alpha.shape + (1,) * (leaf.ndim - alpha.ndim)).astype(
        jnp.result_type(leaf)
    )


# ------------------------------------------------------------------------ validation


def check_positive(name: str, value, *, allow_zero: bool = False) -> float:
    """Refuse a non-positive (or negative, with ``allow_zero``) hyper-parameter."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number; got {value!r}.") from None
    ok = v >= 0 if allow_zero else v > 0
    if not ok or v != v:
        allowed = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {allowed}; got {value!r}.")
    return v


def check_int(name: str, value, *, minimum: int = 1) -> int:
    """Refuse a non-integer or too-small count."""
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_interval(name: str, value, lo: float, hi: float, *, closed_hi: bool = False) -> float:
    """Refuse a value outside [lo, hi) (or [lo, hi] with ``closed_hi``)."""
    v = float(value)
    ok = lo <= v <= hi if closed_hi else lo <= v < hi
    if not ok:
        bracket = "]" if closed_hi else ")"
        raise ValueError(f"{name} must lie in [{lo}, {hi}{bracket}; got {value!r}.")
    return v
