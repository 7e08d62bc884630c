"""B7 Gaussian and B8 Hamilton–Jacobi smoothing against closed forms and scipy quadrature."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from mflab.landscapes import double_well, quadratic, quartic
from mflab.optimizers.hamilton_jacobi import hj_smoothing, hj_value_and_grad
from mflab.optimizers.smoothing import gauss_hermite_rule, gaussian_smoothing

H2 = np.array([[3.0, 1.0], [1.0, 2.0]])
XSTAR = np.array([0.5, -0.25])


def _one_step_grad(opt, L, x0, seed=0):
    """The gradient estimate used by one step, read off the displacement: (x0 − x1)/η."""
    state = opt.init(x0)
    new, _ = jax.jit(lambda k, s: opt.step(k, s, L))(jax.random.key(seed), state)
    return new


# ------------------------------------------------------------------------------- B7


def test_gauss_hermite_rule_moments():
    # n nodes integrate z^p exactly for p ≤ 2n − 1: E z² = 1, E z⁴ = 3, E z⁶ = 15 (n = 4)
    z, w = gauss_hermite_rule(4, 2)
    assert z.shape == (16, 2) and abs(w.sum() - 1) < 1e-14
    for p, m in [(2, 1.0), (4, 3.0), (6, 15.0)]:
        assert abs(w @ z[:, 0] ** p - m) < 1e-12
    assert abs(w @ (z[:, 0] ** 2 * z[:, 1] ** 2) - 1.0) < 1e-12


def test_b7_quadratic_exact_mode_is_the_exact_gradient():
    # E ∇Φ(x + √h z) = H(x − x*) for a quadratic: quadrature is exact up to rounding.
    L = quadratic(H2, XSTAR)
    eta = 0.01
    x0 = jax.random.normal(jax.random.key(1), (8, 2), jnp.float64)
    opt = gaussian_smoothing(eta=eta, h=0.7, quadrature_nodes=3, dim=2)
    assert opt.grads_per_step == 9
    new = _one_step_grad(opt, L, x0)
    g = (x0 - new.x) / eta
    np.testing.assert_allclose(g, (x0 - XSTAR) @ H2.T, rtol=0, atol=1e-10)
    assert int(new.grad_evals) == 9


def test_b7_quadratic_sampled_mode_within_standard_error():
    # ĝ − H(x − x*) = √h H z̄, z̄ ~ N(0, I/K): whitened w = √(K/h) H⁻¹(ĝ − ∇Φ) ~ N(0, I).
    L = quadratic(H2, XSTAR)
    eta, h, K, A = 0.01, 0.5, 4, 4000
    x0 = jax.random.normal(jax.random.key(2), (A, 2), jnp.float64)
    new = _one_step_grad(gaussian_smoothing(eta=eta, h=h, K=K), L, x0, seed=3)
    err = np.asarray((x0 - new.x) / eta - (x0 - XSTAR) @ H2.T)
    w = np.sqrt(K / h) * err @ np.linalg.inv(H2).T
    # mean of A iid N(0,1): |mean| < 4/√A (4σ); variance: sd of the sample variance √(2/A)
    assert np.all(np.abs(w.mean(0)) < 4 / np.sqrt(A))
    assert np.all(np.abs(w.var(0) - 1) < 4 * np.sqrt(2 / A))
    assert abs(np.mean(w[:, 0] * w[:, 1])) < 4 / np.sqrt(A)  # independent components


def test_b7_quartic_matches_closed_form():
    # Φ = x⁴:  E 4(x + √h z)³ = 4x³ + 12 h x.
    L = quartic(1)
    eta, h = 1e-3, 0.3
    x0 = jnp.linspace(-2.0, 2.0, 9)[:, None]
    exact = 4 * x0**3 + 12 * h * x0
    new = _one_step_grad(gaussian_smoothing(eta=eta, h=h, quadrature_nodes=2, dim=1), L, x0)
    np.testing.assert_allclose((x0 - new.x) / eta, exact, rtol=1e-10, atol=1e-10)
    # sampled, K = 8, 3000 agents at x = 0.7: z-test with the sample s.d. of the estimates
    A, K = 3000, 8
    x0 = jnp.full((A, 1), 0.7)
    new = _one_step_grad(gaussian_smoothing(eta=eta, h=h, K=K), L, x0, seed=4)
    g = np.asarray((x0 - new.x) / eta)[:, 0]
    se = g.std(ddof=1) / np.sqrt(A)
    assert abs(g.mean() - (4 * 0.7**3 + 12 * h * 0.7)) < 4 * se  # 4σ
    # and the estimates are not exact (the test could fail): their spread is the theory's
    # Var 4(x+√h z)³ / K, from E z^{2p}: computed by the exact 10-node rule
    z, wq = gauss_hermite_rule(10, 1)
    vals = 4 * (0.7 + np.sqrt(h) * z[:, 0]) ** 3
    var_theory = (wq @ vals**2 - (wq @ vals) ** 2) / K
    assert abs(g.var(ddof=1) / var_theory - 1) < 0.2  # sd of a χ² ratio ≈ √(2/A)·kurtosis-factor


def test_b7_pytree_parameters():
    # Monte Carlo mode on a pytree: E∇Φ(x + √h z) = ∇Φ(x) for Φ = ½|a|² + ½|b|², so K large
    # gives ĝ ≈ x within √(h/K) per component.
    from mflab.landscapes import Landscape

    L = Landscape("q", value=lambda p: 0.5 * jnp.sum(p["a"] ** 2) + 0.5 * jnp.sum(p["b"] ** 2))
    x0 = {"a": jnp.ones((3, 2)), "b": jnp.zeros((3,))}
    new = _one_step_grad(gaussian_smoothing(eta=1.0, h=1e-4, K=64), L, x0)
    assert jnp.max(jnp.abs(new.x["a"])) < 5 * np.sqrt(1e-4 / 64)
    assert jnp.max(jnp.abs(new.x["b"])) < 5 * np.sqrt(1e-4 / 64)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"h": 0.0}, "h"),
        ({"h": -1.0}, "h"),
        ({"eta": -1e-3}, "eta"),
        ({"K": 0}, "K"),
        ({"K": 2.5}, "K"),
        ({"quadrature_nodes": 0}, "nodes"),
        ({"quadrature_nodes": 2000}, "large"),
    ],
)
def test_b7_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        gaussian_smoothing(**{"eta": 1e-4, **kwargs})


def test_b7_quadrature_needs_flat_parameters_of_dim():
    opt = gaussian_smoothing(1e-4, quadrature_nodes=4, dim=2)
    with pytest.raises(ValueError, match=r"\(A, 2\)"):
        opt.init(jnp.zeros((5, 3)))


# ------------------------------------------------------------------------------- B8


def _scipy_hj(phi, x, beta, gamma):
    """Φ^{β,γ}(x) and (x − ⟨y⟩_x)/γ by scipy.integrate.quad (1-D), independent of mflab."""
    w = lambda y: np.exp(-beta * phi(y) - beta * (x - y) ** 2 / (2 * gamma))  # noqa: E731
    kw = dict(epsabs=0, epsrel=1e-13, limit=400)
    Z = quad(w, x - 12, x + 12, **kw)[0]
    m = quad(lambda y: y * w(y), x - 12, x + 12, **kw)[0] / Z
    value = -np.log(Z / np.sqrt(2 * np.pi * gamma / beta)) / beta
    return value, (x - m) / gamma


DW = lambda y: (y**2 - 1.0) ** 2  # noqa: E731  the default double_well(a=1)
XS = [-1.5, -0.3, 0.2, 0.8]


def test_hj_quadrature_matches_scipy_on_double_well():
    beta, gamma = 2.0, 0.5
    v, g = hj_value_and_grad(double_well(), jnp.array(XS)[:, None], beta, gamma, nodes=64)
    for i, x in enumerate(XS):
        v_ref, g_ref = _scipy_hj(DW, x, beta, gamma)
        # 64-node Gauss–Hermite on e^{−β(y²−1)²}: measured error ~3e-6 at these points
        assert abs(float(v[i]) - v_ref) < 2e-5
        assert abs(float(g[i, 0]) - g_ref) < 2e-5


@pytest.mark.parametrize("k, gamma, beta", [(2.0, 0.5, 3.0), (40.0, 0.1, 0.5)])
def test_hj_quadratic_closed_form(k, gamma, beta):
    # Φ = ½ k x²:  Φ^{β,γ} = ½ k/(1+γk) x² + (1/(2β)) log(1+γk),  ∇ = k x/(1+γk).
    L = quadratic(np.array([[k]]))
    x = jnp.linspace(-2, 2, 7)[:, None]
    v, g = hj_value_and_grad(L, x, beta, gamma, nodes=64)
    # the integrand is Gaussian in z, e^{−(1+γk) z²/2}·poly: 64 nodes give ~1e-11 relative
    # error even for the sharp γk = 4 (measured 3e-11)
    np.testing.assert_allclose(g, k * x / (1 + gamma * k), rtol=1e-10, atol=1e-12)
    expect = 0.5 * k / (1 + gamma * k) * x[:, 0] ** 2 + np.log1p(gamma * k) / (2 * beta)
    np.testing.assert_allclose(v, expect, rtol=1e-10, atol=1e-12)
    # the optimiser in quadrature mode takes exactly that gradient step
    eta = 0.01
    opt = hj_smoothing(eta=eta, beta=beta, gamma=gamma, mode="quadrature", nodes=64, dim=1)
    new = _one_step_grad(opt, L, x)
    np.testing.assert_allclose(new.x, x - eta * k * x / (1 + gamma * k), rtol=1e-10, atol=1e-12)


def _langevin_grad(L, x, beta, gamma, A, seed, **kw):
    """B8's Langevin estimate of ∇Φ^{β,γ}(x) for A independent agents at x (info.smoothed_grad)."""
    opt = hj_smoothing(1e-3, beta=beta, gamma=gamma, **kw)  # η: the info does not use it
    x0 = jnp.full((A, 1), x)
    _, info = jax.jit(lambda k, s: opt.step(k, s, L))(jax.random.key(seed), opt.init(x0))
    return np.asarray(info.smoothed_grad)[:, 0]


@pytest.mark.parametrize("x", [-0.3, 0.8])
def test_hj_langevin_matches_scipy_on_double_well(x):
    beta, gamma = 2.0, 0.5
    g = _langevin_grad(
        double_well(), x, beta, gamma, A=1000, seed=5, inner_steps=3000, inner_eta=2e-3, burn_in=500
    )
    _, g_ref = _scipy_hj(DW, x, beta, gamma)
    se = g.std(ddof=1) / np.sqrt(len(g))  # agents are independent chains
    # 4σ + an allowance for the Euler (ULA) bias of the mean of ρ_x, O(τ): with 30× the
    # samples (3000 agents × 28000 steps, s.e. ≤ 0.004) |mean − ref| ≤ 0.0025 at τ = 2e-3
    assert abs(g.mean() - g_ref) < 4 * se + 0.01, (g.mean(), g_ref, se)


def test_hj_langevin_quadratic_closed_form():
    # For Gaussian ρ_x the Euler chain's stationary mean is exact (linear drift), so the only
    # error is Monte Carlo: mean of the estimates = k x/(1+γk) within 4 s.e.
    k, beta, gamma, x = 3.0, 1.0, 0.5, 1.2
    g = _langevin_grad(
        quadratic(np.array([[k]])),
        x,
        beta,
        gamma,
        A=1000,
        seed=6,
        inner_steps=1000,
        inner_eta=1e-2,
        burn_in=200,
    )
    se = g.std(ddof=1) / np.sqrt(len(g))
    assert abs(g.mean() - k * x / (1 + gamma * k)) < 4 * se
    assert se < 0.05  # the test has power: 4 se is well below the unsmoothed gap k x − kx/(1+γk)


def test_hj_restart_first_step_is_plain_and_then_accelerates():
    # α starts at 1: the first restart step has no momentum, so it equals the plain step.
    L = quadratic(np.array([[0.01]]))
    x0 = jnp.full((2, 1), 3.0)
    kw = dict(eta=1.0, beta=1.0, gamma=0.1, mode="quadrature", nodes=16, dim=1)
    plain, restart = hj_smoothing(**kw), hj_smoothing(restart=True, **kw)
    s_plain, s_restart = plain.init(x0), restart.init(x0)
    key = jax.random.key(0)
    step_plain = jax.jit(lambda s: plain.step(key, s, L)[0])
    step_restart = jax.jit(lambda s: restart.step(key, s, L)[0])
    s_plain, s_restart = step_plain(s_plain), step_restart(s_restart)
    np.testing.assert_allclose(s_plain.x, s_restart.x, rtol=1e-14)
    # on a convex quadratic with a small step (η k_eff ≈ 0.01) momentum is faster: after 100
    # steps GD has contracted by 0.99^100 ≈ 0.37, restarted Nesterov by far more
    for _ in range(99):
        s_plain, s_restart = step_plain(s_plain), step_restart(s_restart)
    assert abs(float(s_restart.x[0, 0])) < 0.5 * abs(float(s_plain.x[0, 0]))


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"beta": 0.0}, "beta"),
        ({"beta": -1.0}, "beta"),
        ({"gamma": 0.0}, "gamma"),
        ({"burn_in": 100, "inner_steps": 100}, "burn_in"),
        ({"inner_steps": -5}, "inner_steps"),
        ({"burn_in": -1}, "burn_in"),
        ({"mode": "exact"}, "mode"),
        ({"inner_eta": 0}, "inner_eta"),
    ],
)
def test_hj_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        hj_smoothing(**{"eta": 1e-3, **kwargs})
