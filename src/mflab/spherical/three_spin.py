"""The spherical 3-spin model: seeded couplings, the energy f, and its second moment E_μ f².

    f(x) = (1/d) Σ_{p,q,r} a_pqr x_p x_q x_r,   x ∈ S^{d−1}(√d),   a_pqr iid N(0, 1)

(report eq. 42; Rotskoff & Vanden-Eijnden, CPAM 2022, §5). Only the symmetrised tensor
b = sym(a) matters: f(x) = (1/d) b(x, x, x). Its trace τ_r = Σ_p b_ppr enters the moments
of f under the uniform law μ. Couplings have shape ``(d, d, d)``; points ``(..., d)``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from mflab.spherical.sphere import check_dimension


def three_spin_couplings(key: jax.Array, d: int, dtype=None) -> jax.Array:
    """The seeded couplings a_pqr iid N(0, 1), shape ``(d, d, d)`` (report eq. 42).

    Drawn in float32 and cast to ``dtype`` (default ``jnp.result_type(float)``), so one key
    gives the same couplings whatever the working precision.
    """
    d = check_dimension(d)
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    return _normal_cube(key, d, dtype)


@partial(jax.jit, static_argnums=(1, 2))
def _normal_cube(key, d, dtype):
    return jax.random.normal(key, (d, d, d), jnp.float32).astype(dtype)


def check_couplings(a) -> int:
    """Return d for couplings of shape ``(d, d, d)`` with d ≥ 3, else raise ValueError."""
    shape = jnp.shape(a)
    if len(shape) != 3 or not (shape[0] == shape[1] == shape[2]):
        raise ValueError(f"couplings must have shape (d, d, d); got shape {shape}.")
    return check_dimension(shape[0])


@jax.jit
def symmetrise(a: jax.Array) -> jax.Array:
    """b_pqr = (1/6) Σ_{permutations σ} a_σ(pqr): the symmetric part of a 3-tensor."""
    perms = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
    return sum(jnp.transpose(a, p) for p in perms) / 6.0


def trace_vector(a: jax.Array) -> jax.Array:
    """τ_r = Σ_p b_ppr with b = sym(a): shape ``(d,)``."""
    return jnp.einsum("ppr->r", symmetrise(a))


def three_spin(a: jax.Array, x: jax.Array) -> jax.Array:
    """f(x) = (1/d) Σ a_pqr x_p x_q x_r for points ``x`` of shape ``(..., d)`` → ``(...)``.

    Computed as (1/d) Σ_p x_p (xᵀ A_p x) with one matrix product, O(d³) per point.
    """
    d = a.shape[0]
    x2 = x[..., :, None] * x[..., None, :]  # (..., d, d) over (q, r)
    y = jnp.reshape(x2, x.shape[:-1] + (d * d,)) @ jnp.reshape(a, (d, d * d)).T
    return jnp.sum(y * x, axis=-1) / d


@jax.jit
def three_spin_second_moment(a: jax.Array) -> jax.Array:
    """E_μ f² = (6 Σ b² + 9 |τ|²) / ((d+2)(d+4)) for x uniform on S^{d−1}(√d) (SPEC C7).

    Derivation: E_μ[x_{i1}⋯x_{i6}] = d³/(d(d+2)(d+4)) · E[g_{i1}⋯g_{i6}] for g ~ N(0, I_d)
    (uniform law times an independent radius, |g|⁶ has mean d(d+2)(d+4)); by Wick's
    theorem E[b(g,g,g)²] = 6 Σ b² + 9 |τ|² (6 pairings across the two copies, 9 with one
    trace in each); and f = b(x,x,x)/d brings 1/d².
    """
    d = a.shape[0]
    b = symmetrise(a)
    tau = jnp.einsum("ppr->r", b)
    return (6.0 * jnp.sum(b * b) + 9.0 * jnp.sum(tau * tau)) / ((d + 2) * (d + 4))
