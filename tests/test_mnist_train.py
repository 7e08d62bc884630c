"""The SPEC A4 problem on the one engine: B1 on the sigmoid network's landscape over a finite
data set equals a plain loop of the SPEC update over the same epoch batches; exchangeability of
the units; the initial law; records, validation and divergence; a real quick training run
against the majority-class baseline."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab
from mflab.driver import DivergenceError
from mflab.landscapes.sampling import EpochSampler
from mflab.meanfield import UNIT_SIGMOID, FiniteData, init_particles, network_landscape
from mflab.mnist import (
    ENV_DATA_DIR,
    MNIST_FILES,
    MnistData,
    load_mnist,
    mnist_sets,
    one_vs_rest,
    train_mnist,
)
from mflab.optimizers import sgd
from mflab.schedules import meanfield_learning_rate, xi_power

_DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared/data/mnist"


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    d = Path(os.environ.get(ENV_DATA_DIR) or _DEFAULT_DIR)
    if not all((d / s.filename).is_file() for s in MNIST_FILES.values()):
        pytest.skip(f"MNIST files not in {d} (set {ENV_DATA_DIR} to their directory)")
    cache = tmp_path_factory.mktemp("cache")
    return load_mnist(d, download=False, cache_dir=cache, progress=False)


def _synthetic(key, n, d):
    kx, ky = jax.random.split(key)
    x = jax.random.uniform(kx, (n, d), jnp.float64)
    y = jnp.where(jax.random.bernoulli(ky, 0.3, (n,)), 1.0, -1.0)
    return x, y


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _plain_sgd(c, w, x, y, batches, eps, xi):
    """SPEC Part A, unit by unit: θ_i ← θ_i + 2 s_k (1/m) Σ_b (y_b − ŷ_b) ∇_θ σ*(x_b; θ_i)."""
    N = len(c)
    for k, batch in enumerate(batches):
        s = eps * xi(k * eps)
        yhat = [sum(c[i] * _sigmoid(w[i] @ x[b]) for i in range(N)) / N for b in batch]
        new_c, new_w = c.copy(), w.copy()
        for i in range(N):
            for b, yh in zip(batch, yhat, strict=True):
                z = w[i] @ x[b]
                grad_c = _sigmoid(z)  # ∂σ*/∂c
                grad_w = c[i] * _sigmoid(z) * (1 - _sigmoid(z)) * x[b]  # ∂σ*/∂w
                new_c[i] += 2 * s * (y[b] - yh) * grad_c / len(batch)
                new_w[i] += 2 * s * (y[b] - yh) * grad_w / len(batch)
        c, w = new_c, new_w
    return c, w


def test_b1_on_the_data_landscape_is_the_spec_update_over_epoch_batches():
    x, y = _synthetic(jax.random.key(0), 100, 12)
    N, eps, m = 5, 0.7, 20
    xi = xi_power(0.25, 1.0)  # a decaying schedule: the step index carries over epochs
    theta = init_particles(jax.random.key(1), UNIT_SIGMOID, N, 12, 2.0, c_init="uniform")
    L = network_landscape(UNIT_SIGMOID, FiniteData(x, y), N, batch_size=m, seed=3)
    tr = mflab.run(sgd(meanfield_learning_rate(N, eps, xi)), L, theta[None], 10,
                   jax.random.key(2), record_every=5, observables={})
    sampler = EpochSampler(100, m, seed=3)
    batches = [np.asarray(sampler.indices(k, 0)) for k in range(10)]  # two epochs of 5
    assert sorted(np.concatenate(batches[:5]).tolist()) == list(range(100))  # an epoch
    c, w = _plain_sgd(np.asarray(theta[:, 0]), np.asarray(theta[:, 1:]), np.asarray(x),
                      np.asarray(y), batches, eps, xi)
    # float64, 10 steps of O(1) arithmetic: differences are summation-order roundoff
    np.testing.assert_allclose(tr.state.x[0, :, 0], c, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tr.state.x[0, :, 1:], w, rtol=1e-10, atol=1e-12)


def test_full_data_gradient_is_the_autodiff_gradient():
    x, y = _synthetic(jax.random.key(3), 2500, 6)  # > one evaluation chunk, with padding
    theta = init_particles(jax.random.key(4), UNIT_SIGMOID, 7, 6, 2.0, c_init="normal")
    L = network_landscape(UNIT_SIGMOID, FiniteData(x, y), 7, batch_size=10)
    expected = jax.grad(lambda th: jnp.mean((y - jnp.mean(UNIT_SIGMOID(th, x), 0)) ** 2))(theta)
    np.testing.assert_allclose(L.grad(theta), expected, rtol=1e-11, atol=1e-14)


def test_units_are_exchangeable():
    """Permuting the units at initialisation permutes the trained units (same data order)."""
    x, y = _synthetic(jax.random.key(3), 200, 8)
    p = init_particles(jax.random.key(4), UNIT_SIGMOID, 9, 8, c_init="uniform")
    perm = np.asarray(jax.random.permutation(jax.random.key(5), 9))
    L = network_landscape(UNIT_SIGMOID, FiniteData(x, y), 9, batch_size=25)
    opt = sgd(meanfield_learning_rate(9, 0.5))
    a = mflab.run(opt, L, p[None], 8, jax.random.key(6), record_every=8, observables={})
    b = mflab.run(opt, L, p[perm][None], 8, jax.random.key(6), record_every=8, observables={})
    # Only the order of the sum over units in ŷ changes: float64 roundoff.
    np.testing.assert_allclose(b.state.x[0], a.state.x[0][perm], rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("c_init, c_var", [("uniform", 1 / 3), ("normal", 1.0)])
def test_initial_law(c_init, c_var):
    """w ~ N(0, κ²/d I): E|w|² = κ²; c ~ U[−1, 1] (variance 1/3) or N(0, 1)."""
    N, d, kappa = 4000, 784, 1.5
    p = init_particles(jax.random.key(7), UNIT_SIGMOID, N, d, kappa, c_init=c_init,
                       dtype=jnp.float32)
    assert p.dtype == jnp.float32 and p.shape == (N, d + 1)
    r2 = np.sum(np.asarray(p[:, 1:], np.float64) ** 2, axis=1)
    # |w|²/κ² ~ χ²_d / d: mean 1, sd sqrt(2/d) per unit; the mean of N has sd sqrt(2/(dN)) ≈ 8e-4.
    assert abs(r2.mean() / kappa**2 - 1) < 5e-3
    # sample variance of c: relative sd about sqrt(2/N) ≈ 0.02 (≈ 0.016 for the uniform); 5 sd.
    assert abs(np.var(np.asarray(p[:, 0])) / c_var - 1) < 0.1
    if c_init == "uniform":
        assert np.abs(np.asarray(p[:, 0])).max() <= 1


def _fake_data(key, n_train=300, n_test=100):
    ks = jax.random.split(key, 4)
    img = lambda k, n: np.asarray(jax.random.randint(k, (n, 28, 28), 0, 256), np.uint8)  # noqa: E731
    lab = lambda k, n: np.asarray(jax.random.randint(k, (n,), 0, 10), np.uint8)  # noqa: E731
    return MnistData(
        img(ks[0], n_train), lab(ks[1], n_train), img(ks[2], n_test), lab(ks[3], n_test)
    )


def test_records_time_and_validation():
    train, test = mnist_sets(_fake_data(jax.random.key(8)))
    tr, times = train_mnist(jax.random.key(9), 6, train, test, epochs=3, batch_size=50,
                            step_size=0.2, n_seeds=2)
    assert tr.records["c"].shape == (4, 2, 6) and tr.records["w_norm"].shape == (4, 2, 6)
    assert tr.records["test_accuracy"].shape == (4, 2)
    # t = ε k: 300 // 50 = 6 steps per epoch
    np.testing.assert_allclose(times, 0.2 * 6 * np.arange(4))
    np.testing.assert_allclose(tr.records["w_norm"][-1],
                               np.linalg.norm(np.asarray(tr.state.x)[:, :, 1:], axis=2),
                               rtol=1e-6)
    assert np.array_equal(tr.samples, 50 * 6 * np.arange(4))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1 and <= 300"):
        train_mnist(jax.random.key(0), 6, train, test, batch_size=500)
    with pytest.raises(ValueError, match="digit"):
        mnist_sets(_fake_data(jax.random.key(8)), digit=10)


def test_divergence_is_reported():
    train, test = mnist_sets(_fake_data(jax.random.key(1)))
    with pytest.raises(DivergenceError, match="became non-finite by step"):
        train_mnist(jax.random.key(0), 6, train, test, epochs=2, batch_size=50, step_size=1e3)


def test_one_vs_rest_task(mnist):
    task = one_vs_rest(mnist, digit=3)
    assert set(np.unique(task.y_test)) == {-1.0, 1.0}
    assert (task.y_test == 1).sum() == 1010  # README: 1010 test images of a 3
    assert task.x_train.shape == (60000, 784) and task.x_train.dtype == np.float32
    assert task.x_train.min() == 0 and task.x_train.max() == 1
    std = one_vs_rest(mnist, standardize=True, dtype=np.float64).x_train
    # global standardisation: all training pixels have mean 0 and sd 1 (float64 sums)
    assert abs(std.mean()) < 1e-9 and abs(std.std() - 1) < 1e-9


def test_quick_training_beats_majority_baseline(mnist):
    """N = 20, one epoch on 12000 images (120 steps of m = 100) at the default step size."""
    train, test = mnist_sets(mnist, n_train=12000)
    tr, _ = train_mnist(jax.random.key(0), 20, train, test, epochs=1)
    baseline = 1 - np.mean(mnist.test_labels == 0)  # always "not a 0": 0.902
    # "Clear margin": at most half the baseline's error (a linear 0-vs-rest classifier
    # gets ~1% error, so this leaves room for a short run and any seed).
    assert tr.records["test_accuracy"][-1, 0] >= 1 - (1 - baseline) / 2
    assert tr.records["test_risk"][-1, 0] < 0.5 * tr.records["test_risk"][0, 0]
