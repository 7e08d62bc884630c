"""B5 SGLD and B6 interacting (Curie–Weiss) SGLD (SPEC Part B; report eqs. 19, 23–24).

Both are Euler–Maruyama discretisations of overdamped Langevin dynamics with the
noise of SPEC errata 1 (sqrt(2/β) dB, so that the stationary law is ∝ exp(−βΦ)).
Noise is drawn in float32 and cast to the parameters' dtype
(:func:`~mflab.optimizers.base.normal_like`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mflab.optimizers.base import (
    EmptyInfo,
    Optimizer,
    StepFunctions,
    ensemble_grad,
    normal_like,
    num_agents,
    optimizer_factory,
    retract,
    tree_add,
    tree_agent_mean,
    tree_axpy,
    tree_scale,
    tree_sub,
    zero_counts,
)
from mflab.optimizers.sgd import leaf_dtype
from mflab.schedules import ScalarOrSchedule, as_schedule, at_step
from mflab.validation import check_positive


class SGLDState(NamedTuple):
    """State of B5/B6: the iterate ``x`` (leading agent axis), oracle calls and steps."""

    x: jax.Array
    grad_evals: jax.Array
    count: jax.Array


def langevin_update(key, x, g, eta, beta, lam=0.0):
    """One Euler–Maruyama step of (interacting) overdamped Langevin dynamics, every agent::

        x_i ← x_i − η [g_i + λ (x_i − x̄)] + sqrt(2η/β) ξ_i,   ξ ~ N(0, I)

    (λ = 0: B5; λ > 0: B6). ``eta`` is this step's scalar; noise is drawn in float32.
    """
    no_pull = isinstance(lam, int | float) and lam == 0.0  # λ = 0 (B5): skip the mean
    drift = g if no_pull else tree_axpy(lam, tree_sub(x, tree_agent_mean(x)), g)
    noise = tree_scale(jnp.sqrt(2.0 * eta / beta), normal_like(key, x))
    return tree_add(tree_axpy(-eta, drift, x), noise)


def _langevin(name: str, eta, beta: float, lam: float) -> Optimizer:
    schedule = as_schedule("eta", eta)

    def init(x0):
        num_agents(x0)
        return SGLDState(x0, *zero_counts())

    def step(key, state, landscape):
        key_grad, key_noise = jax.random.split(key)
        g = ensemble_grad(landscape, key_grad, state.x, state.grad_evals)
        eta_k = at_step(schedule, state.count, leaf_dtype(state.x))
        x = retract(landscape, langevin_update(key_noise, state.x, g, eta_k, beta, lam))
        return SGLDState(x, state.grad_evals + 1, state.count + 1), EmptyInfo()

    return StepFunctions(init, step, grads_per_step=1, name=name,
                         hyperparams={"rule": "langevin", "eta": schedule, "beta": beta,
                                      "lam": lam})


@optimizer_factory("eta", "beta")
def sgld(eta: ScalarOrSchedule, beta: float = 1.0) -> Optimizer:
    """B5, stochastic gradient Langevin dynamics (report eq. 19, SPEC errata 1)::

        x ← x − η g̃(x) + sqrt(2η/β) ξ,    ξ ~ N(0, I) fresh per agent and step

    the Euler–Maruyama scheme for dX = −∇Φ(X) dt + sqrt(2/β) dB, whose stationary
    law is ∝ exp(−βΦ). On a quadratic Φ = ½(x − x*)ᵀH(x − x*) with exact gradients
    the chain is Gaussian with stationary mean x* and covariance
    (β H (I − ηH/2))⁻¹ = (βH)⁻¹ + O(η) (exact for the discrete scheme).

    Args:
      eta: step size η > 0 or a schedule (required, as in optax; SPEC C6 uses 1e-4
        for GD-like methods on Müller–Brown).
      beta: inverse temperature β > 0 (default 1: unit temperature; the seed documents
        give no value, so studies set β per landscape relative to its barrier heights).

    Reference: Welling & Teh, ICML 2011; report eq. (19) with SPEC errata 1.
    """
    return _langevin("sgld", eta, check_positive("beta", beta), 0.0)


@optimizer_factory("eta", "beta", "lam")
def interacting_sgld(eta: ScalarOrSchedule, beta: float = 1.0,
                     lam: float = 1.0) -> Optimizer:
    """B6, interacting SGLD with Curie–Weiss interaction (report eqs. 23–24)::

        x_i ← x_i − η [g̃(x_i) + λ (x_i − x̄)] + sqrt(2η/β) ξ_i,    x̄ = (1/A) Σ_j x_j

    the Euler–Maruyama scheme for dX^i = −∇Φ(X^i) dt − ∇D ⋆ η^A_t(X^i) dt + sqrt(2/β) dB^i
    with D(x, y) = (λ/2)|x − y|², so ∇D ⋆ η^A(x_i) = λ(x_i − x̄). The agents are coupled
    only through x̄ (the whole ensemble is the particle system: run one system per
    call). On a quadratic with Hessian H the interaction leaves the ensemble mean's
    drift unchanged (x̄ ← x̄ − ηH(x̄ − x*) + sqrt(2η/β) ξ̄) and pulls the agents
    together: deviations x_i − x̄ follow an OU process with drift −(H + λI); see
    ``tests/test_optim_langevin.py`` for the closed forms. λ = 0 is B5.

    Args:
      eta: step size η > 0 or a schedule (required, as in optax; SPEC C6 uses 1e-4
        for GD-like methods on Müller–Brown).
      beta: inverse temperature β > 0 (default 1, as :func:`sgld`).
      lam: interaction strength λ ≥ 0 (default 1: the report's MF-Hom-SGLD
        requirement "λ ∼ 1", §3.1.4).

    Reference: Kantas, Parpas & Pavliotis 2019, arXiv:1905.04121 (weakly interacting
    agents with Curie–Weiss interaction); report eqs. (23)–(24) with SPEC errata 1.
    """
    return _langevin("interacting-sgld", eta, check_positive("beta", beta),
                     check_positive("lam", lam, allow_zero=True))
