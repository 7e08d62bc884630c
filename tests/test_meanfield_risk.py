"""Exact risk R_N, V and U of mflab.meanfield against theory (closed forms, Monte Carlo,
invariances, two independent quadratures)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab  # noqa: F401
from mflab.meanfield import (
    UNIT_RELU,
    AnisotropicGaussians,
    IsotropicGaussians,
    exact_risk,
    hermite_coeffs,
    pair_expectation,
    potential_V,
    risk_terms,
    sigma_a1,
    sigma_a2,
    unit_a,
)
from mflab.meanfield.activations import RELU as UNIT_RELU_SIGMA
from mflab.meanfield.risk import interaction_U


def _mc_risk(units, data, theta, n=600_000, seed=0, chunk=200_000):
    """Plain Monte Carlo of E(y − ŷ)² and its standard error."""
    key = jax.random.key(seed)
    vals = []
    for i in range(n // chunk):
        x, y = data.sample(jax.random.fold_in(key, i), chunk)
        yhat = jnp.mean(units(theta, x), axis=0)
        vals.append(np.asarray((y - yhat) ** 2))
    v = np.concatenate(vals)
    return v.mean(), v.std() / np.sqrt(v.size)


CASES = [
    ("A1", unit_a(sigma_a1()), IsotropicGaussians(0.8, 10), 1.5),
    ("A2", unit_a(sigma_a2()), IsotropicGaussians(0.5, 8), 1.5),
    ("A3", UNIT_RELU, AnisotropicGaussians(0.5, 12, 4), 1.0),
]


@pytest.mark.parametrize("name,units,data,scale", CASES, ids=[c[0] for c in CASES])
def test_exact_risk_matches_monte_carlo(name, units, data, scale):
    N = 24
    key = jax.random.key(3)
    D = data.d + units.n_extra
    theta = scale * jax.random.normal(key, (N, D)) / np.sqrt(data.d) * 2
    if units.n_extra:  # a ~ N(0,1), b ~ N(0, 0.25)
        theta = theta.at[:, 0].set(jax.random.normal(jax.random.fold_in(key, 1), (N,)))
        theta = theta.at[:, 1].multiply(0.5)
    exact = float(exact_risk(units, data, theta))
    mc, se = _mc_risk(units, data, theta)
    # CLT: the MC mean is N(exact, se²); 4.5 se is a two-sided 7e-6 false-alarm level.
    assert abs(exact - mc) < 4.5 * se, (name, exact, mc, se)


@pytest.mark.parametrize("sig,expected", [(sigma_a1(), 1 + 2.5**2), (sigma_a2(), 1 + 2.5**2)])
def test_zero_network_risk(sig, expected):
    # w = 0: ŷ ≡ σ(0) = −2.5, E y = 0, so R = E(y − σ(0))² = 1 + σ(0)².
    # Tolerance 1e-11: the only error is Gauss–Legendre on the φ-weighted constant (< 1e-13).
    data = IsotropicGaussians(0.8, 7)
    r = exact_risk(unit_a(sig), data, jnp.zeros((9, 7)))
    assert abs(float(r) - expected) < 1e-11
    # type (b) with a = 0: ŷ ≡ 0, R = R# = 1.
    r = exact_risk(UNIT_RELU, AnisotropicGaussians(0.5, 6, 2), jnp.zeros((5, 8)))
    assert abs(float(r) - 1.0) < 1e-12


@pytest.mark.slow
def test_series_and_quadrature_agree_and_converge():
    # Two independent evaluations of Σ U: Mehler series (+quadrature on close pairs) vs
    # quadrature for every pair; and the quadrature at 8 vs 16 nodes per piece.
    units, data = unit_a(sigma_a2()), IsotropicGaussians(0.5, 6)
    theta = jax.random.normal(jax.random.key(5), (30, 6)) * 0.7
    V, U = risk_terms(units, data, theta)
    r_quad = 1 + 2 * V.mean() + U.mean()
    assert abs(float(exact_risk(units, data, theta)) - float(r_quad)) < 1e-9
    U16 = interaction_U(units, data, theta, theta, nodes=16)
    # Documented accuracy of the default rule (8 nodes/piece): ≤ 1e-7, the worst case being
    # near-parallel pairs, where E[σ(Y)|Z] has a kink smoothed over a width ∝ sqrt(1 − ρ²).
    assert float(jnp.max(jnp.abs(U16 - U))) < 1e-7
    U32 = interaction_U(units, data, theta, theta, nodes=32)
    assert float(jnp.max(jnp.abs(U32 - U16))) < 1e-10  # and it converges


@pytest.mark.slow
def test_many_close_pairs_are_handled_in_blocks():
    """Aligned units (a common direction, small spread): most pairs have |ρ| > 0.85 and go
    through the quadrature in several blocks of max_close; the result equals quadrature
    for every pair (risk_terms) and does not depend on the block size."""
    units, data = unit_a(sigma_a2()), IsotropicGaussians(0.5, 6)
    k1, k2 = jax.random.split(jax.random.key(7))
    r = jax.random.uniform(k1, (30, 1), minval=0.2, maxval=2.0)
    theta = r * jnp.ones((1, 6)) / jnp.sqrt(6.0) + 0.05 * jax.random.normal(k2, (30, 6))
    V, U = risk_terms(units, data, theta)
    r_quad = float(1 + 2 * V.mean() + U.mean())
    n_close = int(jnp.sum(jnp.abs(interaction_rho(units, data, theta)) > 0.85))
    assert n_close > 300  # well over the default 4N = 120: several blocks
    for max_close in (7, 64, None):
        # the same quadrature for close pairs, series (< 1e-11) for the rest
        assert abs(float(exact_risk(units, data, theta, max_close=max_close)) - r_quad) < 1e-9
    for rows in (1, 7, 29):  # pairs formed in row blocks (the last one padded and masked)
        assert abs(float(exact_risk(units, data, theta, rows=rows, max_close=64))
                   - r_quad) < 1e-9, rows


@pytest.mark.slow
def test_exact_risk_gradient_matches_finite_differences_across_blocks():
    """jax.grad of the exact risk (reverse mode through the blocks of close pairs) equals
    the central difference of the risk along a random direction: the error of the
    difference is O(h²)·|third derivative| ≈ 1e-8 at h = 1e-4, far above float64 rounding
    of the risk (1e-15 / h ≈ 1e-11), so 1e-6 relative is a real check."""
    units, data = unit_a(sigma_a2()), IsotropicGaussians(0.5, 6)
    k1, k2, k3 = jax.random.split(jax.random.key(8), 3)
    r = jax.random.uniform(k1, (20, 1), minval=0.3, maxval=1.5)
    theta = r * jnp.ones((1, 6)) / jnp.sqrt(6.0) + 0.05 * jax.random.normal(k2, (20, 6))
    v = jax.random.normal(k3, theta.shape)
    h = 1e-4
    for max_close, rows in ((7, None), (7, 6)):  # one block of rows; several, padded
        def f(t, mc=max_close, r=rows):
            return exact_risk(units, data, t, max_close=mc, rows=r)

        g = jax.grad(f)(theta)
        fd = (float(f(theta + h * v)) - float(f(theta - h * v))) / (2 * h)
        assert abs(float(jnp.vdot(g, v)) - fd) < 1e-6 * abs(fd), (max_close, rows, fd)


def _three_tier_particles(D, seed):
    """Independent units, units correlated ~0.6 with a common direction and units nearly
    along it: far pairs (series head only), medium pairs (head + gathered tail) and close
    pairs (quadrature) all occur."""
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    base = jax.random.normal(k1, (1, D))
    return 0.7 * jnp.concatenate([jax.random.normal(k2, (12, D)),
                                  0.6 * base + 0.5 * jax.random.normal(k3, (12, D)),
                                  base + 0.05 * jax.random.normal(k3, (6, D))])


@pytest.mark.slow
@pytest.mark.parametrize("units,data", [(unit_a(sigma_a2()), IsotropicGaussians(0.5, 6)),
                                        (UNIT_RELU, AnisotropicGaussians(0.5, 6, 2))],
                         ids=["A2", "A3"])
def test_exact_risk_and_gradient_equal_quadrature_on_every_tier(units, data):
    """The blocked risk (series head for all pairs, gathered tail for 0.45 < |ρ| ≤ 0.85,
    quadrature for |ρ| > 0.85) and its gradient (hand-written for the head) equal the risk
    with every pair by quadrature (risk_terms) and jax.grad of it: two independent
    computations, whose difference is the series' truncation (< 1e-11) and quadrature
    error (< 1e-7 only near parallel pairs, where both use the same rule)."""
    from mflab.meanfield.risk import HEAD_RHO, SERIES_RHO

    theta = _three_tier_particles(data.d + units.n_extra, 1)
    rho = interaction_rho(units, data, theta)
    assert int(jnp.sum((rho > HEAD_RHO) & (rho <= SERIES_RHO))) > 100
    assert int(jnp.sum(rho > SERIES_RHO)) > 100

    def quad_risk(t):
        V, U = risk_terms(units, data, t)
        return data.r_sharp + 2 * V.mean() + U.mean()

    def f(t):  # several row blocks (the last one padded), several blocks of close pairs
        return exact_risk(units, data, t, rows=7, max_close=5)

    assert abs(float(f(theta)) - float(quad_risk(theta))) < 1e-10
    g_quad = jax.grad(quad_risk)(theta)
    err = float(jnp.max(jnp.abs(jax.grad(f)(theta) - g_quad)))
    assert err < 1e-9 * float(jnp.max(jnp.abs(g_quad))), err


def test_series_block_gradient_is_autodiff_of_the_plain_sum():
    """The hand-written VJP of the series block against jax.grad of the same sum written
    as a plain loop over n with explicit powers."""
    from mflab.meanfield.risk import series_block

    k = jax.random.split(jax.random.key(2), 3)
    a = jax.random.normal(k[0], (9, 2, 5))
    b = jax.random.normal(k[1], (9, 2, 7))
    rho = jax.random.uniform(k[2], (2, 5, 7), minval=-0.9, maxval=0.9)

    def plain(a, b, rho):
        return 0.5 * sum(jnp.sum(a[n][:, :, None] * b[n][:, None, :] * rho**n)
                         for n in range(a.shape[0]))

    assert abs(float(series_block(a, b, rho)) - float(plain(a, b, rho))) < 1e-12
    for got, want in zip(jax.grad(series_block, (0, 1, 2))(a, b, rho),
                         jax.grad(plain, (0, 1, 2))(a, b, rho), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_hermite_functions_derivative_is_the_hermite_identity():
    """e_m'(a) = −√(m+1) e_{m+1}(a), the custom derivative of the Hermite functions, against
    central differences of the plain recurrence (float64, where differences are accurate)."""
    from mflab.meanfield.risk import _hermite_scan, hermite_functions

    a = jnp.array([-6.2, -1.3, 0.0, 0.7, 3.9])
    n, h = 60, 1e-6
    fd = (_hermite_scan(a + h, n) - _hermite_scan(a - h, n)) / (2 * h)
    got = jax.vmap(jax.grad(lambda x: hermite_functions(x, n)[n - 1]))(a)
    np.testing.assert_allclose(got, fd[n - 1], rtol=1e-6, atol=1e-9)
    jac = jax.jacfwd(lambda x: hermite_functions(x, n))(a)  # (n, 5, 5): diagonal in a
    np.testing.assert_allclose(jnp.diagonal(jac, axis1=1, axis2=2), fd, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_exact_risk_gradient_is_finite_in_float32_with_a_tiny_unit():
    """A unit of norm 1e-3 (C5's collapsing start, κ = 0.1, after a few steps): its
    pre-activation knots sit at |a| ≈ 40, where φ(a) underflows. Differentiating through
    the Hermite recurrence gave ∞ · 0 = NaN in float32; the gradient must be finite and
    equal the float64 one to float32 precision."""
    units, data = unit_a(sigma_a2()), IsotropicGaussians(0.5, 20)
    theta = 0.5 / np.sqrt(20) * jax.random.normal(jax.random.key(3), (16, 20))
    w0 = theta[1] + theta[2]  # correlated with units 1 and 2 (ρ ≈ 0.7): the series' tail
    theta = theta.at[0].set(1e-3 * w0 / jnp.linalg.norm(w0))
    g64 = jax.grad(lambda th: exact_risk(units, data, th))(theta)
    g32 = jax.grad(lambda th: exact_risk(units, data, th))(theta.astype(jnp.float32))
    assert bool(jnp.all(jnp.isfinite(g32)))
    np.testing.assert_allclose(g32, g64, rtol=0, atol=1e-4 * float(jnp.max(jnp.abs(g64))))


def interaction_rho(units, data, theta):
    """max over the two classes of |ρ_ij| (the test's count of close pairs)."""
    from mflab.meanfield.risk import _class_stats

    return jnp.max(jnp.abs(_class_stats(units, data, theta)[3]), axis=0)


def test_mehler_series_matches_quadrature_pairwise():
    sig = sigma_a1()
    mu1, s1, mu2, s2 = 0.2, 1.3, -0.4, 0.8
    c1 = hermite_coeffs(sig, jnp.float64(mu1), jnp.float64(s1), 128)
    c2 = hermite_coeffs(sig, jnp.float64(mu2), jnp.float64(s2), 128)
    for rho in (-0.85, -0.3, 0.0, 0.5, 0.85):
        series = float(jnp.sum(c1 * c2 * rho ** jnp.arange(128)))
        quad = float(pair_expectation(sig, mu1, s1, mu2, s2, jnp.float64(rho)))
        # truncation ≤ Σ_{n≥128} |c_n|² 0.85^n < 1e-10; quadrature error ≈ 1e-12
        assert abs(series - quad) < 1e-9, rho


def test_U_symmetric_and_rotation_invariant():
    units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, 5)
    k1, k2 = jax.random.split(jax.random.key(7))
    theta = jax.random.normal(k1, (12, 5))
    Q, _ = jnp.linalg.qr(jax.random.normal(k2, (5, 5)))
    V, U = risk_terms(units, data, theta)
    Vq, Uq = risk_terms(units, data, theta @ Q.T)
    # Symmetry of U: the quadrature is not symmetric in its arguments (it conditions on
    # the first), so agreement to 1e-11 checks it against its own error.
    assert float(jnp.max(jnp.abs(U - U.T))) < 1e-11
    # Isotropic data: x ↦ Qx preserves the law, so V(Qw) = V(w), U(Qw, Qw') = U(w, w').
    assert float(jnp.max(jnp.abs(V - Vq))) < 1e-12
    assert float(jnp.max(jnp.abs(U - Uq))) < 1e-10


def test_anisotropic_invariance_only_within_blocks():
    data = AnisotropicGaussians(0.5, 6, 3)
    k1, k2 = jax.random.split(jax.random.key(9))
    theta = jax.random.normal(k1, (8, 8))
    Q3, _ = jnp.linalg.qr(jax.random.normal(k2, (3, 3)))
    block = jnp.eye(8).at[2:5, 2:5].set(Q3)  # rotate the s0 informative coordinates only
    V, U = risk_terms(UNIT_RELU, data, theta)
    Vb, Ub = risk_terms(UNIT_RELU, data, theta @ block.T)
    assert float(jnp.max(jnp.abs(V - Vb))) < 1e-12
    assert float(jnp.max(jnp.abs(U - Ub))) < 1e-10
    swap = jnp.eye(8)[:, [0, 1, 5, 3, 4, 2, 6, 7]]  # exchanges an informative and a noise axis
    Vs = potential_V(UNIT_RELU, data, theta @ swap)
    assert float(jnp.max(jnp.abs(V - Vs))) > 1e-3  # the law is not invariant across blocks


@pytest.mark.parametrize(
    "make,msg",
    [
        (lambda: IsotropicGaussians(0.8, 0), "d must be an integer >= 1; got 0"),
        (lambda: IsotropicGaussians(1.0, 4), "Delta must lie in [0, 1)"),
        (lambda: IsotropicGaussians(-0.1, 4), "got -0.1"),
        (lambda: AnisotropicGaussians(0.5, 4, 5), "1 <= s0 <= d = 4; got 5"),
    ],
)
def test_bad_data_parameters(make, msg):
    with pytest.raises(ValueError, match=msg.replace("[", r"\[").replace(")", r"\)")):
        make()


@pytest.mark.parametrize("sig", [sigma_a1(), sigma_a2(), UNIT_RELU_SIGMA], ids=["a1", "a2", "relu"])
def test_gaussian_second_moment_is_the_integral(sig):
    """E σ(μ + sZ)² in closed form against scipy's adaptive quadrature of σ(μ + sz)² φ(z)
    split at the kinks (an independent integral), and its value σ(μ)² at s = 0 with a
    finite gradient there."""
    from scipy import integrate, stats

    for mu, s in ((0.3, 0.7), (-0.2, 1.5), (1.1, 0.05), (-3.0, 2.0)):
        def f(z, mu=mu, s=s):
            return float(sig(jnp.float64(mu + s * z))) ** 2 * stats.norm.pdf(z)

        kinks = sorted((t - mu) / s for t in sig.knots if abs((t - mu) / s) < 12)
        want = integrate.quad(f, -12, 12, points=kinks or None, limit=200,
                              epsabs=1e-13, epsrel=1e-13)[0]
        got = float(sig.gaussian_second_moment(jnp.float64(mu), jnp.float64(s)))
        assert abs(got - want) < 1e-10 * max(1.0, abs(want)), (mu, s, got, want)
    assert float(sig.gaussian_second_moment(0.7, 0.0)) == pytest.approx(float(sig(0.7)) ** 2)
    g = jax.grad(lambda m, s: sig.gaussian_second_moment(m, s), (0, 1))(0.7, 0.0)
    assert all(np.isfinite(float(x)) for x in g)


@pytest.mark.parametrize(("name", "units", "data", "scale"), [CASES[1], CASES[-1]],
                         ids=[CASES[1][0], CASES[-1][0]])
def test_risk_estimate_is_unbiased_and_its_standard_error_calibrated(name, units, data, scale):
    """The post-stratified estimate on 2000 independent samples of 256 points against the
    exact risk: its mean within 4 standard errors of R_N, and the mean of SE² equal to the
    variance of the estimates (relative SD of that ratio ≈ √(2/2000) = 0.03)."""
    from mflab.meanfield import risk_estimate

    with jax.enable_x64(True):
        key = jax.random.key(5)
        theta = scale * jax.random.normal(key, (12, data.d + units.n_extra), jnp.float64)
        theta = theta / np.sqrt(data.d) * 2
        if units.n_extra:  # a ~ N(0, 1), b ~ N(0, 0.25)
            theta = theta.at[:, 0].set(jax.random.normal(jax.random.fold_in(key, 1), (12,),
                                                         jnp.float64))
            theta = theta.at[:, 1].multiply(0.5)
        exact = float(exact_risk(units, data, theta))

        def one(k):
            x, y = data.sample(k, 256, dtype=jnp.float64)
            return risk_estimate(units, theta, x, y)

        v, se = jax.vmap(one)(jax.random.split(jax.random.key(3), 2000))
    v, se = np.asarray(v), np.asarray(se)
    assert abs(v.mean() - exact) < 4 * v.std() / np.sqrt(v.size)
    assert np.mean(se**2) / v.var() == pytest.approx(1.0, abs=0.12)


@pytest.mark.parametrize("name,units,data,scale", CASES, ids=[c[0] for c in CASES])
def test_risk_scale_bounds_the_magnitudes_of_the_risk_terms(name, units, data, scale):
    """Cauchy–Schwarz: R# + (2/N) Σ|V_i| + (1/N²) Σ|U_ij| ≤ risk_scale, with V and U by
    quadrature (risk_terms); equality up to the bound's slack only when every unit is the
    same (then |U_ij| = U_ii)."""
    from mflab.meanfield.risk import risk_scale

    with jax.enable_x64(True):
        key = jax.random.key(7)
        theta = scale * jax.random.normal(key, (10, data.d + units.n_extra), jnp.float64)
        theta = theta / np.sqrt(data.d) * 2
        V, U = risk_terms(units, data, theta)
        total = data.r_sharp + 2 * float(jnp.mean(jnp.abs(V))) + float(jnp.mean(jnp.abs(U)))
        assert total <= float(risk_scale(units, data, theta)) * (1 + 1e-12)
        same = jnp.repeat(theta[:1], 10, axis=0)
        V, U = risk_terms(units, data, same)
        assert float(jnp.mean(jnp.abs(U))) == pytest.approx(
            (np.sqrt(float(risk_scale(units, data, same))) - np.sqrt(data.r_sharp)) ** 2,
            rel=1e-9)
