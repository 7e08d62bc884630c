"""Activations σ and hidden-unit types σ*(x; θ) of SPEC Part A.

Every piecewise-linear activation is stored as a **ramp sum**

    σ(t) = c0 + Σ_k β_k · relu(t − t_k),      σ'(t) = Σ_k β_k · 1{t > t_k},

which makes its Gaussian expectations closed forms (``gaussian_mean``) built from

    E relu(μ + τG − t) = (μ − t) Φ((μ − t)/τ) + τ φ((μ − t)/τ),   G ~ N(0, 1).

Unit types (particles are arrays of shape ``(N, D)``, one row per hidden unit):

* ``"a"``: σ*(x; w) = σ(⟨w, x⟩),            θ = w,            D = d;
* ``"b"``: σ*(x; θ) = a · relu(⟨w, x⟩ + b),   θ = (a, b, w),    D = d + 2;
* ``"c"``: σ*(x; θ) = c · sigmoid(⟨w, x⟩),    θ = (c, w),       D = d + 1.

Reference: SPEC Part A (unit types, A1, A2 with erratum 3); Mei, Montanari & Nguyen,
PNAS 2018, §2 and SI (the piecewise-linear σ of their Fig. 1–2).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr


def _phi(z):
    return jnp.exp(-0.5 * z * z) * float(1.0 / np.sqrt(2.0 * np.pi))  # weak-typed: keeps dtype


def relu_gaussian_mean(m, tau):
    """E relu(m + τG) = m Φ(m/τ) + τ φ(m/τ), G ~ N(0,1); exact also at τ = 0 (→ relu(m)).

    The τ = 0 branch uses the double-where trick so that gradients stay finite there, and
    carries the right derivative in τ: ∂_τ → φ(0) at m = 0 (E relu(τG) = τ φ(0), a cone),
    0 at m ≠ 0.
    """
    m, tau = jnp.broadcast_arrays(jnp.asarray(m), jnp.asarray(tau))
    pos = tau > 0
    tau_ok = jnp.where(pos, tau, 1.0)
    z = m / tau_ok
    at_zero = jnp.maximum(m, 0.0) + tau * _phi(0.0) * (m == 0)
    return jnp.where(pos, m * ndtr(z) + tau_ok * _phi(z), at_zero)


@dataclass(frozen=True, eq=False)
class RampSum:
    """A piecewise-linear activation σ(t) = c0 + Σ_k β_k relu(t − t_k).

    Args:
      c0: value of σ left of every kink.
      knots: kink positions t_k (increasing).
      betas: slope changes β_k at the kinks.
      name: identifier.
    """

    c0: float
    knots: tuple[float, ...]
    betas: tuple[float, ...]
    name: str = "ramp_sum"

    def __call__(self, t):
        t = jnp.asarray(t)
        out = jnp.full_like(t, self.c0)
        for tk, bk in zip(self.knots, self.betas, strict=True):
            out = out + bk * jnp.maximum(t - tk, 0.0)
        return out

    def deriv(self, t):
        """σ'(t) = Σ_k β_k 1{t > t_k} (right derivative at the kinks)."""
        t = jnp.asarray(t)
        out = jnp.zeros_like(t)
        for tk, bk in zip(self.knots, self.betas, strict=True):
            out = out + bk * (t > tk).astype(t.dtype)
        return out

    def gaussian_mean(self, mu, tau):
        """E σ(μ + τG), G ~ N(0,1), in closed form (valid at τ = 0)."""
        mu = jnp.asarray(mu)
        out = jnp.full_like(mu * tau, self.c0)
        for tk, bk in zip(self.knots, self.betas, strict=True):
            out = out + bk * relu_gaussian_mean(mu - tk, tau)
        return out

    def gaussian_second_moment(self, mu, tau):
        """E σ(μ + τG)², G ~ N(0,1), in closed form (valid at τ = 0).

        σ² = c0² + 2 c0 Σ_k β_k relu(t − t_k) + Σ_{k,l} β_k β_l (t − t_k)(t − t_l) 1{t > t_kl}
        with t_kl = max(t_k, t_l); with Y = τG and z = (t_kl − μ)/τ the partial moments
        E 1{Y > τz} = Φ(−z), E Y 1{·} = τ φ(z), E Y² 1{·} = τ² (z φ(z) + Φ(−z)) give
        E (μ + Y − t_k)(μ + Y − t_l) 1{·} = τ²(zφ + Φ(−z)) + (2μ − t_k − t_l) τ φ(z)
        + (μ − t_k)(μ − t_l) Φ(−z). At τ = 0 it is σ(μ)² (double-where: finite gradients).
        """
        mu, tau = jnp.broadcast_arrays(jnp.asarray(mu), jnp.asarray(tau))
        pos = tau > 0
        tau_ok = jnp.where(pos, tau, 1.0)
        out = self.c0**2 + 2.0 * self.c0 * (self.gaussian_mean(mu, tau) - self.c0)
        for tk, bk in zip(self.knots, self.betas, strict=True):
            for tl, bl in zip(self.knots, self.betas, strict=True):
                z = (max(tk, tl) - mu) / tau_ok
                pz, tail = _phi(z), ndtr(-z)
                part = (tau_ok**2 * (z * pz + tail) + (2.0 * mu - tk - tl) * tau_ok * pz
                        + (mu - tk) * (mu - tl) * tail)
                at_zero = jnp.maximum(mu - tk, 0.0) * jnp.maximum(mu - tl, 0.0)
                out = out + bk * bl * jnp.where(pos, part, at_zero)
        return out

    @property
    def bounded(self) -> bool:
        return abs(sum(self.betas)) < 1e-12


def piecewise_linear(points: list[tuple[float, float]], name: str = "piecewise_linear") -> RampSum:
    """σ through the given (t, σ(t)) points, linear in between, constant outside.

    Args:
      points: ``[(t_0, v_0), ..., (t_K, v_K)]`` with increasing t.
    """
    ts = np.array([p[0] for p in points], float)
    vs = np.array([p[1] for p in points], float)
    if ts.ndim != 1 or ts.size < 2 or np.any(np.diff(ts) <= 0):
        raise ValueError(f"points need >= 2 strictly increasing abscissae; got {points!r}.")
    slopes = np.concatenate([[0.0], np.diff(vs) / np.diff(ts), [0.0]])
    betas = np.diff(slopes)
    return RampSum(float(vs[0]), tuple(map(float, ts)), tuple(map(float, betas)), name)


def sigma_a1(t1: float = 0.5, t2: float = 1.5, s1: float = -2.5, s2: float = 7.5) -> RampSum:
    """A1 monotone σ: s1 for t ≤ t1, s2 for t ≥ t2, linear in between.

    Defaults (t1, t2, s1, s2) = (0.5, 1.5, −2.5, 7.5): SPEC A1 (Mei et al. 2018, Fig. 1).
    """
    return piecewise_linear([(t1, s1), (t2, s2)], name="sigma_a1")


def sigma_a2() -> RampSum:
    """A2 non-monotone σ (SPEC A2 with erratum 3; Mei et al. 2018, Fig. 2):
    −2.5 for t ≤ 0; linear to (0.5, −4); linear to (1.5, 7.5); 7.5 for t ≥ 1.5."""
    return piecewise_linear([(0.0, -2.5), (0.5, -4.0), (1.5, 7.5)], name="sigma_a2")


RELU = RampSum(0.0, (0.0,), (1.0,), name="relu")


def sigmoid(t):
    """sigmoid(t) = 1 / (1 + e^(−t))."""
    return jax.nn.sigmoid(t)


def sigmoid_deriv(t):
    """sigmoid'(t) = sigmoid(t)(1 − sigmoid(t))."""
    s = jax.nn.sigmoid(t)
    return s * (1.0 - s)


@dataclass(frozen=True, eq=False)
class UnitType:
    """A hidden-unit type σ*(x; θ) with θ = (extra, w), stored as rows ``[extra..., w...]``.

    ``local(z, extra)`` takes the pre-activations z = ⟨w, x⟩ (shape ``(N, ...)``) and the
    extra parameters (shape ``(N, p)``) and returns ``(value, dz, dextra)``:
    σ*(x; θ) (``(N, ...)``), ∂σ*/∂z (so ∇_w σ* = dz · x) and ∇_extra σ* (``(N, p, ...)``).

    Args:
      kind: ``"a"``, ``"b"`` or ``"c"`` (SPEC Part A unit types).
      sigma: the activation for type ``"a"`` (a :class:`RampSum`); unused otherwise.
    """

    kind: str
    sigma: RampSum | None = None

    def __post_init__(self):
        if self.kind not in ("a", "b", "c"):
            raise ValueError(f"unit kind must be 'a', 'b' or 'c'; got {self.kind!r}.")
        if self.kind == "a" and self.sigma is None:
            raise ValueError("unit kind 'a' needs an activation sigma (e.g. sigma_a1()).")

    @property
    def n_extra(self) -> int:
        return {"a": 0, "b": 2, "c": 1}[self.kind]

    def split(self, theta):
        """theta (N, D) → (extra (N, p), w (N, d))."""
        p = self.n_extra
        return theta[:, :p], theta[:, p:]

    def join(self, extra, w):
        return jnp.concatenate([extra, w], axis=1) if self.n_extra else w

    def local(self, z, extra):
        ex = extra.reshape(extra.shape + (1,) * (z.ndim - 1))
        if self.kind == "a":
            return self.sigma(z), self.sigma.deriv(z), jnp.zeros(extra.shape + z.shape[1:], z.dtype)
        if self.kind == "b":
            a, b = ex[:, 0], ex[:, 1]
            u = z + b
            on = (u > 0).astype(z.dtype)
            relu = jnp.maximum(u, 0.0)
            return a * relu, a * on, jnp.stack([relu, a * on], axis=1)
        c = ex[:, 0]
        s = sigmoid(z)
        return c * s, c * s * (1.0 - s), s[:, None]

    def __call__(self, theta, x):
        """σ*(x; θ_i) for every unit: theta (N, D), x (..., d) → (N, ...)."""
        extra, w = self.split(theta)
        z = jnp.tensordot(w, x, axes=([1], [x.ndim - 1]))
        return self.local(z, extra)[0]


def unit_a(sigma: RampSum) -> UnitType:
    """Type (a) units σ*(x; w) = σ(⟨w, x⟩)."""
    return UnitType("a", sigma)


UNIT_RELU = UnitType("b")
UNIT_SIGMOID = UnitType("c")
