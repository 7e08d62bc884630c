"""The momentum rule of B2 (Nesterov), B3 (gradient restart) and B4 (MaSS), written once.

Report eqs. (32)–(35) in the two-sequence form, one stochastic gradient g = g̃(u) per step::

    w⁺ = u − η g
    u⁺ = (1 + γ) w⁺ − γ w + η₂ g            (η₂ = 0: Nesterov, B2/B3; η₂ > 0: MaSS, B4)

mflab carries it in an equivalent *scale-free* form: a trace t (the momentum buffer, in
gradient units) with u − w = −η t, so that the step size multiplies everything at once::

    t⁺ = γ t + (γ − r) g,     r = η₂/η
    u⁺ = u − η (t⁺ + g),      w⁺ = u − η g

Derivation (constant η): u − w = −ηt by induction (t₀ = 0, u₀ = w₀), and
(1+γ)w⁺ − γw + η₂g = u − ηg − γη(t + g) + ηrg = u − η(t⁺ + g). With r = 0 the direction
d = t⁺ + g is exactly optax's Nesterov (``optax.sgd(nesterov=True)``: trace s⁺ = g + γs,
update g + γs⁺; here t = γs). With a schedule η_k the trace keeps gradients unscaled and
η_k multiplies the whole direction — the convention of optax and PyTorch (the report
defines momentum for constant steps only).

**Restart (B3; O'Donoghue & Candès 2015, gradient scheme).** γ = (α − 1)/(α + 2),
α ← α + 1 each step, and α ← 1 on the step where gᵀ(w⁺ − w) > 0. Since
w⁺ − w = −η(t + g) (constant η), the test is gᵀ(t + g) < 0: scale-free, so the native
optimisers and the optax adapters share it. α starts at 1 (the first step has γ = 0);
a restart zeroes the momentum of the very step on which it is detected (u⁺ = w⁺ + η r g),
and the schedule then continues γ = 1/4, 2/5, … as in a fresh run. (The report's
pseudo-code tests after forming u⁺ with the old γ, so there a reset acts one step later;
SPEC's rules admit both orders.)

Used by B2 :func:`~mflab.optimizers.nesterov.nesterov`, B3
:func:`~mflab.optimizers.nesterov.restart_nesterov`, B4 :func:`~mflab.optimizers.mass.mass`,
B8's outer step (:func:`~mflab.optimizers.hamilton_jacobi.hj_smoothing`), B11's descent
phase (:func:`~mflab.optimizers.gibbs_init.gibbs_init_descent`) and the optax adapters
(:mod:`mflab.optimizers.optax_adapters`).

Reference: Nesterov 1983; Liu & Belkin, ICLR 2020, eqs. (2)–(4); O'Donoghue & Candès,
Found. Comput. Math. 15 (2015), §3.2; report eqs. (32)–(35); Sutskever et al., ICML 2013.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from mflab.optimizers.base import retract, tree_add, tree_agent_dot, tree_axpy, tree_scale


class MomentumState(NamedTuple):
    """State of B2–B4 (and of momentum phases of B8/B11); leading agent axis on x, u, trace.

    x: the iterate w (what a user reads); grad_evals, count: per agent;
    u: the look-ahead point where the next gradient is evaluated;
    trace: the momentum buffer t (u − w = −η t for constant η);
    alpha: restart counter per agent ``(A,)`` int32 (kept at 1 for a fixed γ).
    """

    x: jax.Array
    grad_evals: jax.Array
    count: jax.Array
    u: jax.Array
    trace: jax.Array
    alpha: jax.Array


class RestartInfo(NamedTuple):
    """Per-step diagnostics of the momentum rule (shapes ``(A,)`` for an ensemble).

    restarted: whether the restart test fired this step (always false for a fixed γ).
    gamma: the momentum γ applied this step.
    """

    restarted: jax.Array
    gamma: jax.Array


def restart_gamma(alpha, g, trace, dtype, dot: Callable = tree_agent_dot):
    """The B3 schedule for one step: returns (γ, α_next, restarted).

    restarted = gᵀ(t + g) < 0 (⇔ gᵀ(w⁺ − w) > 0);  α ← 1 if restarted;
    γ = (α − 1)/(α + 2);  α_next = α + 1.  ``dot`` is the per-agent inner product
    (``(A,)`` for an ensemble, a scalar for one parameter pytree).
    """
    restarted = dot(g, tree_add(trace, g)) < 0
    alpha = jnp.where(restarted, jnp.ones_like(alpha), alpha)
    a = alpha.astype(dtype)
    return (a - 1.0) / (a + 2.0), alpha + 1, restarted


def momentum_direction(g, trace, alpha, *, gamma, ratio, restart: bool,
                       dot: Callable = tree_agent_dot):
    """One step of the rule in scale-free form (module docstring).

    Args:
      g: the stochastic gradient at the look-ahead point.
      trace: t, same structure as ``g``.
      alpha: restart counter (per agent, or a scalar).
      gamma: fixed γ ∈ [0, 1) (ignored when ``restart``).
      ratio: r = η₂/η (0 for Nesterov).
      restart: use the B3 schedule for γ.
      dot: per-agent inner product for the restart test.

    Returns:
      ``(d, t⁺, α⁺, RestartInfo)`` with the direction d = t⁺ + g (u⁺ = u − η d).
    """
    dtype = jnp.result_type(jax.tree_util.tree_leaves(g)[0])
    if restart:
        gam, alpha_next, restarted = restart_gamma(alpha, g, trace, dtype, dot)
    else:
        gam = jnp.full(jnp.shape(alpha), gamma, dtype)
        alpha_next, restarted = alpha, jnp.zeros(jnp.shape(alpha), bool)
    t_new = tree_add(tree_scale(gam, trace), tree_scale(gam - ratio, g))
    return tree_add(t_new, g), t_new, alpha_next, RestartInfo(restarted, gam)


def momentum_init(x0, n_agents: int) -> MomentumState:
    """u₀ = w₀ = x₀, t₀ = 0, α = 1."""
    z = jnp.zeros((), jnp.int32)
    return MomentumState(x=x0, grad_evals=z, count=z, u=x0,
                         trace=jax.tree_util.tree_map(jnp.zeros_like, x0),
                         alpha=jnp.ones((n_agents,), jnp.int32))


def momentum_update(state: MomentumState, g, eta, eta2, *, gamma, restart: bool, landscape,
                    cost: int = 1) -> tuple[MomentumState, RestartInfo]:
    """Advance a :class:`MomentumState` by one step with gradient ``g = g̃(u)``:
    w⁺ = u − ηg, u⁺ = u − η(t⁺ + g) (both retracted onto the landscape's manifold, if any).

    ``eta``, ``eta2`` are this step's (already scheduled) scalars; ``cost`` the oracle calls
    the step made.
    """
    d, t, alpha, info = momentum_direction(g, state.trace, state.alpha, gamma=gamma,
                                           ratio=eta2 / eta, restart=restart)
    w = retract(landscape, tree_axpy(-eta, g, state.u))
    u = retract(landscape, tree_axpy(-eta, d, state.u))
    new = MomentumState(w, state.grad_evals + cost, state.count + 1, u, t, alpha)
    return new, info
