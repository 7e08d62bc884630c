"""B2 Nesterov SGD and B3 gradient-restart Nesterov SGD (SPEC Part B; report eqs. 32–33).

Both keep two sequences per agent: ``w`` (the iterate, exposed as ``state.x``) and the
look-ahead point ``u`` where the stochastic gradient is evaluated::

    w⁺ = u − η g̃(u)
    u⁺ = (1 + γ) w⁺ − γ w

Both start from u₀ = w₀ = x₀ and cost one gradient evaluation per agent per step.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mflab.optimizers.base import (
    EmptyInfo,
    Optimizer,
    check_interval,
    check_positive,
    ensemble_grad,
    num_agents,
    tree_agent_dot,
    tree_axpy,
    tree_scale,
    tree_sub,
)


class NesterovState(NamedTuple):
    """State of B2: ``x`` = w (iterate), ``u`` = look-ahead point, leading agent axis."""

    x: jax.Array
    grad_evals: jax.Array
    u: jax.Array


class RestartNesterovState(NamedTuple):
    """State of B3: as :class:`NesterovState` plus ``alpha``, the per-agent counter (A,) int32."""

    x: jax.Array
    grad_evals: jax.Array
    u: jax.Array
    alpha: jax.Array


class RestartInfo(NamedTuple):
    """Per-step diagnostics of the restart schedule (shapes ``(A,)``).

    restarted: whether g̃(u)ᵀ(w⁺ − w) > 0 fired this step for the agent.
    gamma: the momentum γ actually applied this step.
    """

    restarted: jax.Array
    gamma: jax.Array


def _leaf_dtype(x):
    return jnp.result_type(jax.tree_util.tree_leaves(x)[0])


def momentum_step(w, u, g, eta, gamma):
    """One (w, u) update with per-agent or scalar γ: returns (w⁺, u⁺).

    w⁺ = u − η g,  u⁺ = (1 + γ) w⁺ − γ w   (report eq. 32).
    """
    w_new = tree_axpy(-eta, g, u)
    u_new = tree_sub(tree_scale(1.0 + gamma, w_new), tree_scale(gamma, w))
    return w_new, u_new


def restart_gamma(alpha, g, w, w_new, dtype):
    """The B3 schedule for one step; returns (γ, α_next, restarted), all ``(A,)``.

    restarted = g̃(u)ᵀ(w⁺ − w) > 0;  α ← 1 if restarted;  γ = (α − 1)/(α + 2);
    α_next = α + 1.  See :func:`restart_nesterov` for why the reset acts on this step.
    """
    restarted = tree_agent_dot(g, tree_sub(w_new, w)) > 0
    alpha = jnp.where(restarted, jnp.ones_like(alpha), alpha)
    a = alpha.astype(dtype)
    gamma = (a - 1.0) / (a + 2.0)
    return gamma, alpha + 1, restarted


def nesterov(eta: float = 1e-4, gamma: float = 0.9) -> Optimizer:
    """B2, Nesterov SGD (report eq. 32; SPEC Part B)::

        w⁺ = u − η g̃(u)
        u⁺ = (1 + γ) w⁺ − γ w

    ``state.x`` is w; ``state.u`` the look-ahead point; u₀ = w₀ = x₀. On a quadratic
    with Hessian eigenvalue h each eigen-direction of w obeys the linear recurrence
    w_{k+1} = (1 − ηh)(1 + γ) w_k − (1 − ηh) γ w_{k−1}.

    Args:
      eta: step size η > 0 (default 1e-4: the SPEC C6 learning rate for GD-like methods).
      gamma: momentum γ ∈ [0, 1) (default 0.9, the value of the report's fixed-γ
        Nesterov runs, §3.2, and the usual Nesterov/Sutskever et al. 2013 choice).

    Reference: Nesterov 1983; report eq. (32); Liu & Belkin, ICLR 2020, eq. (2).
    """
    eta = check_positive("eta", eta)
    gamma = check_interval("gamma", gamma, 0.0, 1.0)

    def init(x0):
        num_agents(x0)
        return NesterovState(x=x0, grad_evals=jnp.zeros((), jnp.int32), u=x0)

    def step(key, state, landscape):
        g = ensemble_grad(landscape, key, state.u)
        w_new, u_new = momentum_step(state.x, state.u, g, eta, gamma)
        return NesterovState(w_new, state.grad_evals + 1, u_new), EmptyInfo()

    return Optimizer(init, step, grads_per_step=1, name="nesterov")


def restart_nesterov(eta: float = 1e-4) -> Optimizer:
    """B3, gradient-restart Nesterov SGD (report eq. 33; O'Donoghue & Candès 2015).

    As B2 with a per-agent momentum schedule γ = (α − 1)/(α + 2) (the k/(k+3)-type
    schedule of Nesterov's method for convex functions), α ← α + 1 each step, and
    α ← 1 (γ = 0) when the gradient restart test fires: g̃(u)ᵀ(w⁺ − w) > 0.

    **Convention (one step, per agent):**

    1. g = g̃(u),  w⁺ = u − η g;
    2. if gᵀ(w⁺ − w) > 0: α ← 1   (restart);
    3. γ = (α − 1)/(α + 2),  u⁺ = (1 + γ) w⁺ − γ w;
    4. α ← α + 1.

    α starts at 1, so the first step is a plain gradient step (γ = 0). A restart
    therefore zeroes the momentum of the very step on which it is detected
    (u⁺ = w⁺), and the schedule then continues γ = 1/4, 2/5, 3/6, … — exactly the
    schedule of a fresh run after its first step. This is O'Donoghue & Candès'
    meaning of a restart ("take the current iterate as the new starting point and
    reset the momentum to zero"). The report's pseudo-code (eq. 33) tests the
    condition *after* forming u⁺ with the old γ, so there the reset only takes
    effect one step later; the SPEC rule set (γ from α, α ← α+1, α ← 1 on the test)
    admits both orderings and mflab uses the one above.

    ``state.alpha`` holds the α to be used by the next step (before a possible
    reset); ``info.restarted`` and ``info.gamma`` report each step.

    Args:
      eta: step size η > 0 (default 1e-4: the SPEC C6 learning rate for GD-like methods).

    Reference: O'Donoghue & Candès, Found. Comput. Math. 15 (2015), arXiv:1204.3982,
    §3.2 "gradient scheme"; report eq. (33).
    """
    eta = check_positive("eta", eta)

    def init(x0):
        A = num_agents(x0)
        return RestartNesterovState(
            x=x0, grad_evals=jnp.zeros((), jnp.int32), u=x0, alpha=jnp.ones((A,), jnp.int32)
        )

    def step(key, state, landscape):
        g = ensemble_grad(landscape, key, state.u)
        w_new = tree_axpy(-eta, g, state.u)
        gamma, alpha_next, restarted = restart_gamma(
            state.alpha, g, state.x, w_new, _leaf_dtype(state.x)
        )
        u_new = tree_sub(tree_scale(1.0 + gamma, w_new), tree_scale(gamma, state.x))
        new = RestartNesterovState(w_new, state.grad_evals + 1, u_new, alpha_next)
        return new, RestartInfo(restarted, gamma)

    return Optimizer(init, step, grads_per_step=1, name="restart-nesterov")
