"""The spectrum of the kernel overlap K on the sphere (Funk–Hecke), and the time scales of
the weights' flow it sets (SPEC C7; issue 23).

K(z, z') = E_μ φ(x, z) φ(x, z') depends on z, z' ∈ S^{d−1}(√d) only through
t = z·z'/d ∈ [−1, 1] (:func:`~mflab.spherical.exact_loss.kernel_overlap`:
s² = dα²|z + z'|² = 2(αd)²(1 + t)):

    K(t) = e^{−2αd} m_ν(s),   s = αd √(2(1 + t)),   m_ν(s) = Γ(ν+1) (2/s)^ν I_ν(s),

ν = d/2 − 1 (m_ν is the moment generating function of μ; :mod:`mflab.spherical.bessel`).
The integral operator (T g)(z) = E_{z'∼μ} K(z, z') g(z') is therefore diagonal in the
spherical harmonics (the Funk–Hecke formula): T Y_ℓ = λ_ℓ Y_ℓ for every harmonic of degree
ℓ, with

    λ_ℓ = ω_d ∫_{−1}^{1} K(t) P_ℓ^{(d)}(t) (1 − t²)^{(d−3)/2} dt,
    ω_d = Γ(d/2) / (√π Γ((d−1)/2)),

P_ℓ^{(d)} = C_ℓ^{(d−2)/2} / C_ℓ^{(d−2)/2}(1) the Legendre polynomial of dimension d, and
multiplicity N(d, ℓ) = (2ℓ + d − 2)(ℓ + d − 3)! / (ℓ! (d − 2)!). Mercer's theorem gives
the trace Σ_ℓ N(d, ℓ) λ_ℓ = K(1) = E_μ φ(x, z)² = e^{−2αd} m_ν(2αd). For n centres
drawn from μ, the eigenvalues of the Gram matrix K(z_i, z_j)/n converge to the λ_ℓ, each
repeated N(d, ℓ) times (Koltchinskii & Giné 2000).

**Time scales.** In mean-field time the weights at fixed centres follow
ċ_i = F(z_i) − (1/n) Σ_j K(z_i, z_j) c_j (``docs/three-spin-model.md``), i.e.
∂_t c = F − T c as n → ∞: the part of c along the degree-ℓ harmonics relaxes as
e^{−λ_ℓ t}, in time τ_ℓ = 1/λ_ℓ. The 3-spin target is cubic: its degree-3 part (and the
degree-1 part of its trace) has to be learnt, which takes τ_3 of the weights' flow.

References: Atkinson & Han, *Spherical Harmonics and Approximations on the Unit Sphere*,
LNM 2044 (2012), Thm 2.22 (Funk–Hecke); Koltchinskii & Giné, Bernoulli 6 (2000) (the
Gram spectrum); Rotskoff & Vanden-Eijnden, CPAM 2022, §5 (the model).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from mflab.spherical.sphere import check_dimension
from mflab.validation import check_int, check_positive


def harmonic_multiplicity(d: int, ell: int) -> int:
    """N(d, ℓ) = (2ℓ + d − 2)(ℓ + d − 3)! / (ℓ! (d − 2)!): the dimension of the space of
    spherical harmonics of degree ℓ on S^{d−1} (1, d, d(d+1)/2 − 1, … for ℓ = 0, 1, 2)."""
    d, ell = check_dimension(d), check_int("ell", ell, minimum=0)
    return math.comb(ell + d - 1, d - 1) - (math.comb(ell + d - 3, d - 1) if ell >= 2 else 0)


def overlap_profile(t, d: int, alpha: float) -> np.ndarray:
    """K(t) = e^{−2αd} m_ν(αd √(2(1+t))) for t = z·z'/d ∈ [−1, 1] (module docstring), in
    float64 by scipy's scaled Bessel function I_ν (independent of the JAX recurrence of
    :mod:`mflab.spherical.bessel`); K(−1) = e^{−2αd} ≤ K(t) ≤ K(1) = E_μ φ² < 1."""
    d, alpha = check_dimension(d), check_positive("alpha", alpha)
    t = np.asarray(t, np.float64)
    if np.any(np.abs(t) > 1):
        raise ValueError("t = z·z'/d must lie in [-1, 1].")
    nu, top = d / 2.0 - 1.0, 2.0 * alpha * d
    s = alpha * d * np.sqrt(2.0 * (1.0 + t))
    tiny = s < 1e-8  # s → 0: (2/s)^ν I_ν(s) → 1/Γ(ν+1), so m_ν → 1
    s_ = np.where(tiny, 1.0, s)
    log_m = special.gammaln(nu + 1) + nu * np.log(2.0 / s_) + np.log(special.ive(nu, s_)) + s_
    return np.exp(np.where(tiny, 0.0, log_m) - top)


def overlap_eigenvalues(d: int, alpha: float, ell_max: int,
                        n_nodes: int | None = None) -> np.ndarray:
    """λ_ℓ of the operator T with kernel K, ℓ = 0 … ``ell_max`` (Funk–Hecke, module
    docstring), by Gauss–Jacobi quadrature on the weight (1 − t²)^{(d−3)/2}.

    Args:
      d: dimension (≥ 3); alpha: kernel parameter α > 0.
      ell_max: the largest degree.
      n_nodes: quadrature nodes (default 64 + 2·ell_max + 2αd: K is analytic, and the
        nodes resolve both P_ℓ and K's width ~ 1/(αd) near t = 1).

    Returns ``(ell_max + 1,)`` float64. Each λ_ℓ carries an absolute rounding error of
    ≈ 1e-13 × λ_0 (the quadrature's floor), so degrees whose λ_ℓ falls below that are noise.
    """
    d, alpha = check_dimension(d), check_positive("alpha", alpha)
    ell_max = check_int("ell_max", ell_max, minimum=0)
    n = n_nodes if n_nodes is not None else 64 + 2 * ell_max + int(2 * alpha * d)
    n = check_int("n_nodes", n)
    a = (d - 3) / 2.0
    t, w = special.roots_jacobi(n, a, a)
    omega = math.exp(math.lgamma(d / 2) - math.lgamma((d - 1) / 2)) / math.sqrt(math.pi)
    k = overlap_profile(t, d, alpha) * w * omega
    lam = (d - 2) / 2.0
    out = []
    for ell in range(ell_max + 1):
        p = special.eval_gegenbauer(ell, lam, t) / special.eval_gegenbauer(ell, lam, 1.0)
        out.append(float(np.sum(k * p)))
    return np.asarray(out)


def initial_excess(d: int, alpha: float, c0: float) -> float:
    """A = c0² K(1)/6, the coefficient of the exact law E L_n(0) = ½E f² + A/n at the
    initial law of SPEC C7 (c_i ~ U[−c0, c0] independent of z_i ~ μ).

    f_n = (1/n) Σ c_i φ(·, z_i) is a mean of n iid functions with mean E[c] E[φ] = 0, so
    E ½‖f − f_n‖² = ½E f² + E[c² φ(x, z)²]/(2n) = ½E f² + (c0²/3) K(1)/(2n), with
    K(1) = E_μ φ(x, z)² (:func:`overlap_profile` at t = 1): Rotskoff & Vanden-Eijnden's
    law at t = 0, with p = 1 exactly.
    """
    c0 = check_positive("c0", c0, allow_zero=True)
    return float(c0 * c0 * overlap_profile(1.0, d, alpha) / 6.0)
