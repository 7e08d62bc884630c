"""B5 SGLD and B6 Curie–Weiss interacting SGLD against the Ornstein–Uhlenbeck theory.

On Φ(x) = ½(x − x*)ᵀH(x − x*) with exact gradients, both schemes are linear Gaussian
recursions, so their laws are known in closed form:

* B5 (Euler–Maruyama for dX = −H(X − x*)dt + sqrt(2/β)dB): in the eigenbasis of H,
  e ← (1 − ηλ) e + sqrt(2η/β) ξ, stationary variance σ²/(1 − (1 − ηλ)²) with
  σ² = 2η/β, i.e. 1/(βλ(1 − ηλ/2)) = 1/(βλ) + O(η); the precision βλ(1 − ηλ/2) is
  exactly linear in η, so a linear extrapolation of two measured precisions to η = 0
  must give βλ (the continuum law N(x*, (βH)⁻¹)).
* B6: the mean m = x̄ obeys m ← m − ηH(m − x*) + σ ξ̄ (the interaction λ(x_i − x̄)
  sums to zero): the mean ODE ṁ = −H(m − x*) of plain gradient flow, with noise of
  variance σ²/A. The deviations δ_i = x_i − x̄ obey δ_i ← (I − η(H + λI)) δ_i +
  σ(ξ_i − ξ̄): an OU process with drift −(H + λI); per eigen-direction μ = λ_H + λ,
  E S_{k+1} = (1 − ημ)² E S_k + σ²(1 − 1/A) for the spread S = (1/A) Σ_i δ_i², so
  E S_k = c^{2k} S_0 + (1 − 1/A) σ² (1 − c^{2k})/(1 − c²), c = 1 − ημ, and the
  stationary spread is (1 − 1/A)/(βμ(1 − ημ/2)) (continuum: (1 − 1/A)/(β(λ_H + λ))).
"""

import inspect
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.landscapes import quadratic
from mflab.optimizers.langevin import interacting_sgld, sgld


def _rotated(eigs, seed):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(len(eigs), len(eigs))))
    H = Q @ np.diag(eigs) @ Q.T
    return 0.5 * (H + H.T), Q


@partial(jax.jit, static_argnums=(0, 1, 3, 4))
def _sgld_time_averages(opt, land, x0, burn, n, key, xs, Q):
    """Per-agent time averages of e = Qᵀ(x − x*) and e eᵀ over n steps after burn-in."""

    def body(carry, k):
        state, s1, s2 = carry
        state, _ = opt.step(jax.random.fold_in(key, k), state, land)
        e = (state.x - xs) @ Q
        keep = (k >= burn).astype(e.dtype)
        return (state, s1 + keep * e, s2 + keep * e[:, :, None] * e[:, None, :]), None

    A, d = x0.shape
    init = (opt.init(x0), jnp.zeros((A, d)), jnp.zeros((A, d, d)))
    (_, s1, s2), _ = jax.lax.scan(body, init, jnp.arange(burn + n))
    return s1 / n, s2 / n


def test_sgld_samples_the_gaussian_law_with_the_euler_maruyama_bias():
    eigs, beta = np.array([1.0, 3.0]), 2.0
    H, Q = _rotated(eigs, seed=0)
    xs = np.array([0.5, -1.0])
    land = quadratic(H, xs)
    A = 2000
    x0 = jnp.broadcast_to(jnp.asarray(xs), (A, 2))  # start in the law's centre
    prec, prec_se = {}, {}
    for eta in (0.02, 0.2):
        relax = int(1 / (eta * eigs.min()))  # slowest e-folding time in steps
        burn, n = 20 * relax, 100 * relax  # residual transient e^{-40}; ~100 τ averaged
        m, C = _sgld_time_averages(
            sgld(eta, beta), land, x0, burn, n, jax.random.key(1), jnp.asarray(xs), jnp.asarray(Q)
        )
        m, C = np.asarray(m), np.asarray(C)
        # agents are independent chains: standard errors from the spread of their averages
        mean, mean_se = m.mean(0), m.std(0, ddof=1) / np.sqrt(A)
        cov, cov_se = C.mean(0), C.std(0, ddof=1) / np.sqrt(A)
        # 5 standard errors: with ~10 such checks the false-alarm rate is < 1e-5
        assert np.all(np.abs(mean) < 5 * mean_se), (eta, mean, mean_se)
        exact = 1.0 / (beta * eigs * (1.0 - eta * eigs / 2.0))  # discrete-time variance
        np.testing.assert_array_less(np.abs(np.diag(cov) - exact), 5 * np.diag(cov_se))
        assert abs(cov[0, 1]) < 5 * cov_se[0, 1]  # eigen-directions are uncorrelated
        var = np.diag(cov)
        prec[eta], prec_se[eta] = 1.0 / var, np.diag(cov_se) / var**2
        if eta == 0.2:
            # the O(η) bias is visible: the continuum variance 1/(βλ) is far outside the error
            cont = 1.0 / (beta * eigs)
            assert np.all(np.abs(var - cont) > 20 * np.diag(cov_se)), (var, cont)
    # precision βλ(1 − ηλ/2) is linear in η: extrapolating to η = 0 recovers βH exactly
    e1, e2 = 0.02, 0.2
    p0 = (e2 * prec[e1] - e1 * prec[e2]) / (e2 - e1)
    p0_se = np.hypot(e2 * prec_se[e1], e1 * prec_se[e2]) / (e2 - e1)
    np.testing.assert_array_less(np.abs(p0 - beta * eigs), 5 * p0_se)


@partial(jax.jit, static_argnums=(0, 1, 3))
def _ensemble_path(opt, land, x0, n, key):
    """Ensemble mean (n+1, d) and spread S = mean_i (x_i − x̄)² per coordinate (n+1, d)."""

    def stats(x):
        m = x.mean(0)
        return m, ((x - m) ** 2).mean(0)

    def body(state, k):
        state, _ = opt.step(jax.random.fold_in(key, k), state, land)
        return state, stats(state.x)

    _, (ms, ss) = jax.lax.scan(body, opt.init(x0), jnp.arange(n))
    m0, s0 = stats(x0)
    return jnp.concatenate([m0[None], ms]), jnp.concatenate([s0[None], ss])


def test_interacting_sgld_follows_curie_weiss_ou_theory():
    h = np.array([1.0, 3.0])  # diagonal H: coordinates are eigen-directions
    xs = np.array([1.0, -0.5])
    land = quadratic(np.diag(h), xs)
    eta, beta, lam, A, n = 0.05, 4.0, 2.0, 1000, 2000
    rng = np.random.default_rng(2)
    x0 = jnp.asarray(xs + np.array([2.0, -2.0]) + 1.5 * rng.normal(size=(A, 2)))
    ms, ss = map(
        np.asarray, _ensemble_path(interacting_sgld(eta, beta, lam), land, x0, n, jax.random.key(3))
    )
    k = np.arange(n + 1)[:, None]
    sig2 = 2 * eta / beta
    # mean: E m_k = x* + (1 − ηh)^k (m_0 − x*), Var m_k = (σ²/A)(1 − a^{2k})/(1 − a²), a = 1 − ηh
    a = 1 - eta * h
    mean_pred = xs + a**k * (ms[0] - xs)
    mean_sd = np.sqrt(sig2 / A * (1 - a ** (2 * k)) / (1 - a**2))
    t = slice(1, 201)  # transient window (the mean travels 2 → 0 from x*)
    np.testing.assert_array_less(np.abs(ms[t] - mean_pred[t]), 5 * mean_sd[t] + 1e-12)
    # spread: E S_k = c^{2k} S_0 + (1 − 1/A) σ² (1 − c^{2k})/(1 − c²), c = 1 − η(h + λ);
    # sd(S_k) ≤ sqrt(2/A) E S_k for Gaussian agents (chi-square), so 5 of those.
    c = 1 - eta * (h + lam)
    s_pred = c ** (2 * k) * ss[0] + (1 - 1 / A) * sig2 * (1 - c ** (2 * k)) / (1 - c**2)
    np.testing.assert_array_less(np.abs(ss[t] - s_pred[t]), 5 * np.sqrt(2 / A) * s_pred[t])
    # stationary spread, time-averaged: the discrete closed form, with batch-means errors
    tail = ss[401:].reshape(16, -1, 2).mean(1)  # 16 blocks of 100 steps ≫ correlation time ~3
    s_bar, s_se = tail.mean(0), tail.std(0, ddof=1) / 4
    stat = (1 - 1 / A) / (beta * (h + lam) * (1 - eta * (h + lam) / 2))
    np.testing.assert_array_less(np.abs(s_bar - stat), 5 * s_se)
    # ...which the interaction shrinks below the spread of independent SGLD agents and
    # which differs visibly from the continuum value (the O(η) correction is resolved)
    assert np.all(stat < (1 - 1 / A) / (beta * h * (1 - eta * h / 2)))
    cont = (1 - 1 / A) / (beta * (h + lam))
    assert np.all(np.abs(s_bar - cont) > 10 * s_se)


def test_interacting_sgld_with_zero_lambda_is_sgld():
    land = quadratic(np.diag([1.0, 2.0]))
    x0 = jnp.asarray(np.random.default_rng(4).normal(size=(5, 2)))
    key = jax.random.key(5)
    s1, s2 = sgld(0.1, 2.0).init(x0), interacting_sgld(0.1, 2.0, 0.0).init(x0)
    for i in range(5):
        s1, _ = sgld(0.1, 2.0).step(jax.random.fold_in(key, i), s1, land)
        s2, _ = interacting_sgld(0.1, 2.0, 0.0).step(jax.random.fold_in(key, i), s2, land)
    np.testing.assert_array_equal(np.asarray(s1.x), np.asarray(s2.x))  # + 0·(x − x̄) exact


def test_langevin_steps_preserve_the_dtype_and_count_gradients():
    land = quadratic(np.eye(2))
    for dtype in (jnp.float32, jnp.float64):
        x0 = jnp.zeros((3, 2), dtype)
        opt = interacting_sgld(0.1, 1.0, 1.0)
        s, _ = opt.step(jax.random.key(0), opt.init(x0), land)
        assert s.x.dtype == dtype and int(s.grad_evals) == 1


@pytest.mark.parametrize(
    "factory, kwargs, bad",
    [
        (sgld, {"eta": -0.1}, "-0.1"),
        (sgld, {"beta": 0.0}, "0.0"),
        (sgld, {"beta": -3.0}, "-3.0"),
        (interacting_sgld, {"eta": -1e-3}, "-0.001"),
        (interacting_sgld, {"beta": -2.0}, "-2.0"),
        (interacting_sgld, {"lam": -0.5}, "-0.5"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_the_value(factory, kwargs, bad):
    with pytest.raises(ValueError, match=bad.replace(".", r"\.")):
        step = next(iter(inspect.signature(factory).parameters))  # the required step size
        factory(**{step: 1e-4, **kwargs})


def test_langevin_noise_is_standard_normal_and_each_key_its_own_stream():
    # the law: Kolmogorov–Smirnov against N(0, 1) on 10^6 draws, and the first four
    # moments within 5 standard errors of 0, 1, 0, 3 (SE of the k-th moment: sqrt(Var/n))
    from scipy import stats

    from mflab.optimizers.base import standard_normal

    n = 10**6
    z = np.asarray(standard_normal(jax.random.key(3), (n,)), np.float64)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    for k, mean, var in ((1, 0.0, 1.0), (2, 1.0, 2.0), (3, 0.0, 15.0), (4, 3.0, 96.0)):
        assert abs(np.mean(z**k) - mean) < 5 * np.sqrt(var / n), k
    # two keys: uncorrelated streams (|r| < 5/sqrt(n))
    w = np.asarray(standard_normal(jax.random.key(4), (n,)), np.float64)
    assert abs(np.corrcoef(z, w)[0, 1]) < 5 / np.sqrt(n)
    # vmap (also nested) over keys draws what each key draws alone
    keys = jax.random.split(jax.random.key(0), 6)
    alone = np.stack([standard_normal(k, (4, 3)) for k in keys])
    np.testing.assert_array_equal(jax.vmap(lambda k: standard_normal(k, (4, 3)))(keys), alone)
    nested = jax.vmap(jax.vmap(lambda k: standard_normal(k, (4, 3))))(keys.reshape(2, 3))
    np.testing.assert_array_equal(np.asarray(nested).reshape(alone.shape), alone)
