"""B4 MaSS, the momentum-added stochastic solver (Liu & Belkin, ICLR 2020; report eqs. 34–35).

Two forms are provided:

* :func:`mass`: the two-variable form of the SPEC (report eq. 34), with a fixed γ or
  the B3 gradient-restart schedule (report eq. 35);
* :func:`mass_three_variable`: Liu & Belkin's equivalent (w, v, u) form with
  parameters (η, α, δ), δ = η/(α κ̃); :func:`mass_parameters` maps it to (η1, η2, γ).
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from mflab.optimizers.base import (
    EmptyInfo,
    Optimizer,
    StepFunctions,
    ensemble_grad,
    num_agents,
    optimizer_factory,
    tree_add,
    tree_axpy,
    tree_scale,
    zero_counts,
)
from mflab.optimizers.nesterov import momentum_optimizer
from mflab.schedules import ScalarOrSchedule, as_schedule
from mflab.validation import check_interval, check_positive


class MaSS3State(NamedTuple):
    """State of the three-variable form: ``x`` = w, the counters, then u and the auxiliary v."""

    x: jax.Array
    grad_evals: jax.Array
    count: jax.Array
    u: jax.Array
    v: jax.Array


@optimizer_factory("eta1", "eta2", "gamma")
def mass(
    eta1: ScalarOrSchedule,
    eta2: ScalarOrSchedule | None = None,
    gamma: float | None = None,
    restart: bool = False,
) -> Optimizer:
    """B4, MaSS (report eqs. 34–35; Liu & Belkin 2020, eq. 3)::

        w⁺ = u − η1 g̃(u)
        u⁺ = (1 + γ) w⁺ − γ w + η2 g̃(u)

    with one stochastic gradient g̃(u) per step (the same sample in both lines),
    u₀ = w₀ = x₀, ``state.x`` = w (a :class:`~mflab.optimizers.momentum.MomentumState`).
    With η2 = 0 this is exactly B2 (:func:`~mflab.optimizers.nesterov.nesterov`), and with
    ``restart=True`` and η2 = 0 exactly B3
    (:func:`~mflab.optimizers.nesterov.restart_nesterov`): all three are the one rule of
    :mod:`mflab.optimizers.momentum` with r = η2/η1.

    ``restart=True`` replaces the fixed γ by the B3 gradient-restart schedule,
    γ = (α − 1)/(α + 2), α ← α + 1, α ← 1 when g̃(u)ᵀ(w⁺ − w) > 0, per agent (report eq. 35).

    Args:
      eta1: step size η1 > 0 or a schedule (required, as in optax; SPEC C6 uses 1e-4
        for GD-like methods on Müller–Brown).
      eta2: compensation step η2 ≥ 0 or a schedule (default ``None``: 0.1·η1). In Liu &
        Belkin's parametrisation (see :func:`mass_parameters`) η2 = η1 (1 − 1/κ̃)/(1 + α)
        with α = (1 − γ)/(1 + γ) and κ̃ ≥ 1 the statistical condition number of the
        mini-batch gradient; their theory gives η2 → 0 in the full-batch limit
        (κ̃ → 1), where MaSS is Nesterov. The default 0.1·η1 at γ = 0.9 corresponds
        to κ̃ ≈ 1.12: a small compensation, close to the full-gradient regime that
        SPEC C6 uses. Set it from κ̃ with :func:`mass_parameters` when κ̃ is known.
      gamma: fixed momentum γ ∈ [0, 1); default (``None``) 0.9, the B2 default, unless
        ``restart``. Giving both ``gamma`` and ``restart=True`` is an error.
      restart: use the B3 gradient-restart schedule for γ.

    Reference: Liu & Belkin, "Accelerating SGD with momentum for over-parameterized
    learning", ICLR 2020, arXiv:1810.13395, eq. (3) and Algorithm 1; report eqs. (34)–(35).
    """
    if eta2 is None:  # 0.1·η1, for a number or a schedule
        eta2 = (lambda k, f=eta1: f(k) / 10) if callable(eta1) else eta1 / 10
    eta1 = as_schedule("eta1", eta1)
    eta2 = as_schedule("eta2", eta2, allow_zero=True)
    if restart and gamma is not None:
        raise ValueError(
            f"mass: give either a fixed gamma or restart=True, not both; got gamma={gamma!r} "
            "with restart=True. Drop gamma to use the restart schedule."
        )
    if not restart:
        gamma = check_interval("gamma", 0.9 if gamma is None else gamma, 0.0, 1.0)
    name = "mass-restart" if restart else "mass"
    return momentum_optimizer(name, eta1, eta2, gamma=gamma, restart=restart,
                              hyperparams={"method": "mass"})


def mass_parameters(eta: float, alpha: float, kappa_tilde: float) -> tuple[float, float, float]:
    """Map Liu & Belkin's (η, α, κ̃) to the two-variable (η1, η2, γ) of :func:`mass`.

    With δ = η/(α κ̃) (Liu & Belkin 2020, Theorem 1 choice):
    η1 = η,  γ = (1 − α)/(1 + α),  η2 = (η − α δ)/(1 + α) = η (1 − 1/κ̃)/(1 + α).
    See :func:`mass_three_variable` for the derivation. Their quadratic-case theory
    sets η = 1/L₁(m) and α = 1/sqrt(κ_m κ̃_m).
    """
    eta = check_positive("eta", eta)
    alpha = check_interval("alpha", alpha, 0.0, 1.0, closed_hi=True)
    if alpha == 0.0:
        raise ValueError(f"alpha must lie in (0, 1]; got {alpha!r}.")
    kappa_tilde = float(kappa_tilde)
    if not kappa_tilde >= 1.0:
        raise ValueError(f"kappa_tilde must be >= 1; got {kappa_tilde!r}.")
    delta = eta / (alpha * kappa_tilde)
    return eta, (eta - alpha * delta) / (1.0 + alpha), (1.0 - alpha) / (1.0 + alpha)


@optimizer_factory()
def mass_three_variable(eta: float, alpha: float, kappa_tilde: float) -> Optimizer:
    """MaSS in Liu & Belkin's three-variable form (their eq. 4, the form of their code)::

        w⁺ = u − η g̃(u)
        v⁺ = (1 − α) v + α u − δ g̃(u),      δ = η / (α κ̃)
        u⁺ = (α v⁺ + w⁺) / (1 + α)

    started from u₀ = v₀ = w₀ = x₀ (consistent: u₀ = (α v₀ + w₀)/(1 + α)).

    **Equivalence with the two-variable form.** From the last line at the previous
    step, α v = (1 + α) u − w. Substituting in the v-update,
    α v⁺ = (1 − α)[(1 + α) u − w] + α² u − α δ g = u − (1 − α) w − α δ g, so
    u⁺ = [w⁺ + u − (1 − α) w − α δ g]/(1 + α). With u = w⁺ + η g,
    u⁺ = (2/(1 + α)) w⁺ − ((1 − α)/(1 + α)) w + ((η − α δ)/(1 + α)) g, which is
    report eq. (34) with η1 = η, γ = (1 − α)/(1 + α) (so 1 + γ = 2/(1 + α)) and
    η2 = (η − α δ)/(1 + α) = η (1 − 1/κ̃)/(1 + α). With u₀ = w₀ the two forms
    produce the same (w, u) sequences (the test checks it step by step).

    Args:
      eta: step size η > 0.
      alpha: α ∈ (0, 1] (γ = (1 − α)/(1 + α)); Liu & Belkin: α = 1/sqrt(κ_m κ̃_m).
      kappa_tilde: κ̃ ≥ 1, the statistical condition number of the mini-batch
        gradient (δ = η/(α κ̃)).

    Reference: Liu & Belkin, ICLR 2020, arXiv:1810.13395, eq. (4) and Theorem 1.
    """
    eta, _, _ = mass_parameters(eta, alpha, kappa_tilde)
    delta = eta / (alpha * kappa_tilde)

    def init(x0):
        num_agents(x0)
        return MaSS3State(x0, *zero_counts(), u=x0, v=x0)

    def step(key, state, landscape):
        g = ensemble_grad(landscape, key, state.u, state.grad_evals)
        w_new = tree_axpy(-eta, g, state.u)
        v_new = tree_add(
            tree_scale(1.0 - alpha, state.v), tree_scale(alpha, state.u), tree_scale(-delta, g)
        )
        u_new = tree_scale(1.0 / (1.0 + alpha), tree_axpy(alpha, v_new, w_new))
        new = MaSS3State(w_new, state.grad_evals + 1, state.count + 1, u_new, v_new)
        return new, EmptyInfo()

    return StepFunctions(init, step, grads_per_step=1, name="mass-3var")
