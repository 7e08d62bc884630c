"""The uniform law on S^{d−1}(√d), the retraction and the slice of eq. 47, against theory.

Exact laws used: for x uniform on S^{d−1}(√d), E x = 0, E x xᵀ = I (|x|² = d and
symmetry), E x_1⁴ = 3d/(d+2) (Gaussian 4th moment × d²/(d(d+2))), and t = x_1/√d has
density ∝ (1 − t²)^{(d−3)/2}, i.e. (t + 1)/2 ~ Beta((d−1)/2, (d−1)/2).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from mflab.spherical import (
    eq47_angles,
    eq47_slice,
    retract_to_sphere,
    tangent_project,
    uniform_sphere,
)

N_POINTS = 200_000


@pytest.fixture(scope="module", params=[3, 5, 10])
def sample(request):
    d = request.param
    return d, np.asarray(uniform_sphere(jax.random.key(d), N_POINTS, d, jnp.float64))


def test_points_lie_on_the_sphere(sample):
    d, x = sample
    assert x.shape == (N_POINTS, d) and x.dtype == np.float64
    # normalised in float64: |x| = √d up to a few ulps
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.sqrt(d), rtol=1e-14)


def test_first_and_second_moments(sample):
    d, x = sample
    se_mean = x.std(axis=0) / np.sqrt(N_POINTS)
    # 5 standard errors: a false alarm has probability ~6e-7 per entry under the CLT
    assert np.all(np.abs(x.mean(axis=0)) < 5 * se_mean)
    outer = x[:, :, None] * x[:, None, :]
    se_cov = outer.std(axis=0) / np.sqrt(N_POINTS)
    # diagonal: Σ x_i² = d exactly, so E x_i² = 1 (zero-variance sum; per entry SE applies)
    assert np.all(np.abs(outer.mean(axis=0) - np.eye(d)) < 5 * se_cov)
    fourth = x[:, 0] ** 4
    assert abs(fourth.mean() - 3 * d / (d + 2)) < 5 * fourth.std() / np.sqrt(N_POINTS)


def test_one_coordinate_follows_its_exact_law(sample):
    d, x = sample
    beta = stats.beta((d - 1) / 2, (d - 1) / 2)
    t = (x[:, 0] / np.sqrt(d) + 1) / 2
    # fixed seed, so deterministic; p > 1e-3 is the usual KS acceptance at 2e5 points
    assert stats.kstest(t, beta.cdf).pvalue > 1e-3
    # the test has power: the neighbouring dimension's law is rejected outright
    wrong = stats.beta(d / 2, d / 2)
    assert stats.kstest(t, wrong.cdf).pvalue < 1e-6


def test_float32_sampler_keeps_dtype():
    x = uniform_sphere(jax.random.key(0), 1000, 7, jnp.float32)
    assert x.dtype == jnp.float32
    np.testing.assert_allclose(np.linalg.norm(np.asarray(x), axis=1), np.sqrt(7), rtol=1e-6)


def test_retraction_and_tangent_projection():
    z = jax.random.normal(jax.random.key(1), (50, 6), jnp.float64) * 3.0
    r = retract_to_sphere(z)
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), np.sqrt(6), rtol=1e-15)
    np.testing.assert_allclose(r / np.linalg.norm(r, axis=1, keepdims=True),
                               z / np.linalg.norm(z, axis=1, keepdims=True), rtol=1e-14)
    g = jax.random.normal(jax.random.key(2), (50, 6), jnp.float64)
    t = tangent_project(r, g)
    np.testing.assert_allclose(np.sum(t * r, axis=1), 0.0, atol=1e-13)
    # a projection: idempotent
    np.testing.assert_allclose(tangent_project(r, t), t, atol=1e-14)


@pytest.mark.parametrize("d", [3, 4, 5])
def test_eq47_slice_is_a_great_two_sphere_and_angles_invert_it(d):
    theta, phi = np.meshgrid(np.linspace(0.05, np.pi - 0.05, 7), np.linspace(0, 6.2, 9))
    x = np.asarray(eq47_slice(theta, phi, d))
    assert x.shape == theta.shape + (d,)
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), np.sqrt(d), rtol=1e-15)
    np.testing.assert_array_equal(x[..., 3:], 0.0)
    th, ph = eq47_angles(x)
    np.testing.assert_allclose(th, theta, atol=1e-12)
    np.testing.assert_allclose(ph, phi, atol=1e-12)
