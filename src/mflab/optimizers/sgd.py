"""B1: (stochastic) gradient descent, SPEC Part B."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mflab.optimizers.base import (
    EmptyInfo,
    Optimizer,
    check_positive,
    ensemble_grad,
    num_agents,
    tree_axpy,
)


class SGDState(NamedTuple):
    x: jax.Array  # iterate, leading agent axis
    grad_evals: jax.Array  # per agent


def sgd(eta: float = 1e-4) -> Optimizer:
    """B1, SGD / GD:  x ← x − η g̃(x).

    With an exact oracle this is gradient descent; on a quadratic with Hessian H it
    contracts each eigen-direction by |1 − η λ_i| per step.

    Args:
      eta: step size η > 0 (default 1e-4: the SPEC C6 learning rate for GD-like methods).

    Reference: SPEC Part B, B1.
    """
    eta = check_positive("eta", eta)

    def init(x0):
        num_agents(x0)
        return SGDState(x=x0, grad_evals=jnp.zeros((), jnp.int32))

    def step(key, state, landscape):
        g = ensemble_grad(landscape, key, state.x)
        return SGDState(tree_axpy(-eta, g, state.x), state.grad_evals + 1), EmptyInfo()

    return Optimizer(init, step, grads_per_step=1, name="sgd")
