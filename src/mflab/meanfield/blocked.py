"""Exact blocked kernels: B steps of SGD (B1) or momentum (B2/B4) on a two-layer network at
GEMM speed, equal to B single steps to rounding.

The gradient of step k is rank m in the input weights: ∇_W R̂ = C_k X_k with
C_k = −(2/(N m)) (y − ŷ) ⊙ ∂σ*/∂z (N × m) and X_k the step's samples (m × d)
(:func:`~mflab.meanfield.network.local_gradient`). Every iterate inside a block is
therefore the block's starting matrices plus a combination of C_j X_j, j < k, and the
pre-activations of step k follow from one matrix product at the start of the block and the
Gram matrix G = X Xᵀ of the block's samples:

* **SGD** (W⁺ = W − η_k C_k X_k): z_k = W₀ X_kᵀ + Σ_{j<k} D_j G_{jk}, D_j = −η_j C_j, and
  W_B = W₀ + D X. Per step this costs N·B·m for the correction instead of touching the
  (N, d) matrix twice; the (N, d) work is two GEMMs per block.
* **Momentum** (the scale-free rule of :mod:`mflab.optimizers.momentum`, fixed γ,
  r_k = η₂/η₁): t_{k+1} = γ t_k + (γ − r_k) g_k, u_{k+1} = u_k − η_k (t_{k+1} + g_k). With
  t_k = γ^k T₀ + Σ_j τ_{kj} g_j and u_k = U₀ + μ_k T₀ + Σ_j υ_{kj} g_j the scalar
  coefficients obey τ_{k+1} = γ τ_k + (γ − r_k) e_k, υ_{k+1} = υ_k − η_k (τ_{k+1} + e_k),
  μ_{k+1} = μ_k − η_k γ^{k+1}; so z_k = U₀X_kᵀ + μ_k T₀X_kᵀ + Σ_j υ_{kj} C_j G_{jk}, and
  the block ends with [U_B; T_B] from one stacked GEMM and w_B = u_B + η_{B−1} t_B
  (w⁺ = u⁺ + η t⁺ within a step). About twice B1's GEMM work per step. The same algebra
  holds for any linear momentum rule with the gradient at u
  (:func:`linear_momentum_block`; heavy ball is the example of ``docs/extending.md``).

The non-linear extra parameters (a, b of type b; c of type c) are updated step by step
(they are (N, p), cheap). Samples come in as ``X (B, m, d)``, ``Y (B, m)``.

Reference: the rank-one structure of online SGD in two-layer networks (Mei, Montanari &
Nguyen 2018, eq. 6); the blocking is mflab's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mflab.meanfield.activations import UnitType


def _step_gradient(units: UnitType, z, extra, y, N: int):
    """(C (N, m), g_extra (N, p)) of one step from its pre-activations z (N, m)."""
    val, dz, dex = units.local(z, extra)
    coef = (-2.0 / (N * z.shape[1])) * (y - jnp.mean(val, axis=0))
    return dz * coef, jnp.sum(dex * coef, axis=-1)


def _block_geometry(X):
    """Flattened samples (Bm, d) and the Gram columns of each step, (B, Bm, m)."""
    B, m, d = X.shape
    Xf = X.reshape(B * m, d)
    G = (Xf @ Xf.T).reshape(B * m, B, m).transpose(1, 0, 2)
    return Xf, G


def sgd_block(units: UnitType, W, extra, X, Y, eta):
    """B SGD steps θ ← θ − η_k ∇R̂_{B_k}(θ) by the exact blocked update.

    Args:
      units: unit type; W (N, d) input weights; extra (N, p) other parameters.
      X (B, m, d), Y (B, m): the samples of the B steps; eta (B,): the step sizes η_k.

    Returns the new (W, extra).
    """
    B, m, _ = X.shape
    N = W.shape[0]
    Xf, G = _block_geometry(X)
    Z0 = (W @ Xf.T).reshape(N, B, m).transpose(1, 0, 2)  # (B, N, m)
    D0 = jnp.zeros((N, B * m), W.dtype)

    def body(carry, inp):
        D, ex = carry
        k, z0, g, y, e = inp
        z = z0 + D @ g  # columns ≥ k·m of D are still 0: only steps j < k contribute
        C, g_ex = _step_gradient(units, z, ex, y, N)
        D = jax.lax.dynamic_update_slice(D, -e * C, (0, k * m))
        return (D, ex - e * g_ex), None

    (D, extra), _ = jax.lax.scan(body, (D0, extra), (jnp.arange(B), Z0, G, Y, eta))
    return W + D @ Xf, extra


def sgd_block_plain(units: UnitType, W, extra, X, Y, eta):
    """The same B SGD steps one by one (the reference for :func:`sgd_block`)."""
    N = W.shape[0]

    def body(carry, inp):
        W, ex = carry
        x, y, e = inp
        C, g_ex = _step_gradient(units, W @ x.T, ex, y, N)
        return (W - e * (C @ x), ex - e * g_ex), None

    (W, extra), _ = jax.lax.scan(body, (W, extra), (X, Y, eta))
    return W, extra


def linear_momentum_block(units: UnitType, U, T, ue, te, X, Y, eta, a, b, c):
    """B steps of a linear momentum rule with the gradient at u, by the exact blocked update::

        t_{k+1} = a_k t_k + b_k g_k,     u_{k+1} = u_k − η_k (t_{k+1} + c_k g_k),   g_k = ∇R̂(u_k)

    B2/B4 are a = γ, b = γ − r_k, c = 1 (:func:`momentum_block`); Polyak's heavy ball
    (s⁺ = β s + g(x), x⁺ = x − η s⁺) is a = β, b = 1, c = 0 with u = x, t = s. With
    t_k = (Π a) T₀ + Σ_j τ_{kj} g_j and u_k = U₀ + μ_k T₀ + Σ_j υ_{kj} g_j the scalar
    coefficients obey τ_{k+1} = a_k τ_k + b_k e_k, υ_{k+1} = υ_k − η_k (τ_{k+1} + c_k e_k),
    μ_{k+1} = μ_k − η_k Π_{i≤k} a_i (module docstring).

    Args:
      units: unit type.
      U, T: (N, d) input-weight parts of u and t; ue, te: (N, p) their extra parts.
      X (B, m, d), Y (B, m): samples; eta, a, b, c: (B,) the coefficients of each step.

    Returns ``(U, T, ue, te)`` after the block.
    """
    B, m, _ = X.shape
    N = U.shape[0]
    dtype = U.dtype
    Xf, G = _block_geometry(X)
    Zu = (U @ Xf.T).reshape(N, B, m).transpose(1, 0, 2)  # (B, N, m)
    Zt = (T @ Xf.T).reshape(N, B, m).transpose(1, 0, 2)
    C0 = jnp.zeros((N, B * m), dtype)
    zeros_b = jnp.zeros(B, dtype)

    def body(carry, inp):
        C, tau, ups, mu, gk, ue, te = carry  # gk = Π_{i<k} a_i
        k, zu, zt, g, y, e, ak, bk, ck = inp
        coeff = jnp.repeat(ups, m)  # υ_{kj} per sample column
        z = zu + mu * zt + C @ (coeff[:, None] * g)
        Ck, g_ex = _step_gradient(units, z, ue, y, N)
        C = jax.lax.dynamic_update_slice(C, Ck, (0, k * m))
        onehot = (jnp.arange(B) == k).astype(dtype)
        tau = ak * tau + bk * onehot
        ups = ups - e * (tau + ck * onehot)
        gk = gk * ak
        mu = mu - e * gk
        te = ak * te + bk * g_ex
        ue = ue - e * (te + ck * g_ex)
        return (C, tau, ups, mu, gk, ue, te), None

    init = (C0, zeros_b, zeros_b, jnp.zeros((), dtype), jnp.ones((), dtype), ue, te)
    (C, tau, ups, mu, gk, ue, te), _ = jax.lax.scan(
        body, init, (jnp.arange(B), Zu, Zt, G, Y, eta, a, b, c))
    U_new = U + mu * T + (C * jnp.repeat(ups, m)[None]) @ Xf
    T_new = gk * T + (C * jnp.repeat(tau, m)[None]) @ Xf
    return U_new, T_new, ue, te


def momentum_block(units: UnitType, U, T, ue, te, X, Y, eta, ratio, gamma: float):
    """B steps of the momentum rule (B2/B4, fixed γ) by the exact blocked update
    (:func:`linear_momentum_block` with a = γ, b = γ − r_k, c = 1).

    Args:
      units: unit type.
      U, T: (N, d) input-weight parts of the look-ahead u and the trace t.
      ue, te: (N, p) their extra-parameter parts.
      X (B, m, d), Y (B, m): samples; eta (B,): η_k; ratio (B,): r_k = η₂/η₁ at step k.
      gamma: fixed momentum γ.

    Returns ``(U, T, ue, te, We, we_extra)``: u and t after the block, and the iterate w's
    parts (w = u + η_{B−1} t).
    """
    a = jnp.full(eta.shape, gamma, U.dtype)
    U, T, ue, te = linear_momentum_block(units, U, T, ue, te, X, Y, eta, a, a - ratio,
                                         jnp.ones_like(a))
    e_last = eta[-1]
    return U, T, ue, te, U + e_last * T, ue + e_last * te
