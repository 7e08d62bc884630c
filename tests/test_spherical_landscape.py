"""The 3-spin landscape: Riemannian gradient and step, oracles, mean-field scaling, errors.

Theory used: (i) the gradient of L along a geodesic t ↦ cos(t) z + sin(t) √d v (v a unit
tangent vector) at t = 0 is ⟨∇L, √d v⟩, and along c it is ∂L/∂c — checked by central
differences of the exact loss; (ii) retract(z − η g) has norm √d exactly; (iii) the
mini-batch gradient is unbiased for the exact one; (iv) for small steps gradient descent
decreases L (descent lemma); (v) in mean-field time (η = n·dt) a network whose every unit
is duplicated follows the same trajectory as the original (n-independence of t).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.landscapes import Landscape
from mflab.schedules import meanfield_learning_rate
from mflab.spherical import (
    KernelParams,
    init_kernel_params,
    matched_weight_scale,
    tangent_project,
    three_spin_couplings,
    three_spin_landscape,
    uniform_sphere,
)


def make(d, n, c0=20.0, alpha=None, batch_size=None, seed=0, dtype=jnp.float64):
    a = three_spin_couplings(jax.random.key(seed), d, dtype)
    land = three_spin_landscape(a, n, alpha=alpha, batch_size=batch_size)
    params = init_kernel_params(jax.random.key(seed + 1), n, d, c0, dtype)
    return land, params


def test_is_a_landscape_with_its_facts():
    land, _ = make(5, 8)
    assert isinstance(land, Landscape) and land.exact and land.retract is not None
    assert land.info["d"] == 5 and land.info["n"] == 8 and land.info["alpha"] == 1.0
    land_sgd, _ = make(5, 8, batch_size=100)
    assert not land_sgd.exact and land_sgd.info["batch_size"] == 100


@pytest.mark.parametrize("d, alpha", [(3, None), (4, 1.5), (10, 0.05)])
def test_gradient_matches_finite_differences_on_the_sphere(d, alpha):
    n = 6
    land, params = make(d, n, alpha=alpha, seed=d)
    value = jax.jit(land.value)
    grad = jax.jit(land.grad)(params)
    # gradient is tangent: z_i · ∂L/∂z_i = 0
    np.testing.assert_allclose(np.sum(grad.z * params.z, axis=1), 0.0, atol=1e-12)
    h = 1e-5  # central differences: error h²·L''' ~ 1e-10 relative, rounding eps·L/h ~ 1e-11
    radius = np.sqrt(d)
    for k in range(3):
        w = tangent_project(params.z, jax.random.normal(jax.random.key(10 + k), params.z.shape))
        speed = jnp.linalg.norm(w, axis=1, keepdims=True)

        def geodesic(t, w=w, speed=speed):  # z_i(t) on the sphere, z_i(0) = z_i, z_i'(0) = w_i
            omega = t * speed / radius
            return jnp.cos(omega) * params.z + jnp.sin(omega) * radius * w / speed

        fd = (value(KernelParams(params.c, geodesic(h)))
              - value(KernelParams(params.c, geodesic(-h)))) / (2 * h)
        np.testing.assert_allclose(fd, jnp.sum(grad.z * w), rtol=1e-8, atol=1e-11)
        w = jax.random.normal(jax.random.key(20 + k), params.c.shape)
        fd_c = (value(KernelParams(params.c + h * w, params.z))
                - value(KernelParams(params.c - h * w, params.z))) / (2 * h)
        np.testing.assert_allclose(fd_c, jnp.sum(grad.c * w), rtol=1e-8, atol=1e-11)


def test_riemannian_step_stays_on_the_sphere():
    d, n = 7, 32
    land, params = make(d, n, c0=100.0)
    g = jax.jit(land.grad)(params)
    step = jax.jit(lambda p, eta: land.retract(jax.tree_util.tree_map(
        lambda x, y: x - eta * y, p, g)))
    for eta in [1e-3, 1.0, 100.0]:  # even a huge step lands back on the sphere
        moved = step(params, eta)
        # a few ulps of √d (norm, division and product each round once)
        np.testing.assert_allclose(np.linalg.norm(moved.z, axis=1), np.sqrt(d), rtol=1e-15)
        np.testing.assert_allclose(moved.c, params.c - eta * g.c, rtol=1e-15)


def _gd(land, params, eta, steps):
    def step(p, _):
        g = land.grad(p)
        p = land.retract(jax.tree_util.tree_map(lambda x, y: x - eta * y, p, g))
        return p, land.value(p)

    return jax.jit(lambda p: jax.lax.scan(step, p, None, length=steps))(params)


def test_gradient_descent_decreases_the_exact_loss_monotonically():
    d, n = 5, 16
    a = three_spin_couplings(jax.random.key(0), d, jnp.float64)
    land = three_spin_landscape(a, n)
    params = init_kernel_params(jax.random.key(1), n, d, matched_weight_scale(a, 1.0))
    # mean-field dt = 3e-3, well below the GD limit
    eta = float(meanfield_learning_rate(n, 3e-3)(0))
    _, losses = _gd(land, params, eta, 300)
    losses = np.concatenate([[float(jax.jit(land.value)(params))], np.asarray(losses)])
    assert np.all(np.diff(losses) < 0), np.diff(losses).max()
    assert losses[-1] < 0.6 * losses[0]  # and it actually learns (2.77 → 1.36 at t = 0.9)


def test_meanfield_time_does_not_depend_on_n():
    """Duplicating every unit leaves f_n unchanged; with η = n·dt the copies move together."""
    d, n, dt, steps = 4, 8, 5e-3, 50
    land, params = make(d, n, c0=10.0)
    land2 = three_spin_landscape(
        three_spin_couplings(jax.random.key(0), d, jnp.float64), 2 * n
    )
    doubled = jax.tree_util.tree_map(lambda x: jnp.concatenate([x, x]), params)
    np.testing.assert_allclose(jax.jit(land2.value)(doubled), jax.jit(land.value)(params),
                               rtol=1e-13)
    end, _ = _gd(land, params, float(meanfield_learning_rate(n, dt)(0)), steps)
    end2, _ = _gd(land2, doubled, float(meanfield_learning_rate(2 * n, dt)(0)), steps)
    np.testing.assert_allclose(end2.c[:n], end.c, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(end2.z[n:], end.z, rtol=1e-10, atol=1e-10)


def test_minibatch_gradient_is_unbiased_and_tangent():
    d, n, m, batches = 3, 4, 500, 2000
    land, params = make(d, n, c0=30.0, batch_size=m)
    keys = jax.random.split(jax.random.key(7), batches)
    g = jax.jit(jax.vmap(land.sample_grad, in_axes=(0, None)))(keys, params)
    np.testing.assert_allclose(np.sum(g.z * params.z, axis=-1), 0.0, atol=1e-10)
    exact = jax.jit(land.grad)(params)
    for est, ref in [(g.c, exact.c), (g.z, exact.z)]:
        mean, se = est.mean(0), est.std(0) / np.sqrt(batches)
        # 10⁶ fresh points in all; 5 standard errors (see test_spherical_closed_forms)
        z_score = np.abs(mean - ref) / se
        assert z_score.max() < 5.0, z_score.max()


def test_dtype_follows_the_parameters():
    land, params = make(5, 8, dtype=jnp.float32, batch_size=10)
    assert jax.jit(land.value)(params).dtype == jnp.float32
    assert jax.jit(land.grad)(params).z.dtype == jnp.float32
    assert jax.jit(land.sample_grad)(jax.random.key(0), params).c.dtype == jnp.float32
    land64, params64 = make(5, 8)
    # float32 agrees with float64 to float32 rounding (× the cancellation E f²/L ≲ 10)
    np.testing.assert_allclose(jax.jit(land.value)(params), jax.jit(land64.value)(params64),
                               rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d": 2}, "d (dimension) must be an integer >= 3; got 2"),
        ({"n": 0}, "n (number of kernel units) must be an integer >= 1; got 0"),
        ({"alpha": 0.0}, "alpha must be > 0; got 0.0"),
        ({"alpha": -1}, "alpha must be > 0; got -1"),
        ({"alpha": float("nan")}, "alpha must be a finite number > 0; got nan"),
        ({"batch_size": 0}, "batch_size (fresh points per gradient, or None) must be an "
                            "integer >= 1; got 0"),
    ],
)
def test_bad_input_is_refused_with_what_was_given(kwargs, message):
    d = kwargs.pop("d", 5)
    a = jnp.zeros((d, d, d))
    args = {"n": 4, **kwargs}
    with pytest.raises(ValueError) as err:
        three_spin_landscape(a, **args)
    assert message in str(err.value)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match=r"couplings must have shape \(d, d, d\); got shape"):
        three_spin_landscape(jnp.zeros((4, 4, 3)), 4)
    with pytest.raises(ValueError, match="c0 must be >= 0; got -1"):
        init_kernel_params(jax.random.key(0), 4, 5, -1.0)
    with pytest.raises(ValueError, match="n .* must be an integer >= 1; got 0"):
        init_kernel_params(jax.random.key(0), 0, 5, 1.0)
    with pytest.raises(ValueError, match="num .* must be a positive integer; got 0"):
        uniform_sphere(jax.random.key(0), 0, 5)
    land, params = make(5, 8)
    with pytest.raises(ValueError, match=r"z of shape \(8, 5\); got \(8,\) and \(8, 4\)"):
        jax.jit(land.value)(KernelParams(params.c, params.z[:, :4]))
