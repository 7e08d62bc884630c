"""B2 Nesterov SGD and B3 gradient-restart Nesterov SGD (SPEC Part B; report eqs. 32–33).

Both keep two sequences per agent: ``w`` (the iterate, exposed as ``state.x``) and the
look-ahead point ``u`` where the stochastic gradient is evaluated::

    w⁺ = u − η g̃(u)
    u⁺ = (1 + γ) w⁺ − γ w

Both start from u₀ = w₀ = x₀ and cost one gradient evaluation per agent per step. The rule
itself (and its scale-free form) is :mod:`mflab.optimizers.momentum`.
"""

from __future__ import annotations

from mflab.optimizers.base import (
    EmptyInfo,
    Optimizer,
    StepFunctions,
    ensemble_grad,
    num_agents,
    optimizer_factory,
)
from mflab.optimizers.momentum import momentum_init, momentum_update
from mflab.optimizers.sgd import leaf_dtype
from mflab.schedules import ScalarOrSchedule, as_schedule, at_step
from mflab.validation import check_interval


def momentum_optimizer(name: str, eta, eta2, *, gamma, restart: bool,
                       hyperparams: dict) -> Optimizer:
    """B2/B3/B4 on an ensemble: the rule of :mod:`~mflab.optimizers.momentum` with one
    oracle call g̃(u) per step; ``eta``, ``eta2`` are schedules."""

    def init(x0):
        return momentum_init(x0, num_agents(x0))

    def step(key, state, landscape):
        g = ensemble_grad(landscape, key, state.u, state.grad_evals)
        dtype = leaf_dtype(state.x)
        new, info = momentum_update(state, g, at_step(eta, state.count, dtype),
                                    at_step(eta2, state.count, dtype), gamma=gamma,
                                    restart=restart, landscape=landscape)
        return new, (info if restart else EmptyInfo())

    return StepFunctions(init, step, grads_per_step=1, name=name,
                         hyperparams={"rule": "momentum", "eta": eta, "eta2": eta2,
                                      "gamma": gamma, "restart": restart, **hyperparams})


@optimizer_factory("eta", "gamma")
def nesterov(eta: ScalarOrSchedule, gamma: float = 0.9) -> Optimizer:
    """B2, Nesterov SGD (report eq. 32; SPEC Part B)::

        w⁺ = u − η g̃(u)
        u⁺ = (1 + γ) w⁺ − γ w

    ``state.x`` is w; ``state.u`` the look-ahead point; u₀ = w₀ = x₀. On a quadratic
    with Hessian eigenvalue h each eigen-direction of w obeys the linear recurrence
    w_{k+1} = (1 − ηh)(1 + γ) w_k − (1 − ηh) γ w_{k−1}. Its iterates u are those of
    ``optax.sgd(η, momentum=γ, nesterov=True)`` (see :mod:`~mflab.optimizers.momentum`).

    Args:
      eta: step size η > 0 or a schedule (required, as in optax; SPEC C6 uses 1e-4
        for GD-like methods on Müller–Brown).
      gamma: momentum γ ∈ [0, 1) (default 0.9, the value of the report's fixed-γ
        Nesterov runs, §3.2, and the usual Nesterov/Sutskever et al. 2013 choice).

    Reference: Nesterov 1983; report eq. (32); Liu & Belkin, ICLR 2020, eq. (2).
    """
    schedule = as_schedule("eta", eta)
    gamma = check_interval("gamma", gamma, 0.0, 1.0)
    return momentum_optimizer("nesterov", schedule, as_schedule("eta2", 0.0, allow_zero=True),
                              gamma=gamma, restart=False, hyperparams={})


@optimizer_factory("eta")
def restart_nesterov(eta: ScalarOrSchedule) -> Optimizer:
    """B3, gradient-restart Nesterov SGD (report eq. 33; O'Donoghue & Candès 2015).

    As B2 with a per-agent momentum schedule γ = (α − 1)/(α + 2) (the k/(k+3)-type
    schedule of Nesterov's method for convex functions), α ← α + 1 each step, and
    α ← 1 (γ = 0) when the gradient restart test fires: g̃(u)ᵀ(w⁺ − w) > 0. The
    convention (a restart acts on the step that detects it) is that of
    :mod:`~mflab.optimizers.momentum`. ``state.alpha`` holds the α of the next step
    (before a possible reset); ``info.restarted`` and ``info.gamma`` report each step.

    Args:
      eta: step size η > 0 or a schedule (required, as in optax; SPEC C6 uses 1e-4
        for GD-like methods on Müller–Brown).

    Reference: O'Donoghue & Candès, Found. Comput. Math. 15 (2015), arXiv:1204.3982,
    §3.2 "gradient scheme"; report eq. (33).
    """
    schedule = as_schedule("eta", eta)
    return momentum_optimizer("restart-nesterov", schedule,
                              as_schedule("eta2", 0.0, allow_zero=True), gamma=None,
                              restart=True, hyperparams={})
