"""The exact loss of the kernel network on the 3-spin model, by closed forms (SPEC C7).

    L = ½ E_μ (f − f_n)² = ½ [E f² − (2/n) Σ_i c_i F(z_i) + (1/n²) Σ_{i,j} c_i c_j K(z_i, z_j)]

for centres on S^{d−1}(√d), where φ(x, z) = e^{−αd} e^{α x·z} (erratum 4) and, with
M(v) = E_μ e^{v·x} = m_ν(√d |v|) the sphere's moment generating function
(:mod:`mflab.spherical.bessel`, ν = d/2 − 1):

* K(z, z') = E_μ φ(x,z) φ(x,z') = e^{−2αd} M(α(z + z')) = e^{−2αd} m_ν(s),
  s² = d α² |z + z'|² ≤ (2αd)², so K ∈ (0, 1]; it is evaluated as e^{s−2αd} times bounded
  factors (:func:`~mflab.spherical.bessel.scaled_sphere_mgf`), so nothing overflows;
* F(z) = E_μ f(x) φ(x,z) = e^{−αd} (1/d) Σ a_pqr ∂³M/∂v_p∂v_q∂v_r at v = αz. With
  ∂_p H_k = d v_p H_{k+1} (H_k the radial functions, H_0 = M),
  ∂³M = d² (δ_pq v_r + δ_pr v_q + δ_qr v_p) H_2 + d³ v_p v_q v_r H_3, and at |z| = √d
  (s = αd fixed)

      F(z) = e^{−αd} m_ν(αd) [ 3 d α ρ_ν ρ_{ν+1} τ·z + (αd)³ ρ_ν ρ_{ν+1} ρ_{ν+2} f(z) ],

  a cubic-plus-linear polynomial in z (ρ_μ = I_{μ+1}/(s I_μ) at s = αd; τ the trace of
  sym(a));
* E f² = (6 Σ b² + 9 |τ|²)/((d+2)(d+4)) (:func:`three_spin_second_moment`).

L is quadratic in the weights, so its minimum over c for fixed centres is a closed form too
(:func:`random_feature_loss`, the random-feature optimum).

Every function takes centres already on the sphere; differentiate through
:func:`mflab.spherical.sphere.retract_to_sphere` for the Riemannian gradient (as the
landscape does). α must be a concrete number (it fixes the Bessel recurrence depth).
In float64 the loss is accurate to ≈ 1e-15 · E f² in absolute terms (the three terms
cancel as f_n → f).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from mflab.spherical.bessel import log_mgf_and_ratios, scaled_sphere_mgf
from mflab.spherical.kernel_network import KernelParams
from mflab.spherical.three_spin import three_spin, three_spin_second_moment, trace_vector


def kernel_overlap(z: jax.Array, z_prime: jax.Array, alpha: float) -> jax.Array:
    """K(z_i, z'_j) = E_μ φ(x, z_i) φ(x, z'_j) = e^{−2αd} M(α(z_i + z'_j)), all pairs.

    Args:
      z: ``(m, d)`` centres on S^{d−1}(√d).
      z_prime: ``(n, d)`` centres on S^{d−1}(√d).
      alpha: kernel parameter α > 0 (a concrete number).

    Returns:
      ``(m, n)`` array, entries in (0, 1]; exact derivative in z, z' (custom JVP of log M).
    """
    d = z.shape[-1]
    alpha = float(alpha)
    sq = (
        jnp.sum(z * z, axis=-1)[:, None]
        + jnp.sum(z_prime * z_prime, axis=-1)[None, :]
        + 2.0 * (z @ z_prime.T)
    )  # |z_i + z'_j|²
    u = (d * alpha * alpha) * jnp.maximum(sq, 0.0)
    return scaled_sphere_mgf(u, d, 2.0 * alpha * d, 2.0 * alpha * d)


def kernel_mean(d: int, alpha: float, dtype=None) -> jax.Array:
    """E_μ φ(x, z) = e^{−αd} m_ν(αd) for any z on S^{d−1}(√d) (the MGF at v = αz).

    The mass of one kernel: f_n ≈ f needs weights c(z) ≈ f(z)/E_μ φ when the kernel is
    narrow (an approximate identity), which sets the scale of the trained weights.
    """
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    s = float(alpha) * d
    log_m, _ = log_mgf_and_ratios(jnp.asarray(s * s, dtype), d, s, 1)
    return jnp.exp(log_m - s)


def matched_weight_scale(a: jax.Array, alpha: float) -> jax.Array:
    """c0 = √(3 E_μ f²) / E_μ φ: the half-width of U[−c0, c0] whose spread (c0/√3) matches
    that of the weights c(z) ≈ f(z)/E_μ φ that represent f (see :func:`kernel_mean`).

    The initial law c_i ~ U[−c0, c0] with this c0 puts the weights at the scale training
    needs; ``docs/three-spin-model.md`` shows that it trains fastest at a stable step.
    """
    d = a.shape[0]
    return jnp.sqrt(3.0 * three_spin_second_moment(a)) / kernel_mean(d, alpha, a.dtype)


def target_overlap(z: jax.Array, a: jax.Array, alpha: float) -> jax.Array:
    """F(z_i) = E_μ f(x) φ(x, z_i) for centres ``z (n, d)`` on the sphere → ``(n,)``.

    F(z) = e^{−αd} m_ν(αd) [3dα ρ_ν ρ_{ν+1} τ·z + (αd)³ ρ_ν ρ_{ν+1} ρ_{ν+2} f(z)]
    (module docstring), with the couplings ``a (d, d, d)`` of f.
    """
    d = z.shape[-1]
    s = float(alpha) * d
    log_m, (r0, r1, r2) = log_mgf_and_ratios(jnp.asarray(s * s, z.dtype), d, s, 3)
    scale = jnp.exp(log_m - s)  # e^{−αd} m_ν(αd) = E_μ φ(x, z)
    linear = (3.0 * d * float(alpha)) * r0 * r1 * (z @ trace_vector(a).astype(z.dtype))
    cubic = s**3 * r0 * r1 * r2 * three_spin(a.astype(z.dtype), z)
    return scale * (linear + cubic)


BLOCK_ROWS = 1024
"""Rows of K formed at once by :func:`exact_loss` (n > BLOCK_ROWS: blocks of this many)."""


def kernel_quadratic(c: jax.Array, z: jax.Array, alpha: float,
                     rows: int | None = BLOCK_ROWS) -> jax.Array:
    """cᵀKc = Σ_{i,j} c_i c_j K(z_i, z_j), forming K in blocks of ``rows`` rows.

    O(n² d) work either way; memory O(rows · n) instead of O(n²) when n > ``rows``: each
    block's K(z_B, z) is formed, contracted with c and dropped, and rebuilt in the
    backward pass (``jax.checkpoint``), so its gradient is also O(rows · n) in memory.
    The last block is padded with zero weights (at a copy of z_0, on the sphere).

    Args:
      c: ``(n,)`` weights.
      z: ``(n, d)`` centres on S^{d−1}(√d).
      alpha: kernel parameter α > 0 (a concrete number).
      rows: rows per block; ``None`` forms all of K at once.
    """
    n, d = z.shape
    if rows is None or n <= rows:
        return c @ (kernel_overlap(z, z, alpha) @ c)
    blocks = -(-n // rows)
    pad = blocks * rows - n
    zb = jnp.concatenate([z, jnp.broadcast_to(z[:1], (pad, d))]).reshape(blocks, rows, d)
    cb = jnp.concatenate([c, jnp.zeros((pad,), c.dtype)]).reshape(blocks, rows)

    @jax.checkpoint
    def block(args):
        z_rows, c_rows = args
        return c_rows @ (kernel_overlap(z_rows, z, alpha) @ c)

    return jnp.sum(jax.lax.map(block, (zb, cb)))


def exact_loss(params: KernelParams, a: jax.Array, alpha: float,
               rows: int | None = BLOCK_ROWS) -> jax.Array:
    """L = ½ [E f² − (2/n) Σ c_i F(z_i) + (1/n²) Σ c_i c_j K(z_i, z_j)] = ½ E_μ (f − f_n)².

    Args:
      params: one agent's :class:`KernelParams` (``c (n,)``, ``z (n, d)`` on the sphere).
      a: couplings ``(d, d, d)`` of the 3-spin target.
      alpha: kernel parameter α > 0 (a concrete number).
      rows: K is formed ``rows`` rows at a time (:func:`kernel_quadratic`): memory
        O(rows · n) for the loss and its gradient; ``None``: all at once.

    Returns:
      the scalar loss, in the dtype of ``params``.
    """
    c, z = params
    n = c.shape[0]
    second_moment = three_spin_second_moment(a).astype(c.dtype)
    cross = c @ target_overlap(z, a, alpha) / n
    quadratic = kernel_quadratic(c, z, alpha, rows) / (n * n)
    return 0.5 * (second_moment - 2.0 * cross + quadratic)


@partial(jax.jit, static_argnums=(2, 3))
def random_feature_loss(z: jax.Array, a: jax.Array, alpha: float,
                        rcond: float = 1e-10) -> tuple[jax.Array, jax.Array]:
    """min over c of L(c, z) for fixed centres: the best the weights alone can do.

    L is quadratic in c, ½ [E f² − (2/n) cᵀF + (1/n²) cᵀKc] (F = F(z_i), K = K(z_i, z_j)),
    so its minimiser is c* = n K⁺F and L(c*, z) = ½ [E f² − Fᵀ K⁺ F] (the random-feature,
    or "lazy", optimum of the centres ``z``). K is a Gram matrix of smooth kernels and is
    numerically singular for large n, so K⁺ is the pseudo-inverse from the eigenvalues
    above ``rcond`` × the largest: c* is then the minimiser on that eigen-subspace, and the
    value returned is the exact loss of a weight vector, an upper bound on the minimum
    (equal to it up to the discarded directions' share of F).

    Args:
      z: ``(n, d)`` centres on S^{d−1}(√d).
      a: couplings ``(d, d, d)`` of the target.
      alpha: kernel parameter α > 0 (a concrete number).
      rcond: relative eigenvalue cut-off of the pseudo-inverse.

    Returns:
      ``(loss, c_star)``: L(c*, z) and the weights c* ``(n,)``.
    """
    n = z.shape[0]
    second_moment = three_spin_second_moment(a).astype(z.dtype)
    f_overlap = target_overlap(z, a, alpha)
    w, v = jnp.linalg.eigh(kernel_overlap(z, z, alpha))
    inv = jnp.where(w > rcond * w[-1], 1.0 / jnp.where(w > 0, w, 1.0), 0.0)
    q = v.T @ f_overlap
    c_star = n * (v @ (inv * q))
    return 0.5 * (second_moment - jnp.sum(inv * q * q)), c_star
