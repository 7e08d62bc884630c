"""The 3-spin regression as a :class:`~mflab.landscapes.Landscape` (SPEC C7 through A5).

Φ(c, z) = L(c, √d z/|z|) with L the exact loss (:func:`exact_loss`). Defining Φ through
the normalisation z ↦ √d z/|z| makes its Euclidean gradient at |z_i| = √d exactly the
Riemannian gradient on S^{d−1}(√d): the z-gradient projected on the tangent space,
P_{z_i} ∇_{z_i} L with P_z = I − z zᵀ/d. After every move, optimisers apply ``retract``
(z_i ↦ √d z_i/|z_i|), which completes the Riemannian step.

**Mean-field time** stays out of the landscape: ``grad`` is the true gradient of L. The
mean-field dynamics ċ_i = −n ∂L/∂c_i, ż_i = −n P_{z_i} ∂L/∂z_i (Rotskoff &
Vanden-Eijnden 2022, eq. (2.11); SPEC C7), whose time t does not depend on n, is the
gradient flow of L run with learning rate η = n·dt: a GD step of size η on L is an Euler
step dt = η/n of the mean-field flow: the learning rate is
:func:`mflab.schedules.meanfield_learning_rate` (n, dt), as for the networks of Part A.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mflab.landscapes import Landscape
from mflab.spherical.exact_loss import exact_loss
from mflab.spherical.kernel_network import (
    KernelParams,
    check_width,
    default_alpha,
    kernel_network,
)
from mflab.spherical.sphere import retract_to_sphere, uniform_sphere
from mflab.spherical.three_spin import check_couplings, three_spin, three_spin_second_moment
from mflab.validation import check_int, check_positive


def three_spin_landscape(
    couplings: jax.Array,
    n: int,
    alpha: float | None = None,
    batch_size: int | None = None,
    name: str = "three-spin",
) -> Landscape:
    """The loss ½ E_μ (f − f_n)² of the kernel network on the 3-spin target, as a Landscape.

    Oracles (one agent's :class:`KernelParams`; optimisers ``vmap`` over agents):

    * ``value``: the exact L (closed forms of SPEC C7), evaluated at √d z/|z|;
    * ``grad``: its exact Riemannian gradient (tangent projection of the z-gradient);
    * ``sample_grad(key, params)``: the gradient of ½ (1/m) Σ_k (f(x_k) − f_n(x_k))² over
      m = ``batch_size`` fresh uniform points x_k (an unbiased estimate of ``grad``), also
      projected; with ``batch_size=None`` the oracle is exact (``landscape.exact``);
    * ``retract``: z_i ↦ √d z_i/|z_i| for every centre.

    Args:
      couplings: the target's couplings a, shape ``(d, d, d)``, d ≥ 3.
      n: number of kernel units (≥ 1); parameters must have ``c (n,)``, ``z (n, d)``.
      alpha: kernel parameter α > 0 (default 5/d, SPEC C7).
      batch_size: fresh uniform points per stochastic gradient (≥ 1), or ``None``.
      name: label used in tables.

    Returns:
      a :class:`~mflab.landscapes.Landscape` with ``info`` holding d, n, α, the batch
      size and E f² (the loss of f_n ≡ 0 is E f²/2).
    """
    d = check_couplings(couplings)
    n = check_width(n)
    alpha = default_alpha(d) if alpha is None else check_positive("alpha", alpha)
    if batch_size is not None:  # None: the exact gradient
        batch_size = check_int("batch_size (fresh points per gradient, or None)", batch_size)
    a = jnp.asarray(couplings)

    def on_sphere(params: KernelParams) -> KernelParams:
        c, z = params
        if jnp.shape(c) != (n,) or jnp.shape(z) != (n, d):
            raise ValueError(
                f"parameters must have c of shape ({n},) and z of shape ({n}, {d}); "
                f"got {jnp.shape(c)} and {jnp.shape(z)}."
            )
        return KernelParams(c, retract_to_sphere(z))

    def value(params: KernelParams) -> jax.Array:
        params = on_sphere(params)
        return exact_loss(params, a.astype(params.c.dtype), alpha)

    def batch_loss(params: KernelParams, x: jax.Array) -> jax.Array:
        params = on_sphere(params)
        residual = three_spin(a.astype(x.dtype), x) - kernel_network(params, x, alpha)
        return 0.5 * jnp.mean(residual * residual)

    def sample_grad(key: jax.Array, params: KernelParams) -> KernelParams:
        x = uniform_sphere(key, batch_size, d, params.c.dtype)
        return jax.grad(batch_loss)(params, x)

    def retract(params: KernelParams) -> KernelParams:
        return KernelParams(params.c, retract_to_sphere(params.z))

    return Landscape(
        name=name,
        value=value,
        grad=jax.grad(value),
        sample_grad=None if batch_size is None else sample_grad,
        exact=batch_size is None,
        retract=retract,
        info={
            "d": d,
            "n": n,
            "alpha": alpha,
            "batch_size": batch_size,
            "second_moment": float(three_spin_second_moment(a)),
        },
    )
