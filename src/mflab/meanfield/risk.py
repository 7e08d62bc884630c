"""Exact population risk R_N(θ) of a two-layer network (SPEC Part A, erratum 5).

    R_N(θ) = R# + (2/N) Σ_i V(θ_i) + (1/N²) Σ_{i,j} U(θ_i, θ_j),
    V(θ) = −E[y σ*(x;θ)],   U(θ, θ') = E[σ*(x;θ) σ*(x;θ')],   R# = E[y²] = 1.

For unit types (a) σ*(x;w) = σ(⟨w,x⟩) and (b) σ*(x;θ) = a·relu(⟨w,x⟩ + b) with
piecewise-linear σ (a :class:`~mflab.meanfield.activations.RampSum`) and data
x | y ~ N(0, diag(v_y)), the pre-activation of unit i on class y is
N(μ_i, s_i²) with s_i² = Σ_k v_yk w_ik², and two units are jointly Gaussian with
covariance Σ_k v_yk w_ik w_jk. Hence

* V is a closed form (ramp sums against a Gaussian: Φ and φ);
* U is a bivariate Gaussian expectation E[f(X) g(Y)], computed exactly up to
  quadrature error by conditioning: X = μ1 + s1 Z, and E[g(Y) | Z] is again a
  closed form (Y | Z is Gaussian). The remaining 1-D integral over Z ~ N(0,1) is
  done by Gauss–Legendre on [−L, L] split at a uniform grid *and* at every kink of
  the integrand (f's kinks (t_k − μ1)/s1, and the kinks that E[g | Z] develops as
  |ρ| → 1, (t_k − μ2)/(ρ s2)), so every piece is smooth. Defaults (L = 9, 12 uniform
  pieces, 8 nodes per piece) give ≲1e-12 absolute error for |ρ| ≤ 0.9 and ≲1e-7 for
  near-parallel pairs (tested against 2× and 4× nodes).

Reference: Mei, Montanari & Nguyen, PNAS 2018, eq. (3) and §2; report eq. (3).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from mflab.meanfield.activations import RampSum, UnitType

QUAD_L = 9.0  # φ(9) ≈ 1e-18: the truncated Gaussian tail is below float64 resolution
QUAD_PIECES = 12
QUAD_NODES = 8


def _phi(z):
    return jnp.exp(-0.5 * z * z) * float(1.0 / np.sqrt(2.0 * np.pi))  # weak-typed: keeps dtype


def _safe_div(num, den, fallback):
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), fallback)


def _safe_sqrt(v):
    """sqrt with a finite derivative at 0 (the double-where trick)."""
    pos = v > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, v, 1.0)), 0.0)


def pair_expectation(
    sig: RampSum,
    mu1,
    s1,
    mu2,
    s2,
    rho,
    *,
    nodes: int = QUAD_NODES,
    pieces: int = QUAD_PIECES,
    L: float = QUAD_L,
):
    """E[σ(X) σ(Y)] for (X, Y) Gaussian with means μ1, μ2, sds s1, s2 ≥ 0, correlation ρ.

    All arguments broadcast together. Exact in the conditional direction (closed form
    of E[σ(Y) | X]) and Gauss–Legendre in the other (see module docstring).
    """
    dtype = jnp.result_type(mu1, s1, mu2, s2, rho)
    rho = jnp.clip(rho, -1.0, 1.0)
    knots = jnp.asarray(sig.knots, dtype)
    shape = jnp.broadcast_shapes(*(jnp.shape(a) for a in (mu1, s1, mu2, s2, rho)))
    mu1, s1, mu2, s2, rho = (jnp.broadcast_to(jnp.asarray(a, dtype), shape)[..., None]
                             for a in (mu1, s1, mu2, s2, rho))
    far = L + 1.0
    kf = _safe_div(knots - mu1, s1, far)
    kg = _safe_div(knots - mu2, rho * s2, far)
    grid = jnp.broadcast_to(jnp.linspace(-L, L, pieces + 1, dtype=dtype), shape + (pieces + 1,))
    bps = jnp.sort(jnp.clip(jnp.concatenate([grid, kf, kg], axis=-1), -L, L), axis=-1)
    lo, hi = bps[..., :-1, None], bps[..., 1:, None]  # (..., P, 1)
    xg, wg = np.polynomial.legendre.leggauss(nodes)
    z = lo + (hi - lo) * (jnp.asarray(xg, dtype) + 1.0) / 2.0  # (..., P, n)
    w = (hi - lo) / 2.0 * jnp.asarray(wg, dtype) * _phi(z)
    ex = (..., None, None)
    fx = sig(mu1[..., 0][ex] + s1[..., 0][ex] * z)
    cond_mean = mu2[..., 0][ex] + rho[..., 0][ex] * s2[..., 0][ex] * z
    cond_sd = s2[..., 0][ex] * _safe_sqrt(1.0 - rho[..., 0][ex] ** 2)
    gx = sig.gaussian_mean(cond_mean, cond_sd)
    return jnp.sum(w * fx * gx, axis=(-2, -1))


# ----------------------------------------------------------------- per-unit moments


def _moments(units: UnitType, theta, variances):
    """Per class y: amplitude α_i, mean μ_i, sd s_i of the pre-activation, and v_y ⊙ w_i."""
    extra, w = units.split(theta)
    v = jnp.asarray(variances, theta.dtype)  # (2, d)
    if units.kind == "a":
        amp = jnp.ones(theta.shape[0], theta.dtype)
        mu = jnp.zeros(theta.shape[0], theta.dtype)
    elif units.kind == "b":
        amp, mu = extra[:, 0], extra[:, 1]
    else:
        raise ValueError(
            f"exact risk is implemented for unit kinds 'a' and 'b'; got {units.kind!r}."
        )
    vw = v[:, None, :] * w[None]  # (2, N, d)
    s = _safe_sqrt(jnp.sum(vw * w[None], axis=-1))  # (2, N)
    return amp, mu, s, vw, w


def _activation(units: UnitType) -> RampSum:
    return units.sigma if units.kind == "a" else _relu()


def _relu():
    from mflab.meanfield.activations import RELU

    return RELU


def potential_V(units: UnitType, data, theta):
    """V(θ_i) = −E[y σ*(x; θ_i)] for every row of theta (N, D) → (N,), closed form."""
    amp, mu, s, _, _ = _moments(units, theta, data.class_variances())
    sig = _activation(units)
    m = sig.gaussian_mean(mu[None], s)  # (2, N)
    return -amp * 0.5 * (m[0] - m[1])  # labels (+1, −1), probability ½ each


def interaction_U(units: UnitType, data, theta1, theta2, **quad):
    """U(θ_i, θ'_j) = E[σ*(x;θ_i) σ*(x;θ'_j)] as a matrix (N1, N2) (quadrature, see module)."""
    v = data.class_variances()
    a1, m1, s1, vw1, _ = _moments(units, theta1, v)
    a2, m2, s2, _, w2 = _moments(units, theta2, v)
    cov = jnp.einsum("ynd,md->ynm", vw1, w2)  # (2, N1, N2)
    rho = _safe_div(cov, s1[:, :, None] * s2[:, None, :], 0.0)
    e = pair_expectation(
        _activation(units), m1[None, :, None], s1[:, :, None], m2[None, None, :],
        s2[:, None, :], rho, **quad,
    )
    return a1[:, None] * a2[None, :] * 0.5 * (e[0] + e[1])


def hermite_coeffs(sig: RampSum, mu, s, n_terms: int):
    """Normalised Hermite coefficients c_n = E[σ(μ + sZ) He_n(Z)] / sqrt(n!), n < n_terms.

    Closed forms (Gaussian integration by parts, E[f He_n(Z)] = E[f^(n)(Z)]): with
    a_k = (t_k − μ)/s,  c_0 = E σ(μ + sZ),  c_1 = s Σ β_k Φ(−a_k),
    c_n = s Σ β_k e_{n−2}(a_k) / sqrt(n(n−1)) for n ≥ 2, where
    e_m(a) = φ(a) He_m(a) / sqrt(m!) by its stable three-term recurrence.
    Mehler's formula then gives E[σ(X)σ(Y)] = Σ_n c_n(X) c_n(Y) ρ^n for
    (X, Y) Gaussian with correlation ρ. Shapes: mu, s broadcast → (..., n_terms).
    """
    from jax.scipy.special import ndtr

    mu, s = jnp.broadcast_arrays(jnp.asarray(mu), jnp.asarray(s))
    pos = s > 0  # at s = 0, a_k = ±40 (or 0 at a kink t_k = μ): the right limit s → 0+,
    s_ok = jnp.where(pos, s, 1.0)  # with finite derivatives (double-where, no 0 · inf)
    out = [sig.gaussian_mean(mu, s)]
    c1 = jnp.zeros_like(mu)
    a = [jnp.where(pos, jnp.clip((tk - mu) / s_ok, -40.0, 40.0), 40.0 * jnp.sign(tk - mu))
         for tk in sig.knots]
    for ak, bk in zip(a, sig.betas, strict=True):
        c1 = c1 + bk * ndtr(-ak)
    out.append(s * c1)
    a = jnp.stack(a)  # (K, ...)
    betas = jnp.asarray(sig.betas, mu.dtype).reshape((-1,) + (1,) * mu.ndim)

    def body(carry, m):  # carry (e_{m-1}, e_m) → c_{m+2}, then advance to (e_m, e_{m+1})
        e_prev, e_cur = carry
        c = s * jnp.sum(betas * e_cur, axis=0) / jnp.sqrt((m + 2.0) * (m + 1.0))
        e_next = (a * e_cur - jnp.sqrt(m) * e_prev) / jnp.sqrt(m + 1.0)
        return (e_cur, e_next), c

    ms = jnp.arange(max(n_terms - 2, 0), dtype=mu.dtype)
    _, cs = jax.lax.scan(body, (jnp.zeros_like(a), _phi(a)), ms)
    out = jnp.stack(out, axis=-1)
    return jnp.concatenate([out, jnp.moveaxis(cs, 0, -1)], axis=-1)


SERIES_TERMS = 128
SERIES_RHO = 0.85  # |ρ| ≤ 0.85: truncation after 128 terms < 0.85^128 · max c_n² ≈ 1e-11


def _class_stats(units, data, theta):
    v = data.class_variances()
    amp, mu, s, vw, w = _moments(units, theta, v)
    cov = jnp.einsum("ynd,md->ynm", vw, w)
    rho = jnp.clip(_safe_div(cov, s[:, :, None] * s[:, None, :], 0.0), -1.0, 1.0)
    return amp, mu, s, rho


def _u_series(ci, cj, rho):
    """Σ_n c_n(i) c_n(j) ρ_ij^n per class by Horner, shape (2, rows, N), from the Hermite
    coefficients of the rows ``ci`` (n, 2, rows) and of all units ``cj`` (n, 2, N)."""
    n_terms = ci.shape[0]

    def body(k, acc):
        n = n_terms - 1 - k
        return acc * rho + ci[n][:, :, None] * cj[n][:, None, :]

    return jax.lax.fori_loop(0, n_terms, body, jnp.zeros_like(rho))


#: Pairs formed at once by the exact risk (rows × N ≤ this): each (2, rows, N) array of the
#: series (1 MB in float64) stays in a core's cache; one block of N² (PAIR_BLOCK 2**22) was
#: 10× slower at N = 3200, memory-bound.
PAIR_BLOCK = 1 << 16


@partial(jax.jit, static_argnums=(0, 1, 3, 4))
def _risk_jit(units, data, theta, max_close, rows):
    N = theta.shape[0]
    sig = _activation(units)
    V = potential_V(units, data, theta)
    amp, mu, s, vw, w = _moments(units, theta, data.class_variances())
    c = jnp.moveaxis(hermite_coeffs(sig, mu[None], s, SERIES_TERMS), -1, 0)  # (n, 2, N)
    n_row_blocks = -(-N // rows)

    def row_block(r0):
        """Σ_{i in rows r0.., all j} α_i α_j U(θ_i, θ_j): the series for every pair, then
        quadrature replaces the series for the close pairs, max_close at a time."""
        i_all = r0 + jnp.arange(rows)
        ok = i_all < N  # the last block is padded with row N − 1, masked out
        i_all = jnp.minimum(i_all, N - 1)
        cov = jnp.einsum("ynd,md->ynm", vw[:, i_all], w)
        rho = jnp.clip(_safe_div(cov, s[:, i_all, None] * s[:, None, :], 0.0), -1.0, 1.0)
        close = jnp.any(jnp.abs(rho) > SERIES_RHO, axis=0) & ok[:, None]  # incl. diagonal
        n_close = jnp.sum(close)
        u = _u_series(c[:, :, i_all], c, rho)
        weight = jnp.where(ok, amp[i_all], 0.0)
        total = jnp.sum(weight[:, None] * amp[None, :] * 0.5 * (u[0] + u[1]))
        # the index list is padded by a block of zeros, so no block is clamped at the end
        ii, jj = jnp.nonzero(close, size=rows * N + max_close, fill_value=0)

        def block(b, acc):
            a_ = jax.lax.dynamic_slice(ii, (b * max_close,), (max_close,))
            j = jax.lax.dynamic_slice(jj, (b * max_close,), (max_close,))
            i = i_all[a_]
            valid = b * max_close + jnp.arange(max_close) < n_close
            q = pair_expectation(sig, mu[i][None], s[:, i], mu[j][None], s[:, j],
                                 rho[:, a_, j])
            delta = jnp.where(valid[None], q - u[:, a_, j], 0.0)
            return acc + jnp.sum(amp[i] * amp[j] * 0.5 * (delta[0] + delta[1]))

        # a static number of blocks (reverse-mode differentiable, unlike a loop of dynamic
        # length); the blocks past the close pairs are skipped by the cond, and each block
        # is recomputed in the backward pass (checkpoint) rather than stored
        n_blocks = (n_close + max_close - 1) // max_close

        def step(acc, b):
            return jax.lax.cond(b < n_blocks, jax.checkpoint(partial(block, b)),
                                lambda x: x, acc), None

        total, _ = jax.lax.scan(step, total, jnp.arange(-(-rows * N // max_close)))
        return total

    if n_row_blocks == 1:
        full = row_block(0)
    else:  # one block of rows at a time, recomputed in the backward pass
        full = jnp.sum(jax.lax.map(jax.checkpoint(row_block), jnp.arange(n_row_blocks) * rows))
    return data.r_sharp + 2.0 * jnp.mean(V) + full / N**2


def exact_risk(units: UnitType, data, theta, *, max_close: int | None = None,
               rows: int | None = None):
    """R_N(θ) = R# + (2/N) Σ V(θ_i) + (1/N²) Σ_ij U(θ_i, θ_j), exactly (no sampling of x).

    V in closed form. U by Mehler's series (128 terms, :func:`hermite_coeffs`) for every
    pair whose correlation on both classes is |ρ| ≤ 0.85 (truncation < 1e-11), and by the
    kink-split quadrature (:func:`pair_expectation`) for the others (the diagonal and
    near-parallel units), ``max_close`` pairs at a time: the cost grows with the number
    of close pairs, not with N² quadratures once there are many (aligned units, e.g. a
    network that collapsed or blew up along one direction). The pairs are formed
    ``rows`` × N at a time, so memory is O(rows·N), not O(N²), and each block's series
    stays in cache.

    Args:
      units: unit type (``"a"`` with a RampSum σ, or ``"b"``).
      data: an :class:`IsotropicGaussians` or :class:`AnisotropicGaussians`.
      theta: particles, shape ``(N, D)``.
      max_close: close pairs per quadrature block (default 4 per row of a block; memory
        ∝ max_close · 200).
      rows: rows i per block of pairs (default PAIR_BLOCK // N, at least 1, at most N).

    Returns a scalar of theta's dtype. Jitted (recompiles per N, dtype, block sizes).
    """
    theta = jnp.asarray(theta)
    N = theta.shape[0]
    rows = max(1, min(N, PAIR_BLOCK // N)) if rows is None else min(int(rows), N)
    max_close = 4 * rows if max_close is None else int(max_close)
    if rows < 1 or max_close < 1:
        raise ValueError(f"rows and max_close must be >= 1; got {rows}, {max_close}.")
    return _risk_jit(units, data, theta, max_close, rows)


def risk_terms(units: UnitType, data, theta):
    """(V (N,), U (N, N)) for small N, both by closed form / quadrature (no series)."""
    return potential_V(units, data, theta), interaction_U(units, data, theta, theta)
