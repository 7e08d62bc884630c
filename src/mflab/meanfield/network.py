"""The two-layer network of SPEC Part A as a function of its particles: prediction, batch
square loss, its gradient (hand-written), and the initial law.

    ŷ(x; θ) = (1/N) Σ_i σ*(x; θ_i),       R̂_B(θ) = (1/m) Σ_{l ≤ m} (y_l − ŷ(x_l; θ))²
    ∇_{θ_i} R̂_B(θ) = −(2/(N m)) Σ_l (y_l − ŷ(x_l; θ)) ∇_θ σ*(x_l; θ_i)

Particles θ are ``(N, D)`` rows ``[extra..., w...]`` (``UnitType`` of
:mod:`~mflab.meanfield.activations`; type a: w; type b: (a, b, w); type c: (c, w)); a
batch is ``x (m, d)``, ``y (m,)``. The gradient is written by hand from
``UnitType.local`` (one pass: z = W xᵀ, then a rank-m update), which is the update of the
online SGD kernels too.

Reference: SPEC Part A; Mei, Montanari & Nguyen, PNAS 2018, eqs. (1)–(3) and (6).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mflab.meanfield.activations import UnitType
from mflab.validation import check_choice, check_int, check_positive

C_INITS = ("constant", "uniform", "normal")


def predict(units: UnitType, theta: jax.Array, x: jax.Array) -> jax.Array:
    """ŷ(x; θ) = (1/N) Σ_i σ*(x; θ_i) for a batch ``x`` ``(m, d)`` → ``(m,)``."""
    return jnp.mean(units(theta, x.astype(theta.dtype)), axis=0)


def batch_risk(units: UnitType, theta: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """R̂_B(θ) = (1/m) Σ_l (y_l − ŷ(x_l; θ))² on the batch ``(x (m, d), y (m,))``."""
    r = y.astype(theta.dtype) - predict(units, theta, x)
    return jnp.mean(r * r)


def local_gradient(units: UnitType, theta, x, y):
    """The pieces of ∇R̂_B: ``(coef_dz (N, m), grad_extra (N, p))`` with
    ∇_W R̂_B = coef_dz @ x, where coef_dz = −(2/(N m)) (y − ŷ) ∂σ*/∂z."""
    z = theta @ _padded(units, x, theta.dtype).T  # = w @ x.T, without copying w out of θ
    val, dz, dex = units.local(z, units.split(theta)[0])
    err = y.astype(theta.dtype) - jnp.mean(val, axis=0)  # (m,)
    coef = (-2.0 / (theta.shape[0] * x.shape[0])) * err
    return dz * coef, jnp.sum(dex * coef, axis=-1)


def _padded(units: UnitType, x, dtype):
    """x (m, d) with zero columns in front for the extra parameters, (m, D): θ·x̃ = w·x.
    Working on the whole (N, D) θ avoids slicing w out of it and joining the gradient back
    (two (N, d) copies per step, most of a mini-batch step's time at m = 100, d = 784)."""
    x = x.astype(dtype)
    p = units.n_extra
    return jnp.concatenate([jnp.zeros((x.shape[0], p), dtype), x], axis=1) if p else x


def rank_m_update(cdz: jax.Array, x: jax.Array) -> jax.Array:
    """``cdz @ x`` (N, m) @ (m, d), the rank-m part of ∇_W R̂_B.

    For m = 1 XLA turns the product into a broadcast multiply and fuses the producer of
    ``x`` into it, so a freshly sampled x (an erfinv per element) would be recomputed for
    each of the N rows — 30 000 times per step at N = 800, d = 40 (measured: 3× slower).
    A zero second term keeps it a real product, evaluated once.
    """
    if x.shape[0] == 1:
        cdz = jnp.concatenate([cdz, jnp.zeros_like(cdz)], axis=1)
        x = jnp.concatenate([x, jnp.zeros_like(x)], axis=0)
    return cdz @ x


def batch_grad(units: UnitType, theta: jax.Array, batch) -> jax.Array:
    """∇_θ R̂_B(θ) for ``batch = (x (m, d), y (m,))``, shape ``(N, D)`` (module docstring)."""
    x, y = batch
    cdz, g_extra = local_gradient(units, theta, x, y)
    g = rank_m_update(cdz, _padded(units, x, theta.dtype))  # zero extra columns
    return g.at[:, : units.n_extra].set(g_extra) if units.n_extra else g


def init_particles(key, units: UnitType, N: int, d: int, kappa: float = 0.8, *, a0=1.0,
                   b0=0.0, c0=1.0, c_init: str = "constant", dtype=None) -> jax.Array:
    """θ_i drawn iid from the initial law ρ₀, as ``(N, D)`` rows.

    w_i ~ N(0, κ²/d I_d) (SPEC A1/A2); type b: a_i = a0, b_i = b0; type c: c_i = c0
    (``c_init="constant"``), c_i ~ U[−c0, c0] (``"uniform"``, the initial law of
    Sirignano & Spiliopoulos' MNIST experiment, SPEC A4) or N(0, c0²) (``"normal"``).
    Gaussians are drawn in float32 and cast (JAX's float64 PRNG is ~10× slower).

    Args:
      key: PRNG key.
      units: the unit type.
      N, d: units and input dimension (≥ 1).
      kappa: κ > 0 (default 0.8, SPEC A1).
      a0, b0, c0: constants (or the scale of c) of the non-w parameters.
      c_init: law of c for type c: ``"constant"``, ``"uniform"`` or ``"normal"``.
      dtype: float dtype (default: JAX's default float).
    """
    N = check_int("N", N)
    d = check_int("d", d)
    check_positive("kappa", kappa)
    check_choice("c_init", c_init, C_INITS)
    dtype = jnp.result_type(float) if dtype is None else dtype
    w = jax.random.normal(key, (N, d), jnp.float32).astype(dtype) * float(kappa / np.sqrt(d))
    kc = jax.random.fold_in(key, 1)
    if units.kind == "a":
        return w
    if units.kind == "b":
        extra = jnp.broadcast_to(jnp.asarray([a0, b0], dtype), (N, 2))
    elif c_init == "constant":
        extra = jnp.full((N, 1), c0, dtype)
    elif c_init == "uniform":
        extra = (jax.random.uniform(kc, (N, 1), jnp.float32, -1.0, 1.0) * c0).astype(dtype)
    else:
        extra = (jax.random.normal(kc, (N, 1), jnp.float32) * c0).astype(dtype)
    return jnp.concatenate([extra, w], axis=1)
