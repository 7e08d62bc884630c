"""The moment generating function of the uniform sphere, in log form, with its derivative.

For x uniform on S^{d−1}(√d), v ∈ R^d, ν = d/2 − 1 and s = √d |v| (SPEC C7),

    M(v) = E_μ e^{v·x} = m_ν(s),   m_ν(s) = Γ(ν+1) (2/s)^ν I_ν(s),

with I_ν the modified Bessel function of the first kind (m_ν(0) = 1). m_ν is even in s
and analytic in u = s² = d|v|²; we work with u. From d/ds[s^{−μ} I_μ(s)] = s^{−μ} I_{μ+1}(s)
(DLMF 10.29.4),

    d/du log m_ν = ρ_ν / 2,   ρ_μ(s) := I_{μ+1}(s) / (s I_μ(s)),          (1)

and the higher radial functions H_k := Γ(ν+1) 2^ν s^{−ν−k} I_{ν+k}(s) = m_ν ρ_ν ⋯ ρ_{ν+k−1}
obey ∂H_k/∂v_p = d v_p H_{k+1}, which gives the third derivatives of M (the F of C7).

**Ratios.** The recurrence I_{μ−1} − I_{μ+1} = (2μ/s) I_μ (DLMF 10.29.1) reads
ρ_{μ−1} = 1/(2μ + u ρ_μ); run downwards it is stable (it is Gauss's continued fraction for
I_{μ}/I_{μ−1} evaluated from its tail); we run it in Miller's linear form (2) below. It
starts at order N from Amos's (1974) bound
ρ_N ≈ 1/(N + ½ + √((N + 3/2)² + u)) (exact at u = 0 and to first order as u → ∞); the
start error is damped by ≈ exp(−(N² − μ²)/s) by the time the recurrence reaches order μ,
so N is chosen from the largest s the caller will pass (:func:`recurrence_depth`).

**Values.** m_{k+1}/m_k = 2(k+1) ρ_k, so log m_ν = log m_{ν0} + Σ_{k=ν0}^{ν−1} log(2(k+1) ρ_k)
(the product telescopes in Miller's form (2), see :func:`log_mgf_and_ratios`), from the base
order ν0 = 0 (d even: log m_0 = log I_0(s) = log i0e(s) + s, with JAX's
exponentially scaled i0e) or ν0 = −½ (d odd: m_{−1/2}(s) = cosh s, log cosh s =
s + log1p(e^{−2s}) − log 2). Every term is bounded, so nothing overflows for large s
(log m_ν ≈ s − (ν + ½) log s + …), and each factor 2(k+1)ρ_k ∈ (0, 1].

jax.scipy.special offers only I_0, I_1 (and their scaled forms), not general orders,
hence this module. Accuracy (tests against ``scipy.special.ive`` and quadrature): ≲ 1e-13
relative in float64 for 3 ≤ d ≤ 101 and 0 ≤ s ≤ s_max ≤ 1000.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jax.scipy.special import i0e

from mflab.spherical.sphere import check_dimension


def recurrence_depth(d: int, s_max: float, n_ratios: int = 1) -> int:
    """Number of recurrence steps above order ν = d/2 − 1 so that ρ_ν … ρ_{ν+n_ratios−1}
    and log m_ν are at rounding level for 0 ≤ s ≤ s_max.

    The start error is damped by exp(−(N² − μ²)/s) (see module docstring); we take
    N² ≥ μ² + 40 s_max with μ = ν + n_ratios, plus a margin of 8 steps.
    """
    mu = (d / 2 - 1) + n_ratios
    return n_ratios + math.ceil(math.sqrt(mu * mu + 40.0 * max(float(s_max), 0.0)) - mu) + 8


_NO_RESCALE_S_MAX = 80.0  # e^80 ≈ 5.5e34: below float32's largest number, no rescaling needed


def _miller(u, d, s_max, n_ratios):
    """Backward recurrence in the m-normalisation (see :func:`log_mgf_and_ratios`).

    Returns ``(r, log_extra, ratios)`` with m_ν/m_{ν0} = r · e^{−log_extra}, r ∈ (0, 1],
    log_extra ≥ 0 (a Python 0.0 when no rescaling was needed), ratios = (ρ_ν, …).
    """
    nu0 = 0.0 if d % 2 == 0 else -0.5  # base order: I_0 (d even) or I_{−1/2} (d odd)
    to_nu = round(d / 2 - 1 - nu0)  # ν − ν0 steps
    top = to_nu + recurrence_depth(d, s_max, n_ratios)  # start at order N = ν0 + top
    rescale = s_max > _NO_RESCALE_S_MAX
    mu_top = nu0 + top
    rho_top = 1.0 / (mu_top + 0.5 + jnp.sqrt((mu_top + 1.5) ** 2 + u))  # Amos's estimate
    m, m_up = jnp.ones_like(u), 2.0 * (mu_top + 1.0) * rho_top
    kept = {}  # m̂ at orders ν … ν + n_ratios, in one common scale
    log_extra = 0.0  # log(m̂_{ν0}/m̂_ν) collected at rescalings below order ν
    for j in range(top, 0, -1):  # (m̂ at order μ = ν0 + j, m̂ at μ + 1) → one order down
        mu = nu0 + j
        m, m_up = m + (u * (1.0 / (4.0 * mu * (mu + 1.0)))) * m_up, m
        k = j - 1  # m is now at order ν0 + k
        if to_nu <= k <= to_nu + n_ratios:
            kept[k - to_nu] = m
        if rescale and (k == to_nu or (k % 8 == 0 and not to_nu <= k <= to_nu + n_ratios)):
            if k < to_nu:
                log_extra = log_extra + jnp.log(m)
            m, m_up = jnp.ones_like(m), m_up / m  # keep (m̂_μ, m̂_{μ+1}) in range
    ratios = tuple(
        kept[i + 1] / ((2.0 * (d / 2 + i)) * kept[i]) for i in range(n_ratios)
    )  # ρ_μ = m_{μ+1}/(2(μ+1) m_μ), μ = ν + i
    r = (1.0 if rescale else kept[0]) / m
    return r, log_extra, ratios


def log_mgf_and_ratios(
    u: jax.Array, d: int, s_max: float, n_ratios: int = 1
) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """log m_ν(√u) and the ratios (ρ_ν, ρ_{ν+1}, …, ρ_{ν+n_ratios−1}) at s = √u, ν = d/2 − 1.

    Miller's form of the backward recurrence (module docstring), normalised by
    c_μ = Γ(μ+1) 2^μ: m_μ = c_μ s^{−μ} I_μ(s) obeys

        m_{μ−1} = m_μ + u m_{μ+1} / (4μ(μ+1))                                   (2)

    (DLMF 10.29.1), positive coefficients, no cancellation, and m_μ decreases in μ from
    m_{ν0} ≤ e^s. Starting from m̂_N = 1, m̂_{N+1} = 2(N+1) × Amos's estimate of ρ_N, the
    computed m̂_μ are proportional to m_μ, so ρ_μ = m̂_{μ+1}/(2(μ+1) m̂_μ) and
    log m_ν = log m_{ν0} + log(m̂_ν/m̂_{ν0}). For s_max > 80 the pair (m̂_μ, m̂_{μ+1}) is
    rescaled every 8 steps (the logs of the scales kept) so nothing overflows, even in
    float32. Cost per entry: 2 multiply-adds per step, a few divisions, one sqrt and the
    base function.

    Args:
      u: s² ≥ 0, any shape; the dtype of the result follows ``u``.
      d: dimension (≥ 3), fixes the order ν = d/2 − 1 (integer or half-integer).
      s_max: the largest s = √u that will be passed (sets the recurrence depth).
      n_ratios: how many ratios to return (≥ 1).

    Returns:
      ``(log_m, (rho_nu, ...))``, each of the shape of ``u``.
    """
    d, u = check_dimension(d), _as_float(u)
    r, log_extra, ratios = _miller(u, d, float(s_max), n_ratios)
    s = jnp.sqrt(u)
    if d % 2 == 0:
        log_base = jnp.log(i0e(s)) + s  # log m_0 = log I_0(s)
    else:
        log_base = s + jnp.log1p(jnp.exp(-2.0 * s)) - math.log(2.0)  # log m_{−1/2} = log cosh
    return log_base + jnp.log(r) - log_extra, ratios


def _as_float(u):
    u = jnp.asarray(u)
    return u if jnp.issubdtype(u.dtype, jnp.floating) else u.astype(jnp.result_type(float))


def _scaled_mgf_and_ratio(u, d, s_max, shift):
    r, log_extra, (rho,) = _miller(u, d, s_max, 1)
    s = jnp.sqrt(u)
    t = shift + log_extra  # e^{−shift} m_ν = e^{−t} m_{ν0} · r
    if d % 2 == 0:
        base = jnp.exp(s - t) * i0e(s)  # e^{−t} I_0(s)
    else:
        base = 0.5 * (jnp.exp(s - t) + jnp.exp(-s - t))  # e^{−t} cosh s
    return base * r, rho


@partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def scaled_sphere_mgf(u: jax.Array, d: int, s_max: float, shift: float) -> jax.Array:
    """e^{−shift} E_μ e^{v·x} = e^{−shift} m_ν(√u), u = d|v|², without forming m_ν itself.

    The kernel overlap of SPEC C7 is this with shift = 2αd (then the result lies in
    (0, 1]). Exact derivative by (1): d/du = (ρ_ν/2) × the value (custom JVP).

    Args:
      u: d|v|² ≥ 0, any shape; dtype follows ``u``.
      d: dimension (≥ 3).
      s_max: the largest √u that will be passed (sets the recurrence depth).
      shift: a number subtracted in the exponent (choose shift ≥ √u to avoid overflow).
    """
    return _scaled_mgf_and_ratio(_as_float(u), check_dimension(d), float(s_max), shift)[0]


@scaled_sphere_mgf.defjvp
def _scaled_sphere_mgf_jvp(d, s_max, shift, primals, tangents):
    (u,), (u_dot,) = primals, tangents
    value, rho = _scaled_mgf_and_ratio(_as_float(u), check_dimension(d), float(s_max), shift)
    return value, 0.5 * rho * value * u_dot


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def log_sphere_mgf(u: jax.Array, d: int, s_max: float) -> jax.Array:
    """log E_μ e^{v·x} = log m_ν(√u) as a function of u = d|v|², for x uniform on S^{d−1}(√d).

    Differentiable in ``u`` with the exact derivative (1): d/du log m_ν = ρ_ν/2 (a custom
    JVP, so autodiff never sees the recurrence or the base functions' branch at u = 0).

    Args:
      u: d|v|² ≥ 0, any shape; dtype follows ``u``.
      d: dimension (≥ 3).
      s_max: the largest √u that will be passed (sets the recurrence depth; larger values
        are still finite but lose accuracy).
    """
    return log_mgf_and_ratios(u, d, s_max, 1)[0]


@log_sphere_mgf.defjvp
def _log_sphere_mgf_jvp(d, s_max, primals, tangents):
    (u,), (u_dot,) = primals, tangents
    log_m, (rho,) = log_mgf_and_ratios(u, d, s_max, 1)
    return log_m, 0.5 * rho * u_dot
