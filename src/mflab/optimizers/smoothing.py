"""B7: gradient descent on the Gaussian-smoothed loss Φ^h = G_h ∗ Φ (SPEC B7; eqs. 20–22).

    x ← x − η ∇Φ^h(x),   ∇Φ^h(x) = E_z ∇Φ(x + √h z),  z ~ N(0, I)

The expectation is estimated either by K Monte Carlo samples per agent and step (an
unbiased estimate; ``grads_per_step = K``) or, for flat parameters of small dimension d
(the 2-D Müller–Brown potential, 1-D test wells), exactly up to quadrature error by a
tensor Gauss–Hermite rule with n nodes per axis (``grads_per_step = n^d``). An n-node
rule integrates polynomials of degree ≤ 2n − 1 exactly, so on a quadratic (or quartic)
Φ the smoothed gradient is exact for n ≥ 1 (n ≥ 2).

:func:`gauss_hermite_rule` is also used by the Hamilton–Jacobi smoothing (B8).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mflab.optimizers.base import (
    EmptyInfo,
    Optimizer,
    StepFunctions,
    ensemble_grad,
    normal_like,
    num_agents,
    optimizer_factory,
    tree_axpy,
    zero_counts,
)
from mflab.optimizers.sgd import leaf_dtype, sgd_update
from mflab.schedules import ScalarOrSchedule, as_schedule, at_step
from mflab.validation import check_int, check_positive

#: Largest tensor grid accepted (n^d nodes per agent and step).
MAX_GRID = 1_000_000


def gauss_hermite_rule(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss–Hermite rule for E f(z), z ~ N(0, I_d): nodes ``(n^d, d)``, weights ``(n^d,)``.

    E f(z) ≈ Σ_q w_q f(z_q) with Σ_q w_q = 1; exact for polynomials of degree ≤ 2n − 1
    in each coordinate (probabilists' Hermite nodes, ``numpy.polynomial.hermite_e``).

    Args:
      n: nodes per axis (≥ 1).
      d: dimension (≥ 1); the grid has n^d nodes (at most ``MAX_GRID``).
    """
    n = check_int("n (Gauss–Hermite nodes per axis)", n)
    d = check_int("d (dimension)", d)
    if n**d > MAX_GRID:
        raise ValueError(
            f"a tensor Gauss–Hermite grid of n^d = {n}^{d} = {n**d} nodes is too large "
            f"(at most {MAX_GRID}); use fewer nodes or the Monte Carlo mode."
        )
    z1, w1 = np.polynomial.hermite_e.hermegauss(n)
    w1 = w1 / w1.sum()
    grids = np.meshgrid(*([z1] * d), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=-1)
    wgrids = np.meshgrid(*([w1] * d), indexing="ij")
    weights = np.prod(np.stack([g.ravel() for g in wgrids], axis=-1), axis=-1)
    return nodes, weights


class SmoothingState(NamedTuple):
    """State of B7: the iterate ``x`` (leading agent axis), oracle calls and steps per agent."""

    x: jax.Array
    grad_evals: jax.Array
    count: jax.Array


@optimizer_factory("eta", "h")
def gaussian_smoothing(
    eta: ScalarOrSchedule,
    h: float = 0.03,
    K: int = 16,
    quadrature_nodes: int | None = None,
    dim: int = 2,
) -> Optimizer:
    """B7, gradient descent on the Gaussian-smoothed loss (report eqs. 20–22)::

        x ← x − η ∇Φ^h(x),   ∇Φ^h(x) = E_z g̃(x + √h z),  z ~ N(0, I)

    Monte Carlo mode (default): K fresh z per agent and step, ∇Φ^h ≈ (1/K) Σ_k g̃(x + √h z_k);
    works on any parameter pytree. Quadrature mode (``quadrature_nodes=n``): a tensor
    Gauss–Hermite rule with n nodes per axis on flat ``(A, d)`` parameters, d = ``dim``;
    exact for polynomial Φ of degree ≤ 2n.

    Args:
      eta: step size η > 0 or a schedule (required, as in optax; SPEC C6 uses 1e-4
        for GD-like methods on Müller–Brown).
      h: variance h > 0 of the Gaussian kernel G_h (default 0.03, chosen on Müller–Brown,
        SPEC C6, by a grid computation of G_h ∗ V over h ∈ {1e-3, 3e-3, 1e-2, 3e-2}: the
        three minima survive up to h = 0.01; at h = 0.03 the shallow minimum C is gone
        while A (moved ≈ 0.04) and B remain. Heat smoothing lifts the narrow global
        minimum A most (V^h(A) = −102 vs −147), the report's week 8–10 observation).
      K: Monte Carlo samples per step (default 16; ``grads_per_step = K``).
      quadrature_nodes: n, Gauss–Hermite nodes per axis; ``None`` (default) for Monte Carlo.
      dim: dimension d of the flat parameters in quadrature mode (default 2, Müller–Brown);
        ``grads_per_step = n^d``.

    Reference: report §3.1.1, eqs. (20)–(22); SPEC Part B, B7.
    """
    schedule = as_schedule("eta", eta)
    h = check_positive("h", h)
    K = check_int("K", K)
    sqrt_h = h ** 0.5
    if quadrature_nodes is None:
        cost = K
    else:
        dim = check_int("dim", dim)
        nodes, weights = gauss_hermite_rule(quadrature_nodes, dim)
        cost = nodes.shape[0]

    def init(x0):
        num_agents(x0)
        if quadrature_nodes is not None:
            _check_flat(x0, dim)
        return SmoothingState(x0, *zero_counts())

    def mc_grad(key, x, landscape, calls):
        def one(k, j):
            kz, kg = jax.random.split(k)
            return ensemble_grad(landscape, kg, tree_axpy(sqrt_h, normal_like(kz, x), x),
                                 calls + j)

        gs = jax.vmap(one)(jax.random.split(key, K), jnp.arange(K))
        return jax.tree_util.tree_map(lambda g: jnp.mean(g, axis=0), gs)

    def quad_grad(key, x, landscape, calls):
        del calls
        A, d = x.shape
        z = jnp.asarray(nodes, x.dtype)
        w = jnp.asarray(weights, x.dtype)
        pts = x[:, None, :] + sqrt_h * z[None]  # (A, Q, d)
        if landscape.exact:  # skip A·Q keys when the oracle ignores them
            g = jax.vmap(jax.vmap(landscape.grad))(pts)  # (A, Q, d)
        else:
            keys = jax.random.split(key, A * z.shape[0]).reshape(A, z.shape[0], -1)
            g = jax.vmap(jax.vmap(landscape.sample_grad))(keys, pts)
        return jnp.einsum("q,aqd->ad", w, g)

    def step(key, state, landscape):
        estimate = mc_grad if quadrature_nodes is None else quad_grad
        g = estimate(key, state.x, landscape, state.grad_evals)
        eta_k = at_step(schedule, state.count, leaf_dtype(state.x))
        x = sgd_update(landscape, state.x, g, eta_k)
        return SmoothingState(x, state.grad_evals + cost, state.count + 1), EmptyInfo()

    return StepFunctions(init, step, grads_per_step=cost, name="gaussian-smoothing",
                         hyperparams={"rule": "gaussian-smoothing", "eta": schedule, "h": h, "K": K,
                                      "quadrature_nodes": quadrature_nodes})


def _check_flat(x0, dim: int) -> None:
    if not (hasattr(x0, "ndim") and x0.ndim == 2 and x0.shape[1] == dim):
        shape = getattr(x0, "shape", type(x0).__name__)
        raise ValueError(
            f"quadrature mode needs flat parameters of shape (A, {dim}) (dim={dim}); got {shape}. "
            "Pass dim=<d> for another dimension, or use the Monte Carlo mode for pytrees."
        )
