"""Converged training of the kernel network: exact weights, centres by L-BFGS (SPEC D2).

The loss is quadratic in the weights (:mod:`~mflab.spherical.exact_loss`), so for given
centres the best weights are a linear solve, c*(z) = n K⁺F (:func:`~mflab.spherical.
random_feature_loss`), and training reduces to the centres alone (variable projection,
Golub & Pereyra, SIAM J. Numer. Anal. 10, 1973):

    g(z) = min_c L(c, z) = L(c*(z), z),    ∇_z g(z) = ∂_z L(c, z) at c = c*(z)

(the envelope theorem: ∂_c L = 0 at c*, so c*'s own dependence on z drops out). g is
minimised over the centres on S^{d−1}(√d) through the normalisation z = √d u/|u|
(:func:`~mflab.spherical.retract_to_sphere`), whose Euclidean gradient at |u_i| = √d is
the Riemannian gradient, by L-BFGS with a zoom line search (optax; Nocedal & Wright,
*Numerical Optimization*, 2006, Alg. 7.5) — the weights' flow on this ill-conditioned
problem needs mean-field times ~ 1/λ_3 (:mod:`~mflab.spherical.spectrum`), a quasi-Newton
method does not.

**Stopping.** Under the mean-field flow ż_i = −n P_{z_i} ∂L/∂z_i at optimal weights the
loss decays at the rate −dg/dt = n Σ_i |P ∂L/∂z_i|² = mean_i |n P ∂L/∂z_i|² (the squared
Riemannian gradient in mean-field units). The search stops *converged* when this rate,
relative to the loss, is below ``gtol``; it stops *stalled* when ``PATIENCE`` iterations
in a row each lower g by less than ``ftol`` × g (scipy's L-BFGS-B criterion, made patient:
a quasi-Newton search takes an occasional tiny step; a stall means the line search finds no
more progress — with the pseudo-inverse's cut-off, g is not smooth where an eigenvalue of K
crosses it, so a stall can leave a sizeable gradient); otherwise after ``max_iter``.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from mflab.spherical.exact_loss import exact_loss, random_feature_loss
from mflab.spherical.kernel_network import KernelParams
from mflab.spherical.sphere import retract_to_sphere
from mflab.validation import check_int, check_positive

#: Iterations in a row without a relative decrease above ftol that make a stall.
PATIENCE = 10


def reduced_loss(z: jax.Array, a: jax.Array, alpha: float, rcond: float = 1e-10) -> jax.Array:
    """g(z) = L(c*(z), z), the loss at the best weights c* = n K⁺F for centres √d z/|z|.

    Differentiable in z with the envelope gradient ∂_z L(c, z) at c = c*(z) (c* enters
    through ``stop_gradient``: the eigen-solve is never differentiated), which is ∇g
    exactly when c* minimises L (up to the pseudo-inverse's cut-off ``rcond``, see
    :func:`~mflab.spherical.random_feature_loss`).

    Args:
      z: ``(n, d)`` centres (any norm: they are normalised onto S^{d−1}(√d)).
      a: couplings ``(d, d, d)``; alpha: kernel parameter α (a concrete number).
      rcond: relative eigenvalue cut-off of K⁺.
    """
    on_sphere = retract_to_sphere(z)
    _, c_star = random_feature_loss(on_sphere, a, alpha, rcond)
    return exact_loss(KernelParams(jax.lax.stop_gradient(c_star), on_sphere), a, alpha)


class Converged(NamedTuple):
    """The result of :func:`converge_centres`: the trained network (centres on the sphere,
    weights c*), its exact loss, the relative mean-field decay rate at the end
    (−(dg/dt)/g, module docstring), the L-BFGS iterations taken, and why it stopped:
    ``converged`` (rate ≤ gtol) or ``stalled`` (``PATIENCE`` decreases in a row ≤
    ftol · g); neither: the iteration budget ran out."""

    params: KernelParams
    loss: jax.Array
    rate: jax.Array
    iterations: jax.Array
    converged: jax.Array
    stalled: jax.Array


def converge_centres(z0: jax.Array, a: jax.Array, alpha: float, *, gtol: float = 1e-8,
                     ftol: float = 1e-12, max_iter: int = 500, memory: int = 10,
                     rcond: float = 1e-10) -> Converged:
    """Minimise g(z) = min_c L(c, z) over the centres by L-BFGS, weights exact throughout.

    One ``lax.while_loop`` (compiled once per shape): each iteration is an L-BFGS
    direction and a zoom line search (strong Wolfe conditions) on g∘normalise.

    Args:
      z0: ``(n, d)`` initial centres on S^{d−1}(√d).
      a: couplings ``(d, d, d)`` of the target; alpha: kernel parameter α > 0.
      gtol: stop (converged) when the relative mean-field decay rate −(dg/dt)/g is
        below this (> 0).
      ftol: stop (stalled) when ``PATIENCE`` iterations in a row lower g by less than
        ftol × g each (> 0).
      max_iter: most L-BFGS iterations (≥ 1). memory: L-BFGS history (≥ 1).
      rcond: relative eigenvalue cut-off of K⁺ in the weight solve.

    Returns a :class:`Converged`.
    """
    gtol, ftol = check_positive("gtol", gtol), check_positive("ftol", ftol)
    max_iter = check_int("max_iter", max_iter)
    memory = check_int("memory", memory)
    alpha = check_positive("alpha", alpha)
    z0 = jnp.asarray(z0)
    return _converge(z0, jnp.asarray(a).astype(z0.dtype), alpha, gtol, ftol, max_iter,
                     memory, rcond)


@partial(jax.jit, static_argnums=(2, 5, 6, 7))
def _converge(z0, a, alpha, gtol, ftol, max_iter, memory, rcond):
    import optax

    n, d = z0.shape
    fn = partial(reduced_loss, a=a, alpha=alpha, rcond=rcond)
    opt = optax.lbfgs(memory_size=memory)
    value_and_grad = optax.value_and_grad_from_state(fn)
    tiny = jnp.finfo(z0.dtype).tiny

    def rate(u, value, grad):
        # ∂/∂u of g(√d u/|u|) is (√d/|u_i|) × the Riemannian gradient at z_i: undo it
        riemann = grad * (jnp.linalg.norm(u, axis=1, keepdims=True) / jnp.sqrt(d))
        return n * jnp.sum(riemann**2) / jnp.maximum(value, tiny)

    def cond(carry):
        _, _, k, r, flat = carry
        return (k < max_iter) & (r > gtol) & (flat < PATIENCE)

    def body(carry):
        u, state, k, _, flat = carry
        value, grad = value_and_grad(u, state=state)
        updates, state = opt.update(grad, state, u, value=value, grad=grad, value_fn=fn)
        u = optax.apply_updates(u, updates)
        new_value, new_grad = value_and_grad(u, state=state)  # cached by the line search
        drop = (value - new_value) / jnp.maximum(jnp.abs(value), tiny)
        flat = jnp.where(drop <= ftol, flat + 1, 0)
        return u, state, k + 1, rate(u, new_value, new_grad), flat

    v0, g0 = jax.value_and_grad(fn)(z0)
    init = (z0, opt.init(z0), jnp.asarray(0), rate(z0, v0, g0), jnp.asarray(0))
    u, _, k, r, flat = jax.lax.while_loop(cond, body, init)
    z = retract_to_sphere(u)
    _, c = random_feature_loss(z, a, alpha, rcond)
    return Converged(KernelParams(c, z), exact_loss(KernelParams(c, z), a, alpha), r, k,
                     r <= gtol, (r > gtol) & (flat >= PATIENCE))
