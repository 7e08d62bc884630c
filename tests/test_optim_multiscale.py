"""B9 fast–slow and B10 MF-Hom-SGLD: homogenised drift −∇Φ^{β,γ} and Curie–Weiss contraction."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

import mflab
from mflab.landscapes import double_well, mueller_brown, quadratic
from mflab.optimizers.multiscale import FastSlowState, fast_slow, mf_hom_sgld

DW = lambda y: (y**2 - 1.0) ** 2  # noqa: E731  double_well() with a = 1
BETA, GAMMA = 2.0, 0.5  # 1-D tests: ρ_x mixes quickly (barrier β·1 = 2)


def _scipy_grad(x, beta=BETA, gamma=GAMMA):
    """∇Φ^{β,γ}(x) = (x − ⟨y⟩_x)/γ by scipy.integrate.quad (independent of mflab)."""
    w = lambda y: np.exp(-beta * DW(y) - beta * (x - y) ** 2 / (2 * gamma))  # noqa: E731
    Z = quad(w, x - 12, x + 12, epsabs=0, epsrel=1e-13, limit=400)[0]
    m = quad(lambda y: y * w(y), x - 12, x + 12, epsabs=0, epsrel=1e-13, limit=400)[0] / Z
    return (x - m) / gamma


def _one_step(opt, L, x0, seed=0):
    return jax.jit(lambda k, s: opt.step(k, s, L))(jax.random.key(seed), opt.init(x0))


@pytest.mark.parametrize("x", [-0.3, 0.8])
def test_b10_macro_step_follows_hj_gradient_double_well(x):
    # one macro step from A independent agents at x (λ = 0): −(X⁺ − X)/Δ = (X − Ȳ)/γ, whose
    # mean over agents estimates ∇Φ^{β,γ}(x). Inner step δ/ε = 2e-3 (small ε: δ = 2e-7, ε = 1e-4).
    Delta, A = 1e-3, 1000
    opt = mf_hom_sgld(
        Delta=Delta, delta=2e-7, eps=1e-4, beta=BETA, gamma=GAMMA, lam=0.0, M=3000, burn_in=500
    )
    x0 = jnp.full((A, 1), x)
    new, info = _one_step(opt, double_well(), x0, seed=1)
    d = np.asarray((x0 - new.x) / Delta)[:, 0]
    # rounding: x⁺ carries ~1e-16 absolute error, divided by Δ = 1e-3 -> atol 1e-12
    np.testing.assert_allclose(d, np.asarray((x0 - info.y_bar) / GAMMA)[:, 0], atol=1e-12)
    se = d.std(ddof=1) / np.sqrt(A)
    # 4σ + Euler bias allowance (measured ≤ 0.0025 at this inner step with 30× the samples)
    assert abs(d.mean() - _scipy_grad(x)) < 4 * se + 0.01, (d.mean(), _scipy_grad(x), se)
    assert int(new.grad_evals) == 3000


def _grid_grad(L, p, beta, gamma, h=0.002):
    """∇Φ^{β,γ}(p) in 2-D by a dense tensor grid (±8 kernel s.d., spacing 0.002)."""
    s = np.sqrt(gamma / beta)
    g1 = np.arange(-8 * s, 8 * s, h)
    X, Y = np.meshgrid(p[0] + g1, p[1] + g1, indexing="ij")
    V = np.asarray(L.value(jnp.asarray(np.stack([X, Y], -1))))
    lw = -beta * V - beta * ((X - p[0]) ** 2 + (Y - p[1]) ** 2) / (2 * gamma)
    w = np.exp(lw - lw.max())
    m = np.array([(w * X).sum(), (w * Y).sum()]) / w.sum()
    return (p - m) / gamma


@pytest.mark.parametrize("p", [(-0.45, 1.3), (0.5, 0.2)])
def test_b10_macro_step_follows_hj_gradient_mueller_brown(p):
    # β = 0.05, γ = 0.003 (kernel s.d. 0.24): ρ_p sits in one well, so the inner chain mixes.
    # Inner step δ/ε = 2e-5 (λ_max(∇²V) ≈ 4.1e3, τλ ≈ 0.08); 400 agents × 10⁴ inner steps.
    L = mueller_brown()
    beta, gamma, Delta, A = 0.05, 0.003, 1e-6, 400
    opt = mf_hom_sgld(
        Delta=Delta, delta=2e-8, eps=1e-3, beta=beta, gamma=gamma, M=10_000, burn_in=2000
    )
    x0 = jnp.tile(jnp.asarray(p)[None], (A, 1))
    new, _ = _one_step(opt, L, x0, seed=2)
    d = np.asarray((x0 - new.x) / Delta)
    ref = _grid_grad(L, np.asarray(p), beta, gamma)
    se = d.std(0, ddof=1) / np.sqrt(A)
    # |∇Φ^{β,γ}| ≈ 32–53 here; 4σ (σ ≈ 0.3–0.5) + an allowance 0.5 for the O(τ) Euler bias
    # (measured: the estimate moves by ≤ 0.4 between τ = 5e-5 and 2e-5)
    assert np.all(np.abs(d.mean(0) - ref) < 4 * se + 0.5), (d.mean(0), ref, se)


def _sample_rho(key, x, n, beta=BETA, gamma=GAMMA):
    """n exact draws from ρ_x(y) ∝ exp(−βΦ(y) − β(x−y)²/(2γ)) by inverse CDF on a fine grid."""
    y = np.linspace(x - 8, x + 8, 200_001)
    w = np.exp(-beta * DW(y) - beta * (x - y) ** 2 / (2 * gamma))
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    u = np.asarray(jax.random.uniform(key, (n,), jnp.float64))
    return np.interp(u, cdf, y)


@pytest.mark.parametrize("x", [-0.3, 0.8])
def test_b9_averaged_drift_is_minus_hj_gradient(x):
    # ε = 1e-4, Δt = 1e-7 (Δt/ε = 1e-3): over T = 2e-3 (20 units of fast time) X moves by
    # ~1e-3, so (X_0 − X_T)/T = (1/T)∫(X − Y)/γ dt estimates ∇Φ^{β,γ}(x). Y starts at
    # equilibrium (exact draws from ρ_x) so there is no transient.
    A, n = 2000, 20_000
    dt, eps = 1e-7, 1e-4
    x0 = jnp.full((A, 1), x)
    y0 = jnp.asarray(_sample_rho(jax.random.key(3), x, A))[:, None]
    opt = fast_slow(dt=dt, eps=eps, beta=BETA, gamma=GAMMA)
    state = FastSlowState(x0, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), y0)
    tr = mflab.run(
        opt, double_well(), x0, n, jax.random.key(4), state=state, progress=False, chunk_steps=n
    )
    d = np.asarray((x0 - tr.state.x) / (n * dt))[:, 0]
    se = d.std(ddof=1) / np.sqrt(A)
    # 4σ + 0.01: Euler bias (as in the B10 test) plus the drift change while X moves ~1e-3
    # (|∇²Φ^{β,γ}| ≤ 1/γ = 2, so ≤ 2e-3)
    assert abs(d.mean() - _scipy_grad(x)) < 4 * se + 0.01, (d.mean(), _scipy_grad(x), se)
    assert int(tr.state.grad_evals) == n


@pytest.mark.parametrize("lam", [0.0, 0.7])
def test_b10_curie_weiss_contraction_rate(lam):
    # Φ = ½ Σ k_j x_j², exact Ȳ (β = 1e16, the inner chain converged: M − m' iterates after
    # m' = 200 steps of contraction ≤ 0.75 per step) gives Ȳ = X/(1 + γk), hence per step
    #   x̄⁺ = (1 − Δ k/(1+γk)) x̄,   (x_i − x̄)⁺ = (1 − Δ(k/(1+γk) + λ)) (x_i − x̄).
    k = np.array([1.0, 4.0])
    gamma, Delta = 0.5, 0.05
    tau = 0.5 / (k.max() + 1 / gamma)  # Euler step, stable and contracting for both k
    opt = mf_hom_sgld(
        Delta=Delta, delta=tau * 1e-3, eps=1e-3, beta=1e16, gamma=gamma, lam=lam, M=260, burn_in=200
    )
    x0 = jax.random.normal(jax.random.key(5), (6, 2), jnp.float64)
    tr = mflab.run(
        opt, quadratic(np.diag(k)), x0, 8, jax.random.key(6), record_positions=True, progress=False
    )
    pos = tr.positions
    mean, dev = pos.mean(1), pos - pos.mean(1, keepdims=True)
    keff = k / (1 + gamma * k)
    np.testing.assert_allclose(
        mean[1:] / mean[:-1], np.broadcast_to(1 - Delta * keff, (8, 2)), rtol=1e-7
    )  # noise √(2τ/β) ~ 1e-9 per inner step
    np.testing.assert_allclose(
        dev[1:] / dev[:-1], np.broadcast_to(1 - Delta * (keff + lam), (8, 6, 2)), rtol=1e-7
    )


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"beta": 0.0}, "beta"),
        ({"beta": -0.1}, "beta"),
        ({"burn_in": 100, "M": 100}, "burn_in"),
        ({"burn_in": 150, "M": 100}, "burn_in"),
        ({"M": -3}, "M"),
        ({"burn_in": -1}, "burn_in"),
        ({"lam": -1.0}, "lam"),
        ({"Delta": 0.0}, "Delta"),
        ({"eps": -1e-3}, "eps"),
        ({"gamma": 0.0}, "gamma"),
    ],
)
def test_b10_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        mf_hom_sgld(**{"Delta": 1e-3, **kwargs})


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"dt": 0.0}, "dt"),
        ({"eps": 0.0}, "eps"),
        ({"beta": -1.0}, "beta"),
        ({"gamma": -1}, "gamma"),
    ],
)
def test_b9_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        fast_slow(**{"dt": 1e-6, **kwargs})
