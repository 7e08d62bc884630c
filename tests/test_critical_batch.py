"""The critical batch m* = L₁/λ_max(H) (Ma, Bassily & Belkin 2018; Liu & Belkin 2020)
against closed forms: a linear model with Gaussian features (m* = Σλ / max λ), and the
sample curvature from the full Jacobian (a dense eigen-solve) for a linear model and a
two-layer network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.meanfield import sigma_a2, unit_a
from mflab.optimizers import critical_batch


def _linear(p, x):
    return x @ p


def test_linear_gaussian_features_give_the_stable_rank():
    """φ(x) = x ~ N(0, diag(λ)), λ = (4, 1, …, 1) (60 ones): m* = tr H / λ_max = 64/4 = 16.
    From n = 20 000 samples λ_max(H_n) has sd ≈ 4·√(2/n) ≈ 1 % and a bias ≈ tr H / n."""
    lam = np.r_[4.0, np.ones(60)]
    x = jnp.sqrt(jnp.asarray(lam)) * jax.random.normal(jax.random.key(0), (20_000, 61))
    cb = critical_batch(_linear, jnp.zeros(61), x)
    assert cb.m_star == pytest.approx(16.0, rel=0.05)
    assert cb.m_star_held_out == pytest.approx(16.0, rel=0.05)
    assert cb.trace == pytest.approx(64.0, rel=0.02)
    assert cb.lam_max == pytest.approx(4.0, rel=0.05)
    assert cb.m_star_sup > cb.m_star  # the largest ‖x_i‖² exceeds their mean


def test_the_two_estimates_bracket_m_star_where_the_sample_bias_matters():
    """λ = (4, 1 × 400), n = 2000 (p/n = 0.2): m* = 404/4 = 101. By the spiked-covariance
    (BBP) limits λ_max(H_n) ≈ 4(1 + 0.2/3) = 4.27 (m* ≈ 95, low) and the held-out Rayleigh
    quotient of the half-sample top vector ≈ 4·0.84 + 0.16 = 3.53 (m* ≈ 114, high)."""
    lam = np.r_[4.0, np.ones(400)]
    x = jnp.sqrt(jnp.asarray(lam)) * jax.random.normal(jax.random.key(2), (2000, 401))
    cb = critical_batch(_linear, jnp.zeros(401), x)
    assert cb.m_star == pytest.approx(95, rel=0.04)
    assert cb.m_star_held_out == pytest.approx(114, rel=0.08)
    assert cb.m_star < 101 < cb.m_star_held_out


@pytest.mark.parametrize("model", ["linear", "network"])
def test_lanczos_and_per_sample_norms_equal_the_dense_jacobian(model):
    """λ_max of H_n = JᵀJ/n and the mean and max of the rows' ‖J_i‖², J the full n × |θ|
    Jacobian (jax.jacrev, then numpy's dense eigen-solve): the matrix-free path to 1e-8."""
    k1, k2 = jax.random.split(jax.random.key(1))
    if model == "linear":
        predict, params = _linear, jax.random.normal(k1, (7,))
        x = jax.random.normal(k2, (50, 7)) * jnp.arange(1.0, 8.0)
    else:
        units = unit_a(sigma_a2())
        predict = lambda th, xb: jnp.mean(units(th, xb), axis=0)  # noqa: E731
        params = 0.4 * jax.random.normal(k1, (6, 5))
        x = jax.random.normal(k2, (40, 5))
    cb = critical_batch(predict, params, x, chunk=16)
    J = np.asarray(jax.jacrev(lambda p: predict(p, x))(params)).reshape(x.shape[0], -1)
    norms = np.sum(J**2, axis=1)
    lam = np.linalg.eigvalsh(J.T @ J / x.shape[0])[-1]
    assert cb.lam_max == pytest.approx(lam, rel=1e-8)
    assert cb.trace == pytest.approx(norms.mean(), rel=1e-10)
    assert cb.max_norm2 == pytest.approx(norms.max(), rel=1e-10)
    assert cb.m_star == pytest.approx(norms.mean() / lam, rel=1e-8)


def test_too_few_samples_are_refused():
    with pytest.raises(ValueError, match="samples must be an integer >= 2"):
        critical_batch(_linear, jnp.zeros(3), jnp.ones((1, 3)))
