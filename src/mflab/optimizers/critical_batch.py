"""The critical batch size m* of a model's mini-batch SGD (Ma, Bassily & Belkin 2018; Liu &
Belkin 2020), estimated from data at a point of its parameters.

For the square loss of a model ŷ(x; θ) linearised at θ, the tangent features are
φ(x) = ∇_θ ŷ(x; θ) and the loss's curvature is H = E[φ(x) φ(x)ᵀ] (up to the factor 2 of
(y − ŷ)², which cancels in every ratio below). Mini-batch SGD at batch m is smooth with
L_m = L₁/m + (m − 1)/m · L, where L = λ_max(H) and L₁ the per-sample smoothness; its
step 1/L_m grows linearly with m up to the critical batch

    m* = L₁ / L,

beyond which a larger batch buys (almost) nothing: L_m → L (Ma, Bassily & Belkin 2018,
Theorem 4; Liu & Belkin 2020, §3, where MaSS's acceleration over SGD is also stated for
m below m*). Where the features are bounded, L₁ = sup ‖φ(x)‖² (on a finite sample it is
exactly the largest ‖φ(x_i)‖²: Liu–Belkin's E[‖φ‖² φφᵀ] ≼ L₁ H restricted to the span of
the sample); for Gaussian-like features ‖φ‖² concentrates at tr H, and the estimate with
L₁ = E‖φ‖² = tr H (the stable rank of H, Ma–Bassily–Belkin's β for a kernel with constant
k(x, x)) is the one quoted.

:func:`critical_batch` estimates both from n samples: tr H as the mean of the per-sample
‖φ(x_i)‖² (``jax.vmap`` of ``jax.grad``, in chunks) and λ_max of the sample curvature
H_n = (1/n) Σ φ(x_i) φ(x_i)ᵀ by Lanczos (``scipy.sparse.linalg.eigsh``) on the
matrix-free product H_n v = (1/n) Jᵀ(J v) (one ``jax.jvp`` and one ``jax.vjp`` of the n
outputs). λ_max(H_n) is biased up (by about tr H / n for a spike over a flat bulk, a
relative bias ≈ m*/n; more for the networks of C5: on A2's bad start m* from 4096 samples
was 325, from 16 384 samples 457, ``benchmarks/bench_critical_batch.py``), so m* from it is
biased down; the top direction of one half of the sample weighed by the other half is
biased down instead (:class:`CriticalBatch`), and the two bracket m*: use n ≫ m*.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mflab.optimizers.base import agent_map
from mflab.validation import check_int


class CriticalBatch(NamedTuple):
    """Estimates at one point θ from ``samples`` inputs.

    ``lam_max`` = λ_max(H_n), biased up (by ≈ tr H / n); ``lam_held_out`` = v₁ᵀ H₂ v₁, the
    top eigenvector of the first half's H_{n/2} weighed by the second half's, unbiased for
    v₁ᵀ H v₁ ≤ λ_max(H), so biased down. ``m_star`` = tr H / ``lam_max`` and
    ``m_star_held_out`` = tr H / ``lam_held_out`` therefore bracket m* = tr H / λ_max(H)
    in expectation; ``m_star_sup`` = max_i ‖φ(x_i)‖² / ``lam_max``; ``trace`` = the mean
    ‖φ(x_i)‖², ``max_norm2`` their largest."""

    m_star: float
    m_star_held_out: float
    m_star_sup: float
    trace: float
    max_norm2: float
    lam_max: float
    lam_held_out: float
    samples: int


def critical_batch(predict, params: Any, x, *, chunk: int = 128, tol: float = 1e-6
                   ) -> CriticalBatch:
    """m* = L₁ / λ_max(H) of mini-batch SGD on the square loss of ``predict`` at ``params``,
    H = E[φ φᵀ], φ(x) = ∇_θ ŷ(x; θ) (Ma, Bassily & Belkin 2018; Liu & Belkin 2020; module
    docstring).

    Args:
      predict: ``predict(params, x_batch) -> (n,)`` model outputs (a pure JAX function).
      params: the point θ (any pytree of arrays).
      x: the n input samples, leading axis n (n ≥ 2).
      chunk: samples per chunk of per-sample gradients (memory ≈ chunk × |θ|).
      tol: relative tolerance of the Lanczos eigenvalue.

    Returns a :class:`CriticalBatch` (floats, computed in the dtype of ``params``).
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    n = check_int("samples", int(jnp.shape(x)[0]), minimum=2)
    chunk = check_int("chunk", chunk)
    flat, matvec, per_sample = tangent_operators(predict, params)
    norms = np.concatenate([
        np.sum(np.asarray(per_sample(flat, x[i:i + chunk]), np.float64) ** 2, axis=1)
        for i in range(0, n, chunk)])
    dtype = np.dtype(flat.dtype)
    v0 = np.asarray(jax.random.normal(jax.random.key(0), flat.shape, dtype))

    def top(xs):
        op = LinearOperator((flat.size, flat.size), dtype=dtype, matvec=lambda v: np.asarray(
            matvec(flat, xs, jnp.asarray(v.ravel(), dtype))))
        lam, vec = eigsh(op, k=1, which="LA", tol=tol, v0=v0)
        return float(lam[0]), vec[:, 0]

    lam = top(x)[0]
    h = n // 2  # the top direction of one half, its Rayleigh quotient on the other
    vec = top(x[:h])[1]
    held = float(np.dot(vec, np.asarray(matvec(flat, x[h:], jnp.asarray(vec, dtype)))))
    trace, biggest = float(norms.mean()), float(norms.max())
    return CriticalBatch(trace / lam, trace / held, biggest / lam, trace, biggest, lam, held, n)


def tangent_operators(predict, params: Any):
    """``(flat, matvec, per_sample)`` of the tangent features φ(x) = ∇_θ ŷ(x; θ) at
    ``params``: the flat θ, the jitted ``matvec(flat, xs, v)`` = H_n v = (1/n) Jᵀ(J v) on
    the sample ``xs`` (one ``jax.jvp`` and one ``jax.vjp``, matrix-free) and the jitted
    ``per_sample(flat, xs)`` = the rows φ(x_i) of J, ``(n, |θ|)``."""
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(params)

    @jax.jit
    def matvec(p, xs, v):  # θ and x as arguments: closed over, XLA constant-folds them
        def outputs(q):
            return predict(unravel(q), xs)

        _, jv = jax.jvp(outputs, (p,), (v,))
        return jax.vjp(outputs, p)[1](jv)[0] / xs.shape[0]

    grad_one = jax.grad(lambda p, xi: predict(unravel(p), xi[None])[0])
    # agent_map: a chunk of one sample is mapped without vmap (its float32 bug)
    per_sample = jax.jit(lambda p, xs: agent_map(lambda xi: grad_one(p, xi), xs))
    return flat, matvec, per_sample
