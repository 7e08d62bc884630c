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

Time stepping: Heun (RK2, order 2) or RK4 (order 4) with fixed dt in ``lax.scan``; a system
with a constraint set (``project``: RadialDD's r ≥ 0) is projected at every stage, which
integrates the cone point r = 0 of A2 as its Filippov solution (see :class:`RadialDD`). The
solver estimates its own error by Richardson extrapolation with the observed orders in dt
and in M (:func:`estimate_error`).

Reference: Mei, Montanari & Nguyen, PNAS 2018, eqs. (6)–(7) and SI §"numerical
solution of the DD" (radial reduction); report eq. (5).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special as sps
import scipy.stats as st

from mflab.meanfield.activations import UnitType
from mflab.meanfield.risk import hermite_coeffs, interaction_U, pair_expectation, potential_V
from mflab.progress import bar_options
from mflab.schedules import xi_constant

DD_SERIES_TERMS = 160


def cosine_moments(d: float, n_terms: int) -> np.ndarray:
    """E[c^n], n < n_terms, for c the cosine of two independent uniform directions in R^d.

    E[c^{2k}] = Π_{i<k} (2i+1)/(d+2i), odd moments 0; ``d = math.inf`` gives the limit
    d → ∞ (c → 0: only E[c^0] = 1 survives).
    """
    m = np.zeros(n_terms)
    m[0] = 1.0
    if math.isinf(d):
        return m
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
                n_jacobi=24, d: float | None = None):
    """ū_d(r1_i, r2_j) (matrix) averaged over the cosine law of R^d (module docstring).

    ``d`` overrides ``data.d`` (only the cosine law depends on it); ``d = math.inf`` is the
    limit d → ∞, ū_∞(r, r') = ½ Σ_y E σ(s_y r G) E σ(s_y r' G) (series method only).
    """
    s = jnp.asarray(_radial_units(units, data), r1.dtype)
    r1, r2 = jnp.abs(r1), jnp.abs(r2)  # ū is even in each radius (w ↦ −w)
    d = data.d if d is None else d
    if math.isinf(d) and method != "series":
        raise ValueError(f"d = inf needs method 'series'; got {method!r}.")
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


class DDSystem(abc.ABC):
    """A particle system of the distributional dynamics ∂_t ρ = 2ξ(t) ∇·(ρ ∇Ψ(θ; ρ)).

    M particles x (shape ``(M, ...)``) approximate ρ; the flow is ẋ_j = −2ξ(t) ∇_j F(x)
    (:func:`solve_dd`). A system defines ``energy(x)`` = F (Σ_j V + (1/2M) Σ_{j,l} U, so that
    ∇_j F = ∇Ψ(x_j; ρ̂)), ``risk(x)`` = R(ρ̂) and ``mean_norm(x)``, and may restrict the
    particles to a constraint set by ``project`` (identity by default).

    Reference: Mei, Montanari & Nguyen, PNAS 2018, eqs. (7)–(8); SPEC Part A.
    """

    @abc.abstractmethod
    def energy(self, x):
        """F(x): its gradient in particle j is the DD velocity field ∇Ψ(x_j; ρ̂) (up to −2ξ)."""

    @abc.abstractmethod
    def risk(self, x):
        """R(ρ̂) of the empirical law of the particles."""

    @abc.abstractmethod
    def mean_norm(self, x):
        """The mean norm of the units' input weights."""

    def project(self, x):
        """Onto the constraint set (identity: unconstrained particles)."""
        return x


@dataclass(frozen=True, eq=False)
class RadialDD(DDSystem):
    """Reduced isotropic DD: particles r (M,) ≥ 0; F(r) = Σ v(r_j) + (1/2M) Σ ū_d(r_j, r_l).

    The cone point r = 0: v and ū are even in r and, for an activation with a kink at 0
    (A2), ψ(r) ≈ ψ(0) + ψ'(0+) r near 0 (V has a cone at w = 0). The Filippov solution of
    ṙ = −2ξ ψ'(r) on r ≥ 0 keeps a unit at 0 while ψ'(0+) > 0 (its one-sided velocity points
    into 0) and lets it leave when ψ'(0+) < 0. :meth:`project` (r ↦ max(r, 0)) applied to
    every stage of the time step gives exactly that (the gradient at r = 0 is the right
    derivative ψ'(0+)), so radii never cross 0 and do not chatter around it.

    Args:
      method: ū evaluation, ``"series"``, ``"jacobi"`` or ``"auto"`` (series for d ≥ 8).
      d: the dimension of the cosine law (default ``data.d``; ``math.inf``: the d → ∞ limit).
    """

    units: UnitType
    data: object
    method: str = "auto"
    d: float | None = None

    def __post_init__(self):
        d = self.data.d if self.d is None else self.d
        object.__setattr__(self, "d", d)
        if self.method == "auto":  # series tail ∝ n^-(d+4)/2: fast for large d, slow for tiny d
            object.__setattr__(self, "method", "series" if d >= 8 else "jacobi")

    def ubar(self, r1, r2):
        """ū_d(r1_i, r2_j) (matrix)."""
        return radial_ubar(self.units, self.data, r1, r2, method=self.method, d=self.d)

    def energy(self, r):
        M = r.shape[0]
        return jnp.sum(radial_v(self.units, self.data, r)) + 0.5 / M * jnp.sum(self.ubar(r, r))

    def risk(self, r):
        """R(ρ̂) = R# + 2 mean_j v(r_j) + mean_{j,l} ū_d(r_j, r_l)."""
        return self.data.r_sharp + 2 * jnp.mean(radial_v(self.units, self.data, r)) + jnp.mean(
            self.ubar(r, r))

    def project(self, r):
        """Onto the constraint set r ≥ 0 (see the class docstring)."""
        return jnp.maximum(r, 0.0)

    def mean_norm(self, r):
        return jnp.mean(jnp.abs(r))


@dataclass(frozen=True, eq=False)
class FullDD(DDSystem):
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


#: Most solver steps one compiled call advances: the solver returns to Python between calls,
#: to show progress and let Ctrl-C/SIGTERM stop it.
CHUNK_STEPS = 2000
#: Seconds one compiled call aims at: calls are sized from the measured rate (steps/s), so
#: an expensive system (0.02 s a step) still returns to Python about twice a second.
CALL_SECONDS = 0.5


@partial(jax.jit, static_argnums=(0, 1, 2))
def _integrate(system, xi, scheme, n_sub, x, t, dt, r0, r1, out):
    """Records r0..r1−1 (traced bounds: one compilation serves every chunk of a solve), each
    n_sub steps of size dt from (x, t); ``out`` = (xs, risk, norm) buffers of all records,
    filled in place. Returns (x, t, out)."""
    grad = jax.grad(system.energy)
    P = system.project  # constraint set (RadialDD: r ≥ 0; identity otherwise)

    def f(t, x):
        return -2.0 * xi(t) * grad(x)

    def step(_, c):
        x, t = c
        if scheme == "heun":
            k1 = f(t, x)
            k2 = f(t + dt, P(x + dt * k1))
            x = P(x + 0.5 * dt * (k1 + k2))
        else:
            k1 = f(t, x)
            k2 = f(t + dt / 2, P(x + dt / 2 * k1))
            k3 = f(t + dt / 2, P(x + dt / 2 * k2))
            k4 = f(t + dt, P(x + dt * k3))
            x = P(x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4))
        return (x, t + dt)

    def record(r, c):
        x, t, (xs, risk, norm) = c
        x, t = jax.lax.fori_loop(0, n_sub, step, (x, t))
        xs = jax.lax.dynamic_update_index_in_dim(xs, x, r, 0)
        risk = risk.at[r].set(system.risk(x))
        norm = norm.at[r].set(system.mean_norm(x))
        return x, t, (xs, risk, norm)

    return jax.lax.fori_loop(r0, r1, record, (x, t, out))


@partial(jax.jit, static_argnums=0)
def _observe(system, x):
    return system.risk(x), system.mean_norm(x)


@dataclass
class DDResult:
    """DD solution at record times: times (R,), risk (R,), mean_norm (R,), particles (R, M, ...),
    and the discretisation-error estimate of max_t |R − R(ρ_t)| and of max_t |mean_norm − its
    limit| (:func:`estimate_error`; NaN when not computed), with its parts: the time-step part
    ``err_dt`` and the particle part ``err_M`` (of the risk) and their observed orders."""

    times: np.ndarray
    risk: np.ndarray
    mean_norm: np.ndarray
    particles: np.ndarray
    err_risk: float = float("nan")
    err_mean_norm: float = float("nan")
    err_dt: float = float("nan")
    err_M: float = float("nan")
    order_dt: float = float("nan")
    order_M: float = float("nan")


#: Safety factor of the Richardson estimate (Roache's grid convergence index uses 1.25
#: with three grids and an observed order): it covers the next term of the error expansion.
RICHARDSON_SAFETY = 1.25
#: Largest order credited to the particle quantisation (midpoint quantiles of a smooth
#: law integrate smooth functionals with error O(M⁻²)).
PARTICLE_ORDER = 2.0


def richardson(coarse, mid, fine, order_max: float) -> tuple[float, float, float]:
    """Error of three solutions on a refinement sequence h, h/2, h/4, by its observed order.

    With e(h) = C h^p: D1 = max|coarse − mid| = C h^p (1 − 2^−p), D2 = max|mid − fine|, so
    p = log2(D1/D2) and e(h) = D1/(1 − 2^−p), e(h/2) = D2/(1 − 2^−p); both are returned
    multiplied by ``RICHARDSON_SAFETY``. The order used is min(p, order_max) (never credit
    more than the method's order). Returns (observed p, error of coarse, error of mid);
    the errors are ``inf`` when the sequence does not converge (D2 ≥ D1 > 0: outside the
    asymptotic range), 0 when D1 = D2 = 0.

    Reference: Richardson 1911; Roache, J. Fluids Eng. 116 (1994) (observed order, GCI).
    """
    d1 = float(np.max(np.abs(np.asarray(coarse) - mid)))
    d2 = float(np.max(np.abs(np.asarray(mid) - fine)))
    if d1 == 0.0 and d2 == 0.0:
        return float("nan"), 0.0, 0.0
    if d2 >= d1:
        return float(np.log2(d1 / d2)) if d1 > 0 else -np.inf, np.inf, np.inf
    p = float(np.log2(d1 / d2)) if d2 > 0 else np.inf
    f = RICHARDSON_SAFETY / (1.0 - 2.0 ** -min(p, order_max))
    return p, d1 * f, d2 * f


#: The refinement sequences of :func:`estimate_error`.
ERROR_SEQUENCES = ("refine", "coarsen")


#: Largest particle order credited when the estimate extrapolates to the finest of M/4,
#: M/2, M ("coarsen"): few particles are not yet in the asymptotic range (the A2 collapse
#: from 4, 8, 16 radii shows order 2.2 while its error halves with M beyond, order ~1;
#: tests/test_meanfield_dd.py), so never credit more than first order there.
COARSE_PARTICLE_ORDER = 1.0


class _Solve:
    """One solve of an error estimate as an executor job: ``(x0, k) -> DDResult`` with its
    caller's float64 setting (captured here; a worker runs the job outside the caller's
    context); a divergence comes back as the :class:`~mflab.errors.DivergenceError`, as a
    lost job would."""

    def __init__(self, solve):
        import jax

        self.solve = solve
        self.x64 = bool(jax.config.jax_enable_x64)

    def __call__(self, spec):
        import jax

        from mflab.errors import DivergenceError

        x0, k = spec
        try:
            with jax.enable_x64(self.x64):
                return self.solve(x0, k)
        except DivergenceError as e:
            return e


def _solve_all(solve, specs, executor) -> list:
    """The solves ``specs`` (``(x0, k)`` pairs) on ``executor`` (default: here, in order);
    a divergence is returned, any other failure raised."""
    from mflab.errors import DivergenceError

    job = _Solve(solve)
    out = executor.map(job, specs) if executor is not None else [job(s) for s in specs]
    for r in out:
        if isinstance(r, BaseException) and not isinstance(r, DivergenceError):
            raise r
    return out


def estimate_error(res: DDResult, solve, init, M: int, order: float,
                   sequence: str = "refine", executor=None) -> DDResult:
    """Attach to ``res`` (the solve with M particles and step dt) its error estimate.

    ``sequence="refine"`` (the default) surrounds the solve by finer ones:

    * time step: the same M with dt/2 and dt/4, Richardson with the observed order
      (:func:`richardson`, at most the scheme's ``order``), the error of dt;
    * particles: the same dt with M/2 and 2M, Richardson in 1/M (order at most
      ``PARTICLE_ORDER``), the error of M;

    costing 2 + 4 + ¼ + 4 = 10¼ base solves (M² work per step). ``sequence="coarsen"``
    estimates the same two errors from coarser solves — 2dt, dt, dt/2 (the error of the
    middle one, dt) and M/4, M/2, M (the error of the finest, e_M = e(M/2) / 2^q, q at
    most ``COARSE_PARTICLE_ORDER``) —
    costing ½ + 2 + 1/16 + ¼ ≈ 2.8 base solves; it leans on the coarse solves being in the
    asymptotic range (the observed orders say whether they are; a 2dt solve that diverges
    falls back to dt/2, dt/4). ``err_risk`` = err_dt + err_M (likewise ``err_mean_norm``),
    each with the safety factor ``RICHARDSON_SAFETY``.

    An observed order far below the scheme's says the step is outside the asymptotic range
    (e.g. an unresolved kink); the estimate stays honest because it uses that order.

    Args:
      solve: ``(x0, k) -> DDResult``, the same solve from x0 with time step dt/k
        (k = ½ for "coarsen").
      init: ``M -> x0``. M: the base run's particle count (even; a multiple of 4 for
        "coarsen").
      sequence: ``"refine"`` or ``"coarsen"``.
      executor: where the independent solves run (anything with ``map(fn, items)``,
        :mod:`mflab.runs.executor`; with Dask, ``solve`` travels by cloudpickle), or
        ``None``: here, one after the other. The estimate does not depend on it.

    Reference: Richardson 1911; Roache, J. Fluids Eng. 116 (1994) (observed order, GCI).
    """
    from mflab.errors import DivergenceError

    if sequence not in ERROR_SEQUENCES:
        raise ValueError(f"sequence must be one of {ERROR_SEQUENCES}; got {sequence!r}.")
    step = 2 if sequence == "refine" else 4
    if M % step or M < step:
        raise ValueError(f"the {sequence!r} error estimate divides M by {step}; M must be a "
                         f"multiple of {step}; got {M}.")
    Ms = (M // 2, 2 * M) if sequence == "refine" else (M // 4, M // 2)
    x0, xs = init(M), [init(m) for m in Ms]
    if tuple(len(x) for x in xs) != Ms:
        raise ValueError(f"init(M) must return M particles; got {[len(x) for x in xs]} for "
                         f"M = {list(Ms)}.")
    # the independent solves at once, the costliest first (M² work per step)
    ks = (4, 2) if sequence == "refine" else (2, 0.5)
    got = _solve_all(solve, [(x0, ks[0]), *((x, 1) for x in xs[::-1]), (x0, ks[1])], executor)
    parts = [_raise_divergence(r) for r in got[1:3][::-1]]
    if sequence == "refine":
        times = (res, _raise_divergence(got[3]), _raise_divergence(got[0]))
    elif isinstance(got[3], DivergenceError):  # 2dt is outside the stable range: refine
        (quarter,) = _solve_all(solve, [(x0, 4)], executor)
        times = (res, _raise_divergence(got[0]), _raise_divergence(quarter))
    else:
        times = (got[3], res, _raise_divergence(got[0]))
    particles = (parts[0], res, parts[1]) if sequence == "refine" else (*parts, res)
    errs = {}
    for key in ("risk", "mean_norm"):
        seq = [getattr(r, key) for r in times]
        p, e_coarse, e_mid = richardson(*seq, order)
        e_dt = e_coarse if times[0] is res else e_mid
        order_M = PARTICLE_ORDER if sequence == "refine" else COARSE_PARTICLE_ORDER
        q, _, e_M = richardson(*(getattr(r, key) for r in particles), order_M)
        if sequence == "coarsen" and np.isfinite(e_M) and e_M > 0:
            e_M = e_M / 2.0 ** min(q, order_M)  # the finest of M/4, M/2, M
        errs[key] = (p, q, e_dt, e_M)
    p, q, e_dt, e_M = errs["risk"]
    res.order_dt, res.order_M, res.err_dt, res.err_M = p, q, e_dt, e_M
    res.err_risk = e_dt + e_M
    res.err_mean_norm = errs["mean_norm"][2] + errs["mean_norm"][3]
    return res


def _raise_divergence(r):
    if isinstance(r, BaseException):
        raise r
    return r


def _advance(system, xi, scheme, n_sub: int, x0, dt: float, n_rec: int, progress: bool):
    """The n_rec records of a solve (n_sub steps each) in compiled calls of at most
    :data:`CHUNK_STEPS` steps and about :data:`CALL_SECONDS` seconds (sized from the rate of
    the previous call; a record longer than that is advanced in pieces, its entry written
    by each), with a progress bar in steps for a long solve (≥ 10 × CHUNK_STEPS steps; it
    disappears when done). The steps are those of one uncut call."""
    import time

    from tqdm.auto import tqdm

    dtype = jnp.result_type(x0)
    out = (jnp.zeros((n_rec, *x0.shape), dtype), jnp.zeros(n_rec, dtype),
           jnp.zeros(n_rec, dtype))
    x, t = x0, jnp.asarray(0.0, dtype)
    dt_ = jnp.asarray(dt, dtype)
    total = n_rec * n_sub
    budget = min(CHUNK_STEPS, 16)  # steps of the next call: small first (it compiles)
    r, s = 0, 0  # the record being advanced, and its steps done
    with tqdm(total=total, disable=not progress or total < 10 * CHUNK_STEPS, unit="step",
              **{"leave": False, **bar_options("DD")}) as bar:
        while r < n_rec:
            if s == 0 and budget >= n_sub:  # whole records
                k = min(budget // n_sub, n_rec - r)
                steps, r1, piece = k * n_sub, r + k, n_sub
            else:  # a piece of record r
                piece = min(budget, n_sub - s)
                steps, r1 = piece, r + 1
            t0 = time.perf_counter()
            x, t, out = _integrate(system, xi, scheme, jnp.asarray(piece, jnp.int32), x, t,
                                   dt_, r, r1, out)
            jax.block_until_ready(x)  # Python regains control here: progress, interrupts
            rate = steps / max(time.perf_counter() - t0, 1e-6)
            budget = int(min(CHUNK_STEPS, max(1, rate * CALL_SECONDS)))
            if r1 > r + 1 or s + piece == n_sub:
                r, s = r1, 0
            else:
                s += piece
            bar.update(steps)
    return out


def solve_dd(system, x0, *, t_max: float, dt: float, n_records: int = 21, xi=None,
             scheme: str = "heun", refine=None, progress: bool = False,
             error_sequence: str = "refine", executor=None) -> DDResult:
    """Integrate the particle DD from x0 (M, ...) to t_max, recording n_records times (t=0 incl.).

    Args:
      system: a :class:`DDSystem` (:class:`RadialDD`, :class:`FullDD`,
        :class:`~mflab.meanfield.dd_aniso.AnisotropicDD`, or one of your own).
      dt: time step (t_max / (n_records − 1) must be a multiple of dt, up to rounding).
      xi: schedule ξ (default ≡ 1). scheme: ``"heun"`` (order 2) or ``"rk4"`` (order 4).
      refine: optional callable ``M -> x0`` giving the initial particles for any M; when
        given, the solver estimates its own error (:func:`estimate_error`: dt/2, dt/4 and
        M/2, 2M, Richardson with the observed orders).
      error_sequence: ``"refine"`` (the above) or ``"coarsen"`` (2dt, dt/2 and M/4, M/2,
        ~¼ the cost; 2dt must divide the record interval), see :func:`estimate_error`.
      executor: where the error estimate's independent solves run (default: here).
      progress: a tqdm bar in solver steps (long solves). The solver advances in compiled
        calls of about :data:`CALL_SECONDS` (at most :data:`CHUNK_STEPS` steps), so Ctrl-C
        (or SIGTERM from the command line) stops it between two calls.
    """
    if not isinstance(system, DDSystem):
        raise TypeError(f"system must be a DDSystem (RadialDD, FullDD, AnisotropicDD or a "
                        f"subclass of mflab.meanfield.dd.DDSystem); got {type(system).__name__}.")
    if scheme not in INTEGRATORS:
        raise ValueError(f"scheme must be one of {sorted(INTEGRATORS)}; got {scheme!r}.")
    if not (dt > 0 and t_max > 0):
        raise ValueError(f"dt and t_max must be > 0; got dt={dt!r}, t_max={t_max!r}.")
    xi = xi_constant() if xi is None else xi
    seg = t_max / (n_records - 1)
    n_sub = int(round(seg / dt))
    if n_sub < 1 or abs(n_sub * dt - seg) > 1e-9 * seg:
        raise ValueError(f"t_max/(n_records-1) = {seg!r} must be a multiple of dt = {dt!r}.")
    if refine is not None and error_sequence == "coarsen" and n_sub % 2:
        raise ValueError(f"the 'coarsen' error estimate solves with 2dt, so t_max/(n_records-1) "
                         f"= {seg!r} must be an even multiple of dt = {dt!r}.")
    x0 = jnp.asarray(x0)
    xs, risk, norm = _advance(system, xi, scheme, n_sub, x0, dt, n_records - 1, progress)
    times = np.linspace(0.0, t_max, n_records)
    risk0, norm0 = _observe(system, x0)
    res = DDResult(times, np.concatenate([[float(risk0)], np.asarray(risk)]),
                   np.concatenate([[float(norm0)], np.asarray(norm)]),
                   np.concatenate([np.asarray(x0)[None], np.asarray(xs)]))
    if not np.all(np.isfinite(res.risk)):
        from mflab.errors import DivergenceError

        k = int(np.argmax(~np.isfinite(res.risk)))
        raise DivergenceError(f"DD risk became {res.risk[k]} at t = {times[k]:g} (record {k}); "
                              f"lower dt (given {dt!r}).", method="DD solver")
    if refine is not None:
        bars = progress and executor is None  # (the closure must not hold the executor)
        estimate_error(res, lambda x, k: solve_dd(system, x, t_max=t_max, dt=dt / k,
                                                  n_records=n_records, xi=xi, scheme=scheme,
                                                  progress=bars),
                       refine, x0.shape[0], INTEGRATORS[scheme], sequence=error_sequence,
                       executor=executor)
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
