"""Distributional dynamics (DD) by a particle method with exact expectations (SPEC Part A).

    ∂_t ρ_t = 2 ξ(t) ∇·(ρ_t ∇Ψ(θ; ρ_t)),   Ψ(θ; ρ) = V(θ) + ∫ U(θ, θ') ρ(dθ'),
    R(ρ) = R# + 2 ∫ V dρ + ∫∫ U dρ dρ.

M particles move by θ̇_j = −2ξ(t) ∇_θ Ψ(θ_j; ρ̂), ρ̂ = (1/M) Σ_l δ_{θ_l}, i.e. by gradient
descent of F(θ) = Σ_j V(θ_j) + (1/2M) Σ_{j,l} U(θ_j, θ_l) (∂F/∂θ_j = ∇Ψ(θ_j)); V and U
are exact (closed forms, series, quadrature; x is never sampled).

* **Reduced isotropic form** (A1/A2, type (a)): ρ spherically symmetric, particles are radii
  r_j and ṙ = −2ξ ∂_r ψ(r), ψ(r) = v(r) + (1/M) Σ_l ū_d(r, r_l), with ū_d(r, r') the U of two
  units of norms r, r' averaged over the cosine law ∝ (1 − c²)^((d−3)/2) of two independent
  uniform directions in R^d (exact at every finite d ≥ 2). Two evaluations of ū_d:
  ``"series"`` (default): Mehler's formula averaged term by term,
  ū_d = ½ Σ_y Σ_n c_n(s_y r) c_n(s_y r') E[c^n], E[c^{2k}] = Π_{i<k} (2i+1)/(d+2i);
  ``"jacobi"``: Gauss–Jacobi quadrature in c (α = β = (d−3)/2) of the pair quadrature.
  They agree to 1e-13 at d = 20; at tiny d the series converges slowly (terms
  ∝ n^(−(d+4)/2)), so ``RadialDD`` uses the series for d ≥ 8 and Gauss–Jacobi below.
* **Unreduced form**: particles w_j ∈ R^d (small d), U by the pair quadrature; it checks
  the reduction.

Time stepping: Heun (RK2, order 2) or RK4 (order 4) with fixed dt in ``lax.scan``.

Reference: Mei, Montanari & Nguyen, PNAS 2018, eqs. (6)–(7) and SI §"numerical
solution of the DD" (radial reduction); report eq. (5).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special as sps
import scipy.stats as st

from mflab.meanfield.activations import UnitType
from mflab.meanfield.risk import hermite_coeffs, interaction_U, pair_expectation, potential_V
from mflab.schedules import xi_constant

DD_SERIES_TERMS = 160


def cosine_moments(d: int, n_terms: int) -> np.ndarray:
    """E[c^n], n < n_terms, for c the cosine of two independent uniform directions in R^d."""
    m = np.zeros(n_terms)
    m[0] = 1.0
    for n in range(2, n_terms, 2):
        k = n // 2
        m[n] = m[n - 2] * (2 * k - 1) / (d + 2 * k - 2)
    return m


def radial_quantiles(M: int, d: int, kappa: float) -> np.ndarray:
    """Deterministic M-point quantisation of |w| for w ~ N(0, κ²/d I_d): r_j = F⁻¹((j − ½)/M)."""
    q = (np.arange(M) + 0.5) / M
    return kappa / np.sqrt(d) * st.chi.ppf(q, d)


def _radial_units(units: UnitType, data):
    if units.kind != "a" or not hasattr(data, "class_scales"):
        raise ValueError("the reduced radial DD needs type 'a' units and IsotropicGaussians data; "
                         f"got units {units.kind!r}, data {type(data).__name__}.")
    if data.d < 2:
        raise ValueError(f"the radial reduction needs d >= 2; got d = {data.d}.")
    return np.asarray(data.class_scales)


def radial_v(units: UnitType, data, r):
    """v(r) = V(w) for |w| = r (closed form)."""
    s = jnp.asarray(_radial_units(units, data), r.dtype)
    m = units.sigma.gaussian_mean(0.0, s[:, None] * jnp.abs(r)[None])  # v is even in r
    return -0.5 * (m[0] - m[1])


def radial_ubar(units: UnitType, data, r1, r2, *, method="series", n_terms=DD_SERIES_TERMS,
                n_jacobi=24):
    """ū_d(r1_i, r2_j) (matrix) averaged over the cosine law of R^d (module docstring)."""
    s = jnp.asarray(_radial_units(units, data), r1.dtype)
    r1, r2 = jnp.abs(r1), jnp.abs(r2)  # ū is even in each radius (w ↦ −w)
    d = data.d
    if method == "series":
        mom = jnp.asarray(cosine_moments(d, n_terms), r1.dtype)
        c1 = hermite_coeffs(units.sigma, 0.0, s[:, None] * r1[None], n_terms)  # (2, N1, n)
        c2 = hermite_coeffs(units.sigma, 0.0, s[:, None] * r2[None], n_terms)
        return 0.5 * jnp.einsum("yin,yjn,n->ij", c1, c2, mom)
    if method == "jacobi":
        a = (d - 3) / 2.0
        c, w = sps.roots_jacobi(n_jacobi, a, a)
        w = w / w.sum()
        c, w = jnp.asarray(c, r1.dtype), jnp.asarray(w, r1.dtype)
        e = pair_expectation(units.sigma, 0.0, s[:, None, None, None] * r1[None, :, None, None],
                             0.0, s[:, None, None, None] * r2[None, None, :, None], c)
        return 0.5 * jnp.sum((e[0] + e[1]) * w, axis=-1)
    raise ValueError(f"method must be 'series' or 'jacobi'; got {method!r}.")


@dataclass(frozen=True, eq=False)
class RadialDD:
    """Reduced isotropic DD: particles r (M,); energy F(r) = Σ v(r_j) + (1/2M) Σ ū_d(r_j, r_l)."""

    units: UnitType
    data: object
    method: str = "auto"

    def __post_init__(self):
        if self.method == "auto":  # series tail ∝ n^-(d+4)/2: fast for large d, slow for tiny d
            object.__setattr__(self, "method", "series" if self.data.d >= 8 else "jacobi")

    def energy(self, r):
        M = r.shape[0]
        return jnp.sum(radial_v(self.units, self.data, r)) + 0.5 / M * jnp.sum(
            radial_ubar(self.units, self.data, r, r, method=self.method))

    def risk(self, r):
        """R(ρ̂) = R# + 2 mean_j v(r_j) + mean_{j,l} ū_d(r_j, r_l)."""
        return self.data.r_sharp + 2 * jnp.mean(radial_v(self.units, self.data, r)) + jnp.mean(
            radial_ubar(self.units, self.data, r, r, method=self.method))

    def mean_norm(self, r):
        return jnp.mean(jnp.abs(r))  # the dynamics is even in r; a radius may cross 0


@dataclass(frozen=True, eq=False)
class FullDD:
    """Unreduced DD: particles θ (M, D); F(θ) = Σ V(θ_j) + (1/2M) Σ U(θ_j, θ_l) by quadrature."""

    units: UnitType
    data: object

    def energy(self, th):
        M = th.shape[0]
        return jnp.sum(potential_V(self.units, self.data, th)) + 0.5 / M * jnp.sum(
            interaction_U(self.units, self.data, th, th))

    def risk(self, th):
        return self.data.r_sharp + 2 * jnp.mean(potential_V(self.units, self.data, th)) + jnp.mean(
            interaction_U(self.units, self.data, th, th))

    def mean_norm(self, th):
        return jnp.mean(jnp.linalg.norm(self.units.split(th)[1], axis=1))


INTEGRATORS = {"heun": 2, "rk4": 4}


@partial(jax.jit, static_argnums=(0, 1, 2, 7))
def _integrate(system, xi, scheme, n_sub, x0, t0, dt, n_rec):
    grad = jax.grad(system.energy)

    def f(t, x):
        return -2.0 * xi(t) * grad(x)

    def step(_, c):
        x, t = c
        if scheme == "heun":
            k1 = f(t, x)
            k2 = f(t + dt, x + dt * k1)
            x = x + 0.5 * dt * (k1 + k2)
        else:
            k1 = f(t, x)
            k2 = f(t + dt / 2, x + dt / 2 * k1)
            k3 = f(t + dt / 2, x + dt / 2 * k2)
            k4 = f(t + dt, x + dt * k3)
            x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return (x, t + dt)

    def record(c, _):
        c = jax.lax.fori_loop(0, n_sub, step, c)
        x = c[0]
        return c, (x, system.risk(x), system.mean_norm(x))

    (x, _), out = jax.lax.scan(record, (x0, t0), None, length=n_rec)
    return out


@dataclass
class DDResult:
    """DD solution at record times: times (R,), risk (R,), mean_norm (R,), particles (R, M, ...),
    and the discretisation-error estimate (max |ΔR| and max |Δ mean_norm| against a rerun with
    dt/2 and 2M; NaN when not computed)."""

    times: np.ndarray
    risk: np.ndarray
    mean_norm: np.ndarray
    particles: np.ndarray
    err_risk: float = float("nan")
    err_mean_norm: float = float("nan")


def solve_dd(system, x0, *, t_max: float, dt: float, n_records: int = 21, xi=None,
             scheme: str = "heun", refine=None) -> DDResult:
    """Integrate the particle DD from x0 (M, ...) to t_max, recording n_records times (t=0 incl.).

    Args:
      system: :class:`RadialDD` or :class:`FullDD`.
      dt: time step (t_max / (n_records − 1) must be a multiple of dt, up to rounding).
      xi: schedule ξ (default ≡ 1). scheme: ``"heun"`` (order 2) or ``"rk4"`` (order 4).
      refine: optional callable ``M -> x0`` giving the initial particles for 2M; when given,
        the solver reruns with (dt/2, 2M) and reports the differences as its error estimate.
    """
    if scheme not in INTEGRATORS:
        raise ValueError(f"scheme must be one of {sorted(INTEGRATORS)}; got {scheme!r}.")
    if not (dt > 0 and t_max > 0):
        raise ValueError(f"dt and t_max must be > 0; got dt={dt!r}, t_max={t_max!r}.")
    xi = xi_constant() if xi is None else xi
    seg = t_max / (n_records - 1)
    n_sub = int(round(seg / dt))
    if n_sub < 1 or abs(n_sub * dt - seg) > 1e-9 * seg:
        raise ValueError(f"t_max/(n_records-1) = {seg!r} must be a multiple of dt = {dt!r}.")
    x0 = jnp.asarray(x0)
    xs, risk, norm = _integrate(system, xi, scheme, n_sub, x0, 0.0, dt, n_records - 1)
    times = np.linspace(0.0, t_max, n_records)
    res = DDResult(times, np.concatenate([[float(system.risk(x0))], np.asarray(risk)]),
                   np.concatenate([[float(system.mean_norm(x0))], np.asarray(norm)]),
                   np.concatenate([np.asarray(x0)[None], np.asarray(xs)]))
    if not np.all(np.isfinite(res.risk)):
        from mflab.driver import DivergenceError

        k = int(np.argmax(~np.isfinite(res.risk)))
        raise DivergenceError(f"DD risk became {res.risk[k]} at t = {times[k]:g} (record {k}); "
                              f"lower dt (given {dt!r}).")
    if refine is not None:
        fine = solve_dd(system, refine(2 * x0.shape[0]), t_max=t_max, dt=dt / 2,
                        n_records=n_records, xi=xi, scheme=scheme)
        res.err_risk = float(np.max(np.abs(fine.risk - res.risk)))
        res.err_mean_norm = float(np.max(np.abs(fine.mean_norm - res.mean_norm)))
    return res


def radial_density(r, grid, bandwidth=None):
    """KDE of the radial law on grid ≥ 0, reflected at 0: non-negative, mass 1 on [0, ∞).

    ρ̂(g) = (1/M) Σ_j [K_h(g − r_j) + K_h(g + r_j)], Gaussian K_h; default h by Silverman's
    rule, 1.06 · std(r) · M^(−1/5).
    """
    r = np.asarray(r, float).ravel()
    h = bandwidth or 1.06 * max(r.std(), 1e-12) * r.size ** (-0.2)
    g = np.asarray(grid, float)[:, None]
    k = np.exp(-0.5 * ((g - r) / h) ** 2) + np.exp(-0.5 * ((g + r) / h) ** 2)
    return k.sum(1) / (r.size * h * np.sqrt(2 * np.pi))
