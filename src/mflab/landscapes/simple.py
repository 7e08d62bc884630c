"""Landscapes with closed-form ground truth: quadratics and a 1-D double well."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from mflab.landscapes.base import Landscape, StationaryPoint


def quadratic(hessian, minimizer=None, min_value: float = 0.0) -> Landscape:
    """Φ(x) = ½ (x − x*)ᵀ H (x − x*) + Φ*, with H symmetric positive definite.

    Args:
      hessian: ``(d, d)`` symmetric positive-definite matrix H.
      minimizer: x* (defaults to 0).
      min_value: Φ* = Φ(x*).
    """
    H = np.asarray(hessian, dtype=float)
    if H.ndim != 2 or H.shape[0] != H.shape[1]:
        raise ValueError(f"hessian must be a square (d, d) matrix; got shape {H.shape}.")
    if not np.allclose(H, H.T):
        raise ValueError("hessian must be symmetric.")
    eig = np.linalg.eigvalsh(H)
    if eig.min() <= 0:
        raise ValueError(
            f"hessian must be positive definite; smallest eigenvalue is {eig.min():.3g}."
        )
    d = H.shape[0]
    xs = np.zeros(d) if minimizer is None else np.asarray(minimizer, dtype=float)
    if xs.shape != (d,):
        raise ValueError(f"minimizer must have shape ({d},); got {xs.shape}.")

    def value(x):
        dx = x - jnp.asarray(xs, x.dtype)
        return 0.5 * dx @ (jnp.asarray(H, x.dtype) @ dx) + min_value

    def grad(x):
        return jnp.asarray(H, x.dtype) @ (x - jnp.asarray(xs, x.dtype))

    return Landscape(
        name=f"quadratic-{d}d",
        value=value,
        grad=grad,
        dim=d,
        stationary_points=(StationaryPoint("x*", xs, float(min_value), "minimum"),),
        hessian=lambda x: jnp.asarray(H, x.dtype),
        info={"H": H, "eigenvalues": eig, "condition_number": float(eig.max() / eig.min())},
    )


def ill_conditioned_quadratic(d: int = 10, condition_number: float = 1e3) -> Landscape:
    """Diagonal quadratic with eigenvalues log-spaced in [1/κ, 1] (condition number κ)."""
    if d < 1:
        raise ValueError(f"d must be >= 1; got {d}.")
    if condition_number < 1:
        raise ValueError(f"condition_number must be >= 1; got {condition_number}.")
    eig = np.logspace(-np.log10(condition_number), 0.0, d)
    return quadratic(np.diag(eig))


def double_well(a: float = 1.0, tilt: float = 0.0) -> Landscape:
    """1-D double well Φ(x) = a (x² − 1)² + tilt·x, for x of shape ``(1,)``.

    With ``tilt = 0`` the minima are x = ±1 (Φ = 0) and the barrier top is x = 0
    (Φ = a). With a tilt the stationary points are the real roots of
    4a x³ − 4a x + tilt = 0, computed numerically.
    """
    if a <= 0:
        raise ValueError(f"a must be > 0; got {a}.")

    def value(x):
        return a * (x[0] ** 2 - 1.0) ** 2 + tilt * x[0]

    def grad(x):
        return jnp.stack([4 * a * x[0] * (x[0] ** 2 - 1.0) + tilt])

    roots = np.roots([4 * a, 0.0, -4 * a, tilt])
    roots = np.sort(roots[np.abs(roots.imag) < 1e-12].real)
    pts = []
    for r in roots:
        curv = 12 * a * r**2 - 4 * a
        kind = "minimum" if curv > 0 else "maximum"
        v = a * (r**2 - 1) ** 2 + tilt * r
        pts.append(StationaryPoint(f"x={r:+.3f}", np.array([r]), v, kind))
    pts.sort(key=lambda p: (p.kind != "minimum", p.value))
    return Landscape(
        name="double-well",
        value=value,
        grad=grad,
        dim=1,
        stationary_points=tuple(pts),
        bounds=((-2.0, 2.0),),
    )


def quartic(d: int = 1) -> Landscape:
    """Φ(x) = Σ_i x_i⁴ (used for the closed form of the Gaussian-smoothed gradient:
    E ∇Φ(x + √h z) = 4x³ + 12 h x, componentwise)."""

    def value(x):
        return jnp.sum(x**4)

    return Landscape(
        name=f"quartic-{d}d",
        value=value,
        grad=lambda x: 4 * x**3,
        dim=d,
        stationary_points=(StationaryPoint("0", np.zeros(d), 0.0, "minimum"),),
    )
