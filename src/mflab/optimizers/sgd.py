"""B1: (stochastic) gradient descent, SPEC Part B."""

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
    retract,
    tree_axpy,
    zero_counts,
)
from mflab.schedules import ScalarOrSchedule, as_schedule, at_step


class SGDState(NamedTuple):
    """State of B1: the iterate ``x`` (leading agent axis), oracle calls and steps."""

    x: jax.Array
    grad_evals: jax.Array
    count: jax.Array


def leaf_dtype(x):
    """The dtype of the first leaf of a pytree (schedules are cast to it)."""
    return jax.tree_util.tree_leaves(x)[0].dtype


def sgd_update(landscape, x, g, eta):
    """The B1 rule, written once: x − η g, retracted onto the landscape's manifold (if any).

    Every method whose update is plain descent on some gradient estimate uses it: B1 on the
    oracle's g̃, B7 on the Gaussian-smoothed gradient, B8 on the Hamilton–Jacobi estimate
    (without restart), B11's ``"gd"`` descent phase.
    """
    return retract(landscape, tree_axpy(-eta, g, x))


@optimizer_factory("eta")
def sgd(eta: ScalarOrSchedule) -> Optimizer:
    """B1, SGD / GD:  x ← x − η_k g̃(x).

    With an exact oracle this is gradient descent; on a quadratic with Hessian H it
    contracts each eigen-direction by |1 − η λ_i| per step. On the risk R_N of a network
    of N units with η_k = N ε ξ(kε) (:func:`mflab.schedules.meanfield_learning_rate`) it is
    the online SGD of SPEC Part A, step for step (SPEC A5).

    Args:
      eta: step size η > 0 or a schedule k ↦ η_k (required, as in optax; SPEC C6 uses 1e-4
        for GD-like methods on Müller–Brown).

    Reference: SPEC Part B, B1.
    """
    schedule = as_schedule("eta", eta)

    def init(x0):
        num_agents(x0)
        return SGDState(x0, *zero_counts())

    def step(key, state, landscape):
        g = ensemble_grad(landscape, key, state.x, state.grad_evals)
        eta_k = at_step(schedule, state.count, leaf_dtype(state.x))
        x = sgd_update(landscape, state.x, g, eta_k)
        return SGDState(x, state.grad_evals + 1, state.count + 1), EmptyInfo()

    return StepFunctions(init, step, grads_per_step=1, name="sgd",
                         hyperparams={"rule": "sgd", "eta": schedule})
