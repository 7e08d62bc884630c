"""B11 Gibbs-initialised descent: Langevin phase samples ∝ e^{−βΦ}; descent phase is B1/B2/B3."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad

import mflab
from mflab.landscapes import double_well, quadratic
from mflab.optimizers.gibbs_init import gibbs_init_descent

TILT, BETA = 0.3, 1.0  # tilted well: unequal basins, barrier ≈ 1 = 1/β, so hopping is fast
PHI = lambda y: (y**2 - 1.0) ** 2 + TILT * y  # noqa: E731  double_well(a=1, tilt=0.3)


def _gibbs_moments():
    """E x, E x² under ∝ e^{−βΦ} (scipy quad) and the CDF on a fine grid, independent of mflab."""
    w = lambda y: np.exp(-BETA * PHI(y))  # noqa: E731
    Z = quad(w, -6, 6, epsabs=0, epsrel=1e-12)[0]
    m1 = quad(lambda y: y * w(y), -6, 6, epsabs=0, epsrel=1e-12)[0] / Z
    m2 = quad(lambda y: y * y * w(y), -6, 6, epsabs=0, epsrel=1e-12)[0] / Z
    grid = np.linspace(-4, 4, 40_001)
    cdf = np.cumsum(w(grid))
    cdf /= cdf[-1]
    return m1, m2, lambda x: np.interp(x, grid, cdf)


def _check_gibbs(samples, final):
    """samples: (S, R) — S snapshots of R independent units; final: a snapshot for KS."""
    m1, m2, cdf = _gibbs_moments()
    for f, ref in [(lambda x: x, m1), (lambda x: x * x, m2)]:
        per_unit = f(samples).mean(0)  # time average per independent unit
        se = per_unit.std(ddof=1) / np.sqrt(per_unit.size)
        # 4σ + 0.01 for the O(η) Euler bias (halving η moved both moments by < 0.001, with
        # 10× the agents)
        assert abs(per_unit.mean() - ref) < 4 * se + 0.01, (per_unit.mean(), ref, se)
    # KS of one snapshot (n = 2000 draws): p-value above 1e-3 unless the law is wrong
    assert stats.kstest(final, cdf).pvalue > 1e-3


def test_plain_langevin_phase_samples_gibbs_law():
    L = double_well(tilt=TILT)
    A, eta, n = 2000, 2e-3, 10_000
    x0 = jax.random.uniform(jax.random.key(0), (A, 1), jnp.float64, -2.0, 2.0)
    opt = gibbs_init_descent(beta=BETA, langevin_eta=eta, langevin_steps=10**9, eta=eta)
    tr = mflab.run(
        opt, L, x0, n, jax.random.key(1), record_every=250, record_positions=True, progress=False
    )
    # burn-in: time 10 of 20 (relaxation time between the wells ≈ 1.5, so the start's
    # imprint, ≈ 0.25 in the mean, has decayed to < 1e-3)
    samples = tr.positions[20:, :, 0]
    _check_gibbs(samples, samples[-1])


def _aldi_replicas(R, J, n, eta, seed, beta=BETA):
    """R independent ALDI ensembles of J agents (own jitted scan, vmapped over replicas)."""
    L = double_well(tilt=TILT)
    opt = gibbs_init_descent(
        beta=beta, langevin_eta=eta, langevin_steps=10**9, affine_invariant=True, eta=eta
    )
    x0 = jax.random.uniform(jax.random.key(seed), (R, J, 1), jnp.float64, -2.0, 2.0)
    state = jax.vmap(opt.init)(x0)
    step = jax.vmap(lambda k, s: opt.step(k, s, L)[0])

    @jax.jit
    def go(state, key):
        def body(s, k):
            s = step(jax.random.split(k, R), s)
            return s, s.x[:, :, 0]

        return jax.lax.scan(body, state, jax.random.split(key, n))

    _, xs = go(state, jax.random.key(seed + 1))
    return np.asarray(xs)  # (n, R, J)


def test_affine_invariant_langevin_samples_gibbs_law_small_ensembles():
    # J = 8 agents per ensemble (d = 1): the finite-J correction (d+1)/(βJ)(x_i − x̄) is
    # 25 % of the covariance scale; without it this test fails (checked by removing it:
    # E x shifts by ≈ −0.08 (5 s.e.) and E x² by ≈ −0.04 (8 s.e.); with it, measured
    # differences −0.000 and +0.009 (2.4 s.e., within the Euler allowance)).
    R, J, n, eta = 250, 8, 10_000, 2e-3
    xs = _aldi_replicas(R, J, n, eta, seed=2)[5000::250]  # (S, R, J) after burn-in (time 10)
    m1, m2, cdf = _gibbs_moments()
    for p, ref in [(1, m1), (2, m2)]:
        # replicas are independent units: average each over its agents and snapshots
        unit = (xs**p).mean(axis=(0, 2))
        se = unit.std(ddof=1) / np.sqrt(R)
        # 4σ + 0.01 Euler allowance as for plain Langevin
        assert abs(unit.mean() - ref) < 4 * se + 0.01, (p, unit.mean(), ref, se)
    # KS on one snapshot of all R·J = 2000 agents (agents in one ensemble are only weakly
    # dependent through C; p > 1e-3)
    assert stats.kstest(xs[-1].ravel(), cdf).pvalue > 1e-3


# --------------------------------------------------------------------- phase switch


def test_descent_phase_is_gd_from_the_final_ensemble():
    # Φ = ½ λ x² with λ = (1, 10): after K₁ Langevin steps, x_{K₁+n} = (1 − ηλ)^n x_{K₁} exactly.
    lam = np.array([1.0, 10.0])
    L = quadratic(np.diag(lam))
    K1, n, eta = 30, 20, 0.05
    x0 = jax.random.normal(jax.random.key(3), (4, 2), jnp.float64)
    opt = gibbs_init_descent(beta=5.0, langevin_eta=0.01, langevin_steps=K1, eta=eta)
    tr = mflab.run(opt, L, x0, K1 + n, jax.random.key(4), record_positions=True, progress=False)
    xK1 = tr.positions[K1]
    expect = (1 - eta * lam)[None, None] ** np.arange(n + 1)[:, None, None] * xK1[None]
    np.testing.assert_allclose(tr.positions[K1:], expect, rtol=1e-12, atol=1e-14)
    # the Langevin phase is noisy (not GD): its steps differ from the GD recursion
    assert np.abs(tr.positions[1] - (1 - 0.01 * lam) * np.asarray(x0)).max() > 1e-3
    np.testing.assert_array_equal(tr.grad_evals, np.arange(K1 + n + 1))


def test_descent_phase_nesterov_recurrence():
    # B2 on ½ h x² from u₀ = w₀: w₁ = (1−ηh) w₀, w_{k+1} = (1−ηh)[(1+μ) w_k − μ w_{k−1}].
    h, eta, mu, n = 2.0, 0.1, 0.9, 25
    L = quadratic(np.array([[h]]))
    x0 = jnp.array([[1.0], [-2.0]])
    opt = gibbs_init_descent(langevin_steps=0, descent="nesterov", eta=eta, momentum=mu)
    tr = mflab.run(opt, L, x0, n, jax.random.key(5), record_positions=True, progress=False)
    w = [np.asarray(x0), (1 - eta * h) * np.asarray(x0)]
    for _ in range(n - 1):
        w.append((1 - eta * h) * ((1 + mu) * w[-1] - mu * w[-2]))
    np.testing.assert_allclose(tr.positions, np.stack(w), rtol=1e-11, atol=1e-13)


def test_descent_phase_restart_converges_faster_than_gd():
    # gradient-restart Nesterov on an ill-conditioned quadratic: first step = GD step,
    # and after 200 steps far below GD's (1 − ηλ_min)^200 = 0.99^200 ≈ 0.13 contraction.
    L = quadratic(np.diag([0.1, 10.0]))
    x0 = jnp.array([[1.0, 1.0]])
    gd = gibbs_init_descent(langevin_steps=0, eta=0.1)
    rs = gibbs_init_descent(langevin_steps=0, descent="restart", eta=0.1)
    t_gd = mflab.run(gd, L, x0, 200, jax.random.key(6), record_positions=True, progress=False)
    t_rs = mflab.run(rs, L, x0, 200, jax.random.key(6), record_positions=True, progress=False)
    np.testing.assert_allclose(t_rs.positions[1], t_gd.positions[1], rtol=1e-14)
    assert t_rs.values[-1, 0] < 1e-3 * t_gd.values[-1, 0]


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"beta": 0.0}, "beta"),
        ({"beta": -1.0}, "beta"),
        ({"langevin_steps": -1}, "langevin_steps"),
        ({"langevin_eta": 0.0}, "langevin_eta"),
        ({"descent": "adam"}, "descent"),
        ({"momentum": 1.0}, "momentum"),
        ({"eta": -1e-4}, "eta"),
    ],
)
def test_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        gibbs_init_descent(**{"langevin_eta": 1e-4, "eta": 1e-4, **kwargs})


def test_affine_invariant_needs_enough_agents():
    opt = gibbs_init_descent(langevin_eta=1e-4, eta=1e-4, affine_invariant=True)
    with pytest.raises(ValueError, match="J=3"):
        opt.init(jnp.zeros((3, 2)))
