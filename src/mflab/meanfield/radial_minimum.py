"""The global minimum of the risk over radial laws (isotropic model of SPEC A1/A2).

For a spherically symmetric law of w with radial law ρ (on r = |w| ≥ 0),

    R(ρ) = R# + 2 ∫ v dρ + ∫∫ ū_d(r, r') ρ(dr) ρ(dr'),

with v and ū_d the reduced potential and interaction of :mod:`mflab.meanfield.dd`. R is
a **convex** quadratic functional of ρ: ū_d(r, r') = E_x[φ_r(x) φ_r'(x)] with
φ_r(x) = E_u σ(r⟨u, x⟩) (u uniform on the sphere), a Gram kernel, hence positive
semi-definite. (Indeed R(ρ) = E(y − ∫ φ_r dρ)².) Over laws on a grid r_1 < … < r_K,
ρ = Σ_i p_i δ_{r_i}, the minimum is the convex quadratic programme on the simplex

    min_p  R# + 2 vᵀp + pᵀ U p,   p ≥ 0, Σ p_i = 1,   U_ij = ū_d(r_i, r_j), v_i = v(r_i),

solved here by a primal active-set method (:func:`simplex_qp`). Its optimality
conditions are those of the DD's stationary points plus a global one: with
ψ(r; ρ) = v(r) + ∫ ū_d(r, r') ρ(dr') (the DD's potential) and λ = ∫ ψ dρ*,

    ψ(r_i; ρ*) = λ on the support of ρ*,   ψ(r_i; ρ*) ≥ λ at every grid point.

By convexity, R(ρ) ≥ R(ρ*) + 2 ∫ (ψ(·; ρ*) − λ) dρ for every law ρ, so
``gap = 2 (λ − min ψ)`` (≥ 0) bounds R(ρ*) − min R over all laws on the points where ψ
is evaluated: a certificate of global optimality, not a heuristic. A stationary point
of the DD satisfies the first condition on its own support only; where min ψ < λ it is
not the global minimum (mass moved to the argmin lowers R to first order).

In the limit d → ∞ the cosine of two independent directions vanishes, ū_∞ has rank 2 and
R(ρ) = ½ (a_+ − 1)² + ½ (a_− + 1)² with a_y = ∫ E σ(s_y r G) ρ(dr): the minimum is half
the squared distance from (1, −1) to the convex hull of the curve r ↦ (m_+(r), m_−(r))
(tested against plane geometry).

Reference: Mei, Montanari & Nguyen, PNAS 2018, §2 (R as a quadratic functional of ρ,
stationary points of the DD); Boyd & Vandenberghe, Convex Optimization (2004), §5.5
(KKT conditions); Nocedal & Wright, Numerical Optimization (2006), §16.5 (active sets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from mflab.meanfield.activations import UnitType
from mflab.meanfield.dd import radial_ubar, radial_v


def saturated_value(units: UnitType) -> float:
    """c_∞ = (σ(−∞) + σ(+∞))/2: the output of the units at r = ∞ averaged over directions.

    As r → ∞, σ(r⟨u, x⟩) → σ(±∞) according to the sign of ⟨u, x⟩, and for u uniform
    P(⟨u, x⟩ > 0) = ½ for every x ≠ 0: the radial law δ_∞ is the constant function c_∞
    (2.5 for A1 and A2), so v(∞) = −E[y] c_∞ = 0, ū(∞, r) = c_∞ E φ_r = c_∞ · ½ Σ_y m_y(r)
    with m_y(r) = E σ(s_y r G), ū(∞, ∞) = c_∞². Needs a bounded σ.
    """
    sig = units.sigma
    if not sig.bounded:
        raise ValueError(f"r = inf needs a bounded activation; {sig.name} is unbounded.")
    top = sig.c0 - sum(b * k for b, k in zip(sig.betas, sig.knots, strict=True))  # σ(+∞)
    return 0.5 * (sig.c0 + top)


def _class_means(units: UnitType, data, r) -> np.ndarray:
    s = np.asarray(data.class_scales, float)
    return np.asarray(units.sigma.gaussian_mean(0.0, jnp.asarray(s[:, None] * r[None])))


def radial_terms(units: UnitType, data, radii, *, d: float | None = None,
                 method: str = "series") -> tuple[np.ndarray, np.ndarray]:
    """(v(r_i) (K,), ū_d(r_i, r_j) (K, K)) on a grid of radii (``d``: default ``data.d``;
    ``math.inf``: the limit d → ∞). A radius ``math.inf`` is the saturated unit
    (:func:`saturated_value`)."""
    return _terms(units, data, np.asarray(radii, float), np.asarray(radii, float), d, method)


@partial(jax.jit, static_argnums=(0, 1, 4, 5))
def _finite_terms(units, data, r1, r2, d, method):
    return radial_v(units, data, r1), radial_ubar(units, data, r1, r2, method=method, d=d)


def _terms(units, data, r1, r2, d, method):
    """v(r1) (K1,) and ū_d(r1, r2) (K1, K2), with r = inf allowed in both."""
    f1, f2 = np.isfinite(r1), np.isfinite(r2)
    v = np.zeros(r1.size)
    U = np.zeros((r1.size, r2.size))
    vf, Uf = _finite_terms(units, data, jnp.asarray(r1[f1]), jnp.asarray(r2[f2]), d, method)
    v[f1] = np.asarray(vf)
    U[np.ix_(f1, f2)] = np.asarray(Uf)
    if not (f1.all() and f2.all()):
        c = saturated_value(units)
        U[np.ix_(~f1, f2)] = c * _class_means(units, data, r2[f2]).mean(0)[None]
        U[np.ix_(f1, ~f2)] = c * _class_means(units, data, r1[f1]).mean(0)[:, None]
        U[np.ix_(~f1, ~f2)] = c * c
    return v, U


def simplex_qp(Q: np.ndarray, c: np.ndarray, *, tol: float = 1e-13,
               max_iter: int = 10_000) -> np.ndarray:
    """argmin of f(p) = 2 cᵀp + pᵀQp over the simplex {p ≥ 0, Σ p = 1}, Q symmetric PSD.

    Primal active-set method (the Lawson–Hanson scheme with the constraint Σ p = 1): keep a
    free set F (p_F > 0); add the index of least gradient g = Qp + c while g_j < λ − tol,
    λ = pᵀg; on F minimise f over the affine hull {Σ_F p = 1} (KKT system, least-squares
    solve); if that point leaves the simplex, move towards it until a weight reaches 0 and
    drop it. f decreases at every step; stops when g ≥ λ − tol everywhere (the KKT
    conditions; λ is the Lagrange multiplier of Σ p = 1, halved).
    """
    Q = np.asarray(Q, float)
    c = np.asarray(c, float)
    K = c.size
    scale = max(float(np.max(np.abs(Q))), float(np.max(np.abs(c))), 1.0)
    p = np.zeros(K)
    j = int(np.argmin(2 * c + np.diag(Q)))
    p[j] = 1.0
    free = [j]
    for _ in range(max_iter):
        g = Q @ p + c
        lam = float(p @ g)
        j = int(np.argmin(g))
        if g[j] >= lam - tol * scale or j in free:
            return p
        free.append(j)
        while True:
            F = np.array(free)
            n = F.size
            A = np.zeros((n + 1, n + 1))
            A[:n, :n] = 2 * Q[np.ix_(F, F)]
            A[:n, n] = A[n, :n] = 1.0
            b = np.concatenate([-2 * c[F], [1.0]])
            z = np.linalg.lstsq(A, b, rcond=None)[0][:n]
            if np.all(z > 0):
                p[:] = 0.0
                p[F] = z
                break
            neg = z <= 0
            alpha = float(np.min(p[F][neg] / (p[F][neg] - z[neg])))
            p[F] = p[F] + alpha * (z - p[F])
            keep = p[F] > 0
            keep[np.flatnonzero(neg)[np.argmin(p[F][neg])]] = False  # the blocking weight
            p[F[~keep]] = 0.0
            free = [int(i) for i in F[keep]]
            if not free:
                raise RuntimeError("active-set QP lost every free index (Q not PSD?).")
    raise RuntimeError(f"active-set QP did not converge in {max_iter} iterations.")


@dataclass
class RadialMinimum:
    """The minimiser of R over laws on a grid of radii, with its optimality certificate.

    Attributes: radii (K,), weights (K,) (the law ρ* = Σ p_i δ_{r_i}), risk R(ρ*), psi
    ψ(r_i; ρ*) (K,), lam λ = ∫ ψ dρ*, gap = 2 (λ − min_i ψ_i) ≥ 0 (R(ρ*) exceeds the
    minimum over all laws on the grid by at most gap), d (the cosine-law dimension).
    """

    radii: np.ndarray
    weights: np.ndarray
    risk: float
    psi: np.ndarray
    lam: float
    gap: float
    d: float

    def atoms(self, min_mass: float = 1e-6) -> list[tuple[float, float]]:
        """The support as (radius, mass) atoms: runs of adjacent grid points with weight
        merged (a grid straddling one atom splits it), mass-weighted radius; atoms lighter
        than ``min_mass`` dropped."""
        on = self.weights > 0
        out, i = [], 0
        while i < on.size:
            if not on[i]:
                i += 1
                continue
            j = i
            while j + 1 < on.size and on[j + 1]:
                j += 1
            w = self.weights[i: j + 1]
            if w.sum() >= min_mass:
                out.append((float(w @ self.radii[i: j + 1] / w.sum()), float(w.sum())))
            i = j + 1
        return out


def radial_psi(units: UnitType, data, r, radii, weights, *, d: float | None = None,
               method: str = "series") -> np.ndarray:
    """ψ(r; ρ) = v(r) + Σ_i p_i ū_d(r, r_i) for ρ = Σ_i p_i δ_{r_i}, at the points r."""
    v, U = _terms(units, data, np.atleast_1d(np.asarray(r, float)), np.asarray(radii, float),
                  d, method)
    return v + U @ np.asarray(weights, float)


def radial_psi_slope0(units: UnitType, data, radii, weights, *, d: float | None = None,
                      method: str = "series") -> float:
    """ψ'(0+; ρ), the one-sided slope of ψ(r; ρ) at the cone point r = 0 (finite radii).

    A unit at r = 0 moves with the one-sided velocity −2ξ ψ'(0+): for ψ'(0+) > 0 every unit
    near 0 falls into it at speed ≈ 2ψ'(0+) and stays (the Filippov solution).
    """
    r = jnp.asarray(np.asarray(radii, float))
    p = jnp.asarray(np.asarray(weights, float))
    return float(_slope0(units, data, r, p, d, method))


@partial(jax.jit, static_argnums=(0, 1, 4, 5))
def _slope0(units, data, r, p, d, method):
    def psi(x):  # x ≥ 0; jax.grad at 0 gives the right derivative (see RadialDD)
        x = jnp.reshape(x, (1,))
        return (radial_v(units, data, x) + radial_ubar(units, data, x, r, method=method, d=d)
                @ p)[0]

    return jax.grad(psi)(jnp.zeros((), r.dtype))


def radial_risk(units: UnitType, data, radii, weights, *, d: float | None = None,
                method: str = "series") -> float:
    """R(ρ) = R# + 2 Σ p_i v(r_i) + Σ p_i p_j ū_d(r_i, r_j) for ρ = Σ p_i δ_{r_i}."""
    v, U = radial_terms(units, data, radii, d=d, method=method)
    p = np.asarray(weights, float)
    return float(data.r_sharp + 2 * v @ p + p @ U @ p)


def radial_minimum(units: UnitType, data, radii, *, d: float | None = None,
                   tol: float = 1e-13) -> RadialMinimum:
    """Minimise R(ρ) over laws ρ on the given radii (convex QP, :func:`simplex_qp`).

    Args:
      units: type-(a) units; data: :class:`~mflab.meanfield.IsotropicGaussians`.
      radii: the grid (include 0; end with ``math.inf``, the saturated unit: on A2 the
        minimiser puts mass there — R keeps falling as a radius grows without bound).
      d: cosine-law dimension (default ``data.d``; ``math.inf`` for d → ∞).
    """
    radii = np.asarray(radii, float)
    if (radii.ndim != 1 or radii.size < 1 or np.any(~(radii >= 0))
            or np.any(~(np.diff(radii) > 0))):
        raise ValueError("radii must be a 1-D increasing grid of values >= 0 (inf allowed "
                         f"last); got {radii!r}.")
    v, U = radial_terms(units, data, radii, d=d)
    p = simplex_qp(U, v, tol=tol)
    psi = v + U @ p
    lam = float(p @ psi)
    return RadialMinimum(radii, p, float(data.r_sharp + 2 * v @ p + p @ U @ p), psi, lam,
                         max(0.0, 2 * (lam - float(psi.min()))),
                         float(data.d if d is None else d))


def hull_distance_risk(m_plus: np.ndarray, m_minus: np.ndarray) -> float:
    """d → ∞ minimum by plane geometry: ½ dist²((1, −1), conv{(m_+(r_i), m_−(r_i))}).

    Labels ±1 with probability ½ and R# = 1 give R = ½(a_+ − 1)² + ½(a_− + 1)² with
    a_y = ∫ m_y dρ, m_y(r) = E σ(s_y r G) (module docstring).
    """
    from scipy.spatial import ConvexHull

    pts = np.stack([m_plus, m_minus], 1)
    target = np.array([1.0, -1.0])
    hull = ConvexHull(pts)
    if np.all(hull.equations[:, :2] @ target + hull.equations[:, 2] <= 0):
        return 0.0
    best = math.inf
    for a, b in hull.simplices:  # edges: distance from the target to each segment
        e = pts[b] - pts[a]
        t = np.clip((target - pts[a]) @ e / (e @ e), 0.0, 1.0)
        best = min(best, float(np.sum((pts[a] + t * e - target) ** 2)))
    return 0.5 * best
