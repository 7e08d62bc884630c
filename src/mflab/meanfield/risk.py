"""Exact population risk R_N(θ) of a two-layer network (SPEC Part A, erratum 5).

    R_N(θ) = R# + (2/N) Σ_i V(θ_i) + (1/N²) Σ_{i,j} U(θ_i, θ_j),
    V(θ) = −E[y σ*(x;θ)],   U(θ, θ') = E[σ*(x;θ) σ*(x;θ')],   R# = E[y²] = 1.

For unit types (a) σ*(x;w) = σ(⟨w,x⟩) and (b) σ*(x;θ) = a·relu(⟨w,x⟩ + b) with
piecewise-linear σ (a :class:`~mflab.meanfield.activations.RampSum`) and data
x | y ~ N(0, diag(v_y)), the pre-activation of unit i on class y is
N(μ_i, s_i²) with s_i² = Σ_k v_yk w_ik², and two units are jointly Gaussian with
covariance Σ_k v_yk w_ik w_jk. Hence

* V is a closed form (ramp sums against a Gaussian: Φ and φ), and so is the diagonal
  U(θ, θ) = E σ*(x;θ)² (σ² is piecewise quadratic);
* for a pair with |ρ| ≤ 0.85, U is Mehler's series Σ_n c_n c'_n ρ^n (:func:`hermite_coeffs`);
* for a closer pair, U is a bivariate Gaussian expectation E[f(X) g(Y)], computed exactly up to
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


@partial(jax.jit, static_argnums=(0, 1))
def potential_V(units: UnitType, data, theta):
    """V(θ_i) = −E[y σ*(x; θ_i)] for every row of theta (N, D) → (N,), closed form."""
    amp, mu, s, _, _ = _moments(units, theta, data.class_variances())
    sig = _activation(units)
    m = sig.gaussian_mean(mu[None], s)  # (2, N)
    return -amp * 0.5 * (m[0] - m[1])  # labels (+1, −1), probability ½ each


@partial(jax.jit, static_argnums=(0, 1), static_argnames=("nodes", "pieces", "L"))
def interaction_U(units: UnitType, data, theta1, theta2, **quad):
    """U(θ_i, θ'_j) = E[σ*(x;θ_i) σ*(x;θ'_j)] as a matrix (N1, N2) (quadrature, see module).

    Jitted: the quadrature is hundreds of small operations, which run eagerly compile one
    by one (:func:`risk_terms` at N = 30, first call: 5.3 s of CPU eager, 0.7 s jitted)."""
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

    if n_terms > 2:
        e = hermite_functions(a, n_terms - 2)  # (n − 2, K, ...)
        k = jnp.arange(n_terms - 2, dtype=mu.dtype).reshape((-1,) + (1,) * mu.ndim)
        cs = s * jnp.sum(betas[None] * e, axis=1) / jnp.sqrt((k + 2.0) * (k + 1.0))
    else:
        cs = jnp.zeros((0, *mu.shape), mu.dtype)
    out = jnp.stack(out, axis=-1)
    return jnp.concatenate([out[..., :n_terms], jnp.moveaxis(cs, 0, -1)], axis=-1)


def _hermite_scan(a, n: int):
    """e_0 … e_{n−1} at ``a`` by the three-term recurrence (stacked on a new axis 0)."""

    def body(carry, m):  # carry (e_{m−1}, e_m) → emits e_m, advances to (e_m, e_{m+1})
        e_prev, e_cur = carry
        e_next = (a * e_cur - jnp.sqrt(m) * e_prev) / jnp.sqrt(m + 1.0)
        return (e_cur, e_next), e_cur

    ms = jnp.arange(n, dtype=a.dtype)
    return jax.lax.scan(body, (jnp.zeros_like(a), _phi(a)), ms)[1]


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def hermite_functions(a, n: int):
    """The normalised Hermite functions e_m(a) = φ(a) He_m(a) / √(m!), m = 0 … n − 1, as an
    array (n, *a.shape), by the stable recurrence e_{m+1} = (a e_m − √m e_{m−1}) / √(m+1).

    Its derivative is written by the identity (φ He_m)' = −φ He_{m+1}, i.e.
    e_m'(a) = −√(m+1) e_{m+1}(a): differentiating through the recurrence instead carries a
    cotangent that grows like a^m, which overflows in float32 where φ(a) has underflowed
    (a unit of tiny norm, |a| ~ 40, gave ∞ · 0 = NaN in the exact risk's gradient)."""
    return _hermite_scan(a, n)


@hermite_functions.defjvp
def _hermite_functions_jvp(n, primals, tangents):
    (a,), (da,) = primals, tangents
    e = _hermite_scan(a, n + 1)
    m = jnp.arange(1, n + 1, dtype=a.dtype).reshape((-1,) + (1,) * a.ndim)
    return e[:n], -jnp.sqrt(m) * e[1:] * da[None]


SERIES_TERMS = 128
SERIES_RHO = 0.85  # |ρ| ≤ 0.85: truncation after 128 terms < 0.85^128 · max c_n² ≈ 1e-11
#: Every pair gets the series' first HEAD_TERMS terms (a dense pass over the block); only
#: pairs with |ρ| > HEAD_RHO on a class get the other terms, gathered: 0.45^32 ≈ 8e-12,
#: below the full series' own truncation. In high dimension nearly all pairs are far
#: (|ρ| ~ d^{-1/2}), so the dense work is a quarter of the full series'.
HEAD_TERMS = 32
HEAD_RHO = 0.45


def _class_stats(units, data, theta):
    v = data.class_variances()
    amp, mu, s, vw, w = _moments(units, theta, v)
    cov = jnp.einsum("ynd,md->ynm", vw, w)
    rho = jnp.clip(_safe_div(cov, s[:, :, None] * s[:, None, :], 0.0), -1.0, 1.0)
    return amp, mu, s, rho


def _horner(a, b, rho):
    """Σ_n a_n b_n ρ^n elementwise, by Horner; a, b (n, ...) broadcast against ρ."""
    n_terms = a.shape[0]

    def body(k, acc):
        n = n_terms - 1 - k
        return acc * rho + a[n] * b[n]

    return jax.lax.fori_loop(0, n_terms, body, jnp.zeros(jnp.broadcast_shapes(
        a.shape[1:], b.shape[1:], rho.shape), rho.dtype))


@jax.custom_vjp
def series_block(a, b, rho):
    """S = ½ Σ_y Σ_{i,j} Σ_n a_n(y,i) b_n(y,j) ρ_y(i,j)^n: a block of Mehler's series,
    a (n, 2, rows), b (n, 2, N), ρ (2, rows, N) → scalar.

    With a = α_i c_n(i) and b = α_j c_n(j) it is the rows' share of Σ_ij α_i α_j U(θ_i, θ_j)
    (averaged over the two classes). Its gradient is written by hand (``jax.grad`` through
    the loop over n stores every partial sum: 19.1 against 6.1 ms for a block of 32 terms,
    81 rows and 800 units in float64):
    ∂S/∂a_n(y,i) = ½ Σ_j b_n(y,j) ρ^n,  ∂S/∂b_n(y,j) = ½ Σ_i a_n(y,i) ρ^n,
    ∂S/∂ρ = ½ Σ_{n≥1} n a_n b_n ρ^{n−1} (Horner again).
    """
    return 0.5 * jnp.sum(_horner(a[:, :, :, None], b[:, :, None, :], rho))


def _series_block_fwd(a, b, rho):
    return series_block(a, b, rho), (a, b, rho)


def _series_block_bwd(res, g):
    a, b, rho = res
    n_terms = a.shape[0]

    def power(p, n):  # p = ρ^n → (∂S/∂a_n, ∂S/∂b_n) / (½ g), and ρ^{n+1}
        return p * rho, (jnp.einsum("yij,yj->yi", p, b[n]), jnp.einsum("yij,yi->yj", p, a[n]))

    _, (da, db) = jax.lax.scan(power, jnp.ones_like(rho), jnp.arange(n_terms))
    k = jnp.arange(1, n_terms, dtype=rho.dtype)[:, None, None, None]
    drho = _horner(k * a[1:, :, :, None], b[1:, :, None, :], rho)
    half = 0.5 * g
    return half * da, half * db, half * drho


series_block.defvjp(_series_block_fwd, _series_block_bwd)


def _pair_blocks(mask, size):
    """The pairs (a, j) where ``mask`` (rows, N) holds, as index lists padded by a block of
    the pair (0, 0) (a real pair, masked out by the count), and the number of blocks."""
    rows, N = mask.shape
    n_sel = jnp.sum(mask)
    aa, jj = jnp.nonzero(mask, size=rows * N + size, fill_value=0)
    return aa, jj, n_sel, (n_sel + size - 1) // size


def _gather(unit, rho, i_rows, aa, jj, b, size):
    a = jax.lax.dynamic_slice(aa, (b * size,), (size,))
    j = jax.lax.dynamic_slice(jj, (b * size,), (size,))
    return a, j, (unit[i_rows[a]], unit[j], rho[:, a, j])


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def sum_over_pairs(pair_terms, size, unit, rho, i_rows, mask):
    """Σ over the pairs (a, j) where ``mask`` (rows, N) holds of ``pair_terms(u_i, u_j, ρ)``,
    ``size`` pairs at a time, in a loop over only the blocks that hold pairs.

    ``unit`` (N, K) holds every unit's per-unit quantities, ``rho`` (2, rows, N) the pairs'
    correlations, ``i_rows`` (rows,) the unit of each row; ``pair_terms`` maps a block of
    gathered rows u_i, u_j (size, K) and ρ (2, size) to one value per pair. The loop has a
    dynamic length, so the gradient is written here: per block, the VJP of
    ``pair_terms`` on the gathered values, scatter-added into the cotangents of ``unit``
    and ``rho`` (a loop over all possible blocks, as reverse mode would need, added a
    full-size cotangent per block: 2.5 s of a 3.4 s gradient at N = 800, d = 320;
    docs/benchmarks.md)."""
    aa, jj, n_sel, n_blocks = _pair_blocks(mask, size)

    def body(carry):
        b, acc = carry
        _, _, g = _gather(unit, rho, i_rows, aa, jj, b, size)
        valid = b * size + jnp.arange(size) < n_sel
        return b + 1, acc + jnp.sum(jnp.where(valid, pair_terms(*g), 0.0))

    return jax.lax.while_loop(lambda c: c[0] < n_blocks, body,
                              (jnp.int32(0), jnp.zeros((), rho.dtype)))[1]


def _sum_over_pairs_fwd(pair_terms, size, unit, rho, i_rows, mask):
    return sum_over_pairs(pair_terms, size, unit, rho, i_rows, mask), (unit, rho, i_rows, mask)


def _sum_over_pairs_bwd(pair_terms, size, res, ct):
    unit, rho, i_rows, mask = res
    aa, jj, n_sel, n_blocks = _pair_blocks(mask, size)

    def body(carry):
        b, d_unit, d_rho = carry
        a, j, g = _gather(unit, rho, i_rows, aa, jj, b, size)
        valid = b * size + jnp.arange(size) < n_sel

        def block_sum(ui, uj, r):
            return jnp.sum(jnp.where(valid, pair_terms(ui, uj, r), 0.0))

        _, vjp = jax.vjp(block_sum, *g)
        d_ui, d_uj, d_r = vjp(ct)
        d_unit = d_unit.at[i_rows[a]].add(d_ui).at[j].add(d_uj)
        return b + 1, d_unit, d_rho.at[:, a, j].add(d_r)

    _, d_unit, d_rho = jax.lax.while_loop(lambda c: c[0] < n_blocks, body,
                                          (jnp.int32(0), jnp.zeros_like(unit),
                                           jnp.zeros_like(rho)))
    return d_unit, d_rho, None, None


sum_over_pairs.defvjp(_sum_over_pairs_fwd, _sum_over_pairs_bwd)


#: Pairs formed at once by the exact risk (rows × N ≤ this): each (2, rows, N) array of the
#: series (1 MB in float64) stays in a core's cache; one block of N² (PAIR_BLOCK 2**22) was
#: 10× slower at N = 3200, memory-bound.
PAIR_BLOCK = 1 << 16
#: Far-but-not-close pairs (HEAD_RHO < |ρ| ≤ SERIES_RHO) whose series tail is summed at once.
TAIL_BLOCK = 1024


def class_covariance(variances, w1, w2):
    """Cov_y(⟨w_i, x⟩, ⟨w_j, x⟩) = Σ_k v_yk w_ik w_jk for both classes: (2, N1, N2).

    The coordinates are grouped by their pair of class variances (v_0k, v_1k) — one group
    for isotropic classes (A1, A2), two for A3 — and each group's Gram matrix is formed
    once: the work is one N1 × d × N2 product whatever the number of classes, half of a
    product per class. ``variances`` (2, d) must be concrete (the data model's)."""
    v = np.asarray(variances, float)
    groups, which = np.unique(v.T, axis=0, return_inverse=True)
    cov = 0.0
    for g, (v0, v1) in enumerate(groups):
        k = np.flatnonzero(which.ravel() == g)
        if k[-1] - k[0] + 1 == k.size:  # contiguous: a slice, not a gather
            k = slice(int(k[0]), int(k[-1]) + 1)
        gram = w1[:, k] @ w2[:, k].T
        cov = cov + jnp.stack([float(v0) * gram, float(v1) * gram])
    return cov


def _unpack(u):
    """A block of rows of the per-unit table → c (n, 2, M), μ (M,), s (2, M), α (M,)."""
    n2 = u.shape[1] - 4
    return u[:, :n2].T.reshape(n2 // 2, 2, -1), u[:, n2], u[:, n2 + 1:n2 + 3].T, u[:, n2 + 3]


@partial(jax.jit, static_argnums=(0, 1, 3, 4))
def _risk_jit(units, data, theta, max_close, rows):
    N = theta.shape[0]
    sig = _activation(units)
    V = potential_V(units, data, theta)
    amp, mu, s, vw, w = _moments(units, theta, data.class_variances())
    c = jnp.moveaxis(hermite_coeffs(sig, mu[None], s, SERIES_TERMS), -1, 0)  # (n, 2, N)
    ac = amp[None, None, :] * c  # α_j c_n(j)
    # every unit's c_n (both classes), μ, s (both classes) and α in one row, for the
    # gathered pairs
    unit = jnp.concatenate([c.reshape(-1, N).T, mu[:, None], s.T, amp[:, None]], axis=1)
    n_row_blocks = -(-N // rows)
    max_tail = min(TAIL_BLOCK, rows * N)

    def row_block(r0):
        """Σ_{i in rows r0.., all j} α_i α_j U(θ_i, θ_j): the series' head for every pair,
        its tail for the pairs with HEAD_RHO < |ρ| ≤ SERIES_RHO, and quadrature in place of
        the head for the close pairs (|ρ| > SERIES_RHO on a class; the diagonal is added
        in closed form below)."""
        i_all = r0 + jnp.arange(rows)
        ok = i_all < N  # the last block is padded with row N − 1, masked out
        i_all = jnp.minimum(i_all, N - 1)
        cov = class_covariance(data.class_variances(), w[i_all], w)
        rho = jnp.clip(_safe_div(cov, s[:, i_all, None] * s[:, None, :], 0.0), -1.0, 1.0)
        big = jnp.max(jnp.abs(rho), axis=0)
        off_diagonal = i_all[:, None] != jnp.arange(N)[None, :]
        close = (big > SERIES_RHO) & ok[:, None] & off_diagonal
        medium = (big > HEAD_RHO) & (big <= SERIES_RHO) & ok[:, None]
        total = series_block(ac[:HEAD_TERMS, :, i_all] * ok.astype(theta.dtype),
                             ac[:HEAD_TERMS], rho)

        def tail(ui, uj, r):  # Σ_{n ≥ HEAD} = ρ^HEAD · Σ_m α_i α_j c_{HEAD+m}(i) c_{HEAD+m}(j) ρ^m
            ci, _, _, ai = _unpack(ui)
            cj, _, _, aj = _unpack(uj)
            t = _horner(ci[HEAD_TERMS:], cj[HEAD_TERMS:], r) * r**HEAD_TERMS
            return ai * aj * 0.5 * (t[0] + t[1])

        def quad(ui, uj, r):  # quadrature in place of the head
            ci, mi, si, ai = _unpack(ui)
            cj, mj, sj, aj = _unpack(uj)
            q = pair_expectation(sig, mi[None], si, mj[None], sj, r)
            head = _horner(ci[:HEAD_TERMS], cj[:HEAD_TERMS], r)
            return ai * aj * 0.5 * jnp.sum(q - head, axis=0)

        total = total + sum_over_pairs(tail, max_tail, unit, rho, i_all, medium)
        return total + sum_over_pairs(quad, max_close, unit, rho, i_all, close)

    if n_row_blocks == 1:
        full = row_block(0)
    else:  # one block of rows at a time, recomputed in the backward pass
        full = jnp.sum(jax.lax.map(jax.checkpoint(row_block), jnp.arange(n_row_blocks) * rows))
    # the diagonal U(θ_i, θ_i) = E σ*(x; θ_i)² in closed form, in place of its series' head
    rho_ii = jnp.clip(_safe_div(jnp.sum(vw * w[None], axis=-1), s * s, 0.0), -1.0, 1.0)
    head_ii = _horner(c[:HEAD_TERMS], c[:HEAD_TERMS], rho_ii)
    diag = amp**2 * 0.5 * jnp.sum(sig.gaussian_second_moment(mu[None], s) - head_ii, axis=0)
    return data.r_sharp + 2.0 * jnp.mean(V) + (full + jnp.sum(diag)) / N**2


def exact_risk(units: UnitType, data, theta, *, max_close: int | None = None,
               rows: int | None = None):
    """R_N(θ) = R# + (2/N) Σ V(θ_i) + (1/N²) Σ_ij U(θ_i, θ_j), exactly (no sampling of x).

    V in closed form, and the diagonal U(θ_i, θ_i) = E σ*(x; θ_i)² too
    (:meth:`RampSum.gaussian_second_moment`). The other pairs by Mehler's series
    (:func:`hermite_coeffs`) where the correlation on both classes is |ρ| ≤ 0.85: its
    first 32 terms for every pair (a dense pass, :func:`series_block`, with a
    hand-written gradient), the terms 32 … 127 only for the pairs with |ρ| > 0.45 on a
    class (gathered; each truncation < 1e-11); and by the kink-split quadrature
    (:func:`pair_expectation`) for the close pairs (|ρ| > 0.85: near-parallel units),
    ``max_close`` pairs at a time. Gathered pairs cost in proportion to their number
    (:func:`sum_over_pairs`, a loop over only the blocks that hold them, gradient written
    by hand), so an aligned network (collapsed or blown up along one direction) is
    handled, and a spread one costs the dense pass alone. The pairs are formed
    ``rows`` × N at a time, so memory is O(rows·N), not O(N²), and each block's series
    stays in cache. The risk and its gradient at N = 800, d = 320 take 27 ms and 118 ms
    in float64 on one core (``benchmarks/bench_exact_gradient.py``).

    Args:
      units: unit type (``"a"`` with a RampSum σ, or ``"b"``).
      data: an :class:`IsotropicGaussians` or :class:`AnisotropicGaussians`.
      theta: particles, shape ``(N, D)``.
      max_close: close pairs per quadrature block (default 4 per row of a block; memory
        ∝ max_close · 200).
      rows: rows i per block of pairs (default PAIR_BLOCK // N, at least 1, at most N).

    Returns a scalar of theta's dtype. Jitted (recompiles per N, dtype, block sizes).
    Differentiable in reverse mode (``jax.grad``, ``jax.vjp``); the hand-written gradients
    have no forward mode, so ``jax.jvp`` and ``jax.hessian`` of it raise.
    """
    theta = jnp.asarray(theta)
    N = theta.shape[0]
    rows = max(1, min(N, PAIR_BLOCK // N)) if rows is None else min(int(rows), N)
    max_close = 4 * rows if max_close is None else int(max_close)
    if rows < 1 or max_close < 1:
        raise ValueError(f"rows and max_close must be >= 1; got {rows}, {max_close}.")
    return _risk_jit(units, data, theta, max_close, rows)


def risk_scale(units: UnitType, data, theta):
    """(√R# + √S_U)² with S_U = ((1/N) Σ_i √U(θ_i, θ_i))²: by Cauchy–Schwarz
    (|U(θ_i, θ_j)| ≤ √(U_ii U_jj), |V(θ_i)| ≤ √(R# U_ii)) a bound on the summed magnitudes
    of the terms of R_N = R# + (2/N) Σ V + (1/N²) Σ U, which :func:`exact_risk` adds up.
    Its rounding and series truncation (< 1e-11 per pair) are relative to this scale, so a
    risk far below it (a network whose units blew up, their huge terms cancelling) has
    lost its digits. U_ii in closed form (:meth:`RampSum.gaussian_second_moment`)."""
    theta = jnp.asarray(theta)
    amp, mu, s, _, _ = _moments(units, theta, data.class_variances())
    u_ii = amp**2 * 0.5 * jnp.sum(_activation(units).gaussian_second_moment(mu[None], s), axis=0)
    return (jnp.sqrt(data.r_sharp) + jnp.mean(jnp.sqrt(u_ii))) ** 2


@partial(jax.jit, static_argnums=(0, 1))
def risk_terms(units: UnitType, data, theta):
    """(V (N,), U (N, N)) for small N, both by closed form / quadrature (no series): the
    terms of R_N = R# + (2/N) Σ_i V(θ_i) + (1/N²) Σ_ij U(θ_i, θ_j) (Mei et al. 2018, eq. 3),
    an evaluation independent of :func:`exact_risk`'s series. Jitted."""
    return potential_V(units, data, theta), interaction_U(units, data, theta, theta)
