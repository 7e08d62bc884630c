"""Reduced DD for A3 (anisotropic Gaussians, ReLU units of type (b)) in (a, b, r1, r2).

For a law of θ = (a, b, w) invariant under O(s0) × O(d − s0) rotations of w, a unit is
described by (a, b, r1, r2), r1 = |w_{1..s0}|, r2 = |w_{s0+1..d}|. On class y the
pre-activation ⟨w, x⟩ + b is N(b, s_y²), s_y² = (1 + yΔ)² r1² + r2², and two units have
correlation ρ_y = α_y c1 + β_y c2 with α_y = (1 + yΔ)² r1 r1' / (s_y s_y'),
β_y = r2 r2' / (s_y s_y'), where c1, c2 are the independent cosines of two uniform
directions in R^{s0} and R^{d−s0}. Hence, with Mehler's formula,

    ū(θ, θ') = a a' · ½ Σ_y Σ_n c_n(b, s_y) c_n(b', s_y') E[ρ_y^n],
    E[ρ^n] = Σ_{k+j=n} C(n, k) α^k β^j E[c1^k] E[c2^j]          (exact moments),

and v(θ) = −a · ½ [E relu(b + s_+ Z) − E relu(b + s_− Z)] in closed form. The series is
truncated at K terms (default 40; the cosines concentrate like 1/sqrt(s0), 1/sqrt(d − s0),
so it converges fast at the paper's s0 = 60, d = 320 and slowly when s0 or d − s0 is tiny).

Reference: Mei, Montanari & Nguyen, PNAS 2018, §"failure of SGD" (anisotropic example) and
SI; SPEC A3.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special as sps
import scipy.stats as st

from mflab.meanfield.activations import RELU, relu_gaussian_mean
from mflab.meanfield.dd import DDSystem, cosine_moments
from mflab.meanfield.risk import _safe_sqrt, hermite_coeffs

ANISO_TERMS = 40


def _scales(data, r1, r2):
    f = jnp.asarray([(1 + data.delta) ** 2, (1 - data.delta) ** 2], r1.dtype)[:, None]
    return f, _safe_sqrt(f * r1[None] ** 2 + r2[None] ** 2)  # (2,1), (2, M)


def aniso_v(data, th):
    """v(a, b, r1, r2) for rows of th (M, 4)."""
    a, b, r1, r2 = th.T
    _, s = _scales(data, r1, r2)
    m = relu_gaussian_mean(b[None], s)
    return -a * 0.5 * (m[0] - m[1])


def aniso_ubar(data, th1, th2, n_terms: int = ANISO_TERMS):
    """ū(θ_i, θ'_j) (M1, M2) averaged over the O(s0) × O(d − s0) cosine laws (series)."""
    a1, b1, p1, q1 = th1.T
    a2, b2, p2, q2 = th2.T
    f, s1 = _scales(data, p1, q1)
    _, s2 = _scales(data, p2, q2)
    c1 = hermite_coeffs(RELU, b1[None], s1, n_terms)  # (2, M1, K)
    c2 = hermite_coeffs(RELU, b2[None], s2, n_terms)
    den = s1[:, :, None] * s2[:, None, :]
    ok = den > 0
    den = jnp.where(ok, den, 1.0)
    alpha = jnp.where(ok, f[:, :, None] * p1[None, :, None] * p2[None, None, :] / den, 0.0)
    beta = jnp.where(ok, q1[None, :, None] * q2[None, None, :] / den, 0.0)
    m1 = cosine_moments(data.s0, n_terms)
    m2 = cosine_moments(max(data.d - data.s0, 1), n_terms) if data.d > data.s0 else (
        np.eye(1, n_terms)[0])  # no noise coordinates: c2 term absent (β = 0)
    K = n_terms
    ks = np.arange(K)
    # coefficient table T[k, j] = C(k+j, k) m1_k m2_j for k + j < K
    T = np.where(ks[:, None] + ks[None] < K, sps.comb(ks[:, None] + ks[None], ks[:, None])
                 * m1[:, None] * m2[None], 0.0)
    apow = alpha[..., None] ** jnp.asarray(ks, th1.dtype)  # (2, M1, M2, K)
    bpow = beta[..., None] ** jnp.asarray(ks, th1.dtype)
    cc = c1[:, :, None, :] * c2[:, None, :, :]  # c_n c'_n, (2, M1, M2, K)
    # E[ρ^n] = Σ_{k ≤ n} T[k, n−k] α^k β^(n−k): row n of W holds T[k, n−k] (0 for k > n).
    # A scan over n keeps the compiled graph small (an unrolled loop took ~20 s to compile).
    W = np.zeros((K, K))
    for n in range(K):
        W[n, : n + 1] = T[np.arange(n + 1), n - np.arange(n + 1)]

    def term(u, inp):
        n, w_n, c_n = inp
        b_rev = jnp.take(bpow, jnp.clip(n - jnp.arange(K), 0, K - 1), axis=-1)  # β^(n−k)
        return u + c_n * jnp.sum(apow * b_rev * w_n, axis=-1), None

    u, _ = jax.lax.scan(term, jnp.zeros(alpha.shape, th1.dtype),
                        (jnp.arange(K), jnp.asarray(W, th1.dtype), jnp.moveaxis(cc, -1, 0)))
    return a1[:, None] * a2[None, :] * 0.5 * (u[0] + u[1])


def aniso_quantiles(m1: int, m2: int, d: int, s0: int, kappa: float, a0=1.0, b0=0.0):
    """Product quantisation (m1·m2 rows of (a0, b0, r1, r2)) of the law of (a, b, |w_1|, |w_2|)
    for w ~ N(0, κ²/d I_d): r1 = κ/√d · χ_{s0}, r2 = κ/√d · χ_{d−s0} quantiles at (j − ½)/m."""
    r1 = kappa / np.sqrt(d) * st.chi.ppf((np.arange(m1) + 0.5) / m1, s0)
    r2 = (kappa / np.sqrt(d) * st.chi.ppf((np.arange(m2) + 0.5) / m2, d - s0)
          if d > s0 else np.zeros(m2))
    R1, R2 = np.meshgrid(r1, r2, indexing="ij")
    n = R1.size
    return np.stack([np.full(n, a0), np.full(n, b0), R1.ravel(), R2.ravel()], 1)


@dataclass(frozen=True, eq=False)
class AnisotropicDD(DDSystem):
    """Reduced A3 DD: particles (M, 4) rows (a, b, r1, r2); F = Σ v + (1/2M) Σ ū."""

    data: object
    n_terms: int = ANISO_TERMS

    def energy(self, th):
        M = th.shape[0]
        return jnp.sum(aniso_v(self.data, th)) + 0.5 / M * jnp.sum(
            aniso_ubar(self.data, th, th, self.n_terms))

    def risk(self, th):
        return self.data.r_sharp + 2 * jnp.mean(aniso_v(self.data, th)) + jnp.mean(
            aniso_ubar(self.data, th, th, self.n_terms))

    def mean_norm(self, th):
        return jnp.mean(jnp.sqrt(th[:, 2] ** 2 + th[:, 3] ** 2))
