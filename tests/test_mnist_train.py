"""The SPEC A4 network and its mean-field SGD: the jitted epoch against a plain loop of the
SPEC update, the gradient identity behind "no 1/N", exchangeability of the units, the
initial law, and a real quick training run against the majority-class baseline."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab  # noqa: F401  (enables x64)
from mflab.driver import DivergenceError
from mflab.mnist import (
    ENV_DATA_DIR,
    MNIST_FILES,
    MnistData,
    MnistParams,
    epoch_batches,
    init_params,
    load_mnist,
    one_vs_rest,
    predict,
    sgd_step,
    train_epoch,
    train_mnist,
)

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


def _plain_epoch(c, w, x, y, idx, eps, xi, k0):
    """SPEC Part A, unit by unit: θ_i ← θ_i + 2 s_k (1/m) Σ_b (y_b − ŷ_b) ∇_θ σ*(x_b; θ_i)."""
    N = len(c)
    for j, batch in enumerate(idx):
        s = eps * xi((k0 + j) * eps)
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


def test_jitted_epochs_match_plain_loop_of_spec_update():
    key = jax.random.key(0)
    x, y = _synthetic(key, 100, 12)
    params = init_params(jax.random.key(1), 5, 12, kappa=2.0, dtype=jnp.float64)

    def xi(t):  # a decaying schedule ξ(t) = (1 + t)^(-1/4), SPEC Part A
        return (1.0 + t) ** -0.25

    c, w = np.asarray(params.c), np.asarray(params.w)
    eps, m = 0.7, 20
    for e in range(2):  # two epochs: the schedule's step index k0 carries over
        k = jax.random.fold_in(key, e)
        params, _ = train_epoch(params, k, x, y, eps, 5 * e, batch_size=m, xi=xi)
        idx = np.asarray(epoch_batches(k, 100, m))
        c, w = _plain_epoch(c, w, np.asarray(x), np.asarray(y), idx, eps, xi, 5 * e)
    # float64, 10 steps of O(1) arithmetic: differences are summation-order roundoff
    # (~1e-15 relative), far below 1e-10.
    np.testing.assert_allclose(params.c, c, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(params.w, w, rtol=1e-10, atol=1e-12)


def test_step_is_N_times_the_risk_gradient():
    """Mean-field scaling: θ_i ← θ_i − s N ∇_{θ_i} R̂_B(θ), R̂_B the batch mean of (y − ŷ)²."""
    x, y = _synthetic(jax.random.key(2), 32, 10)
    for N in (3, 50):
        p = init_params(jax.random.key(N), N, 10, kappa=3.0, dtype=jnp.float64)
        s = 0.3
        grad = jax.grad(lambda q: jnp.mean((y - predict(q, x)) ** 2))(p)
        new, risk = sgd_step(p, x, y, s)
        np.testing.assert_allclose(risk, jnp.mean((y - predict(p, x)) ** 2), rtol=1e-13)
        for a, b, g in zip(new, p, grad, strict=True):
            # float64 roundoff only
            np.testing.assert_allclose(a, b - s * N * g, rtol=1e-11, atol=1e-13)


def test_units_are_exchangeable():
    """Permuting the units at initialisation permutes the trained units (same data order)."""
    x, y = _synthetic(jax.random.key(3), 200, 8)
    p = init_params(jax.random.key(4), 9, 8, dtype=jnp.float64)
    perm = np.asarray(jax.random.permutation(jax.random.key(5), 9))
    k = jax.random.key(6)
    a, _ = train_epoch(p, k, x, y, 0.5, 0, batch_size=25)
    b, _ = train_epoch(MnistParams(p.c[perm], p.w[perm]), k, x, y, 0.5, 0, batch_size=25)
    # Only the order of the sum over units in ŷ changes: float64 roundoff.
    np.testing.assert_allclose(b.c, a.c[perm], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(b.w, a.w[perm], rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("c_init, c_var", [("uniform", 1 / 3), ("normal", 1.0)])
def test_initial_law(c_init, c_var):
    """w ~ N(0, κ²/d I): E|w|² = κ²; c ~ U[−1, 1] (variance 1/3) or N(0, 1)."""
    N, d, kappa = 4000, 784, 1.5
    p = init_params(jax.random.key(7), N, d, kappa=kappa, c_init=c_init)
    assert p.c.dtype == jnp.float32 and p.w.shape == (N, d)
    r2 = np.sum(np.asarray(p.w, np.float64) ** 2, axis=1)
    # |w|²/κ² ~ χ²_d / d: mean 1, sd sqrt(2/d) per unit; the mean of N has sd sqrt(2/(dN)) ≈ 8e-4.
    assert abs(r2.mean() / kappa**2 - 1) < 5e-3
    # sample variance of c: relative sd about sqrt(2/N) ≈ 0.02 (≈ 0.016 for the uniform); 5 sd.
    assert abs(np.var(np.asarray(p.c)) / c_var - 1) < 0.1
    if c_init == "uniform":
        assert np.abs(np.asarray(p.c)).max() <= 1


def _fake_data(key, n_train=300, n_test=100):
    ks = jax.random.split(key, 4)
    img = lambda k, n: np.asarray(jax.random.randint(k, (n, 28, 28), 0, 256), np.uint8)  # noqa: E731
    lab = lambda k, n: np.asarray(jax.random.randint(k, (n,), 0, 10), np.uint8)  # noqa: E731
    return MnistData(
        img(ks[0], n_train), lab(ks[1], n_train), img(ks[2], n_test), lab(ks[3], n_test)
    )


def test_records_time_and_validation():
    data = _fake_data(jax.random.key(8))
    r = train_mnist(
        jax.random.key(9),
        6,
        epochs=3,
        batch_size=50,
        step_size=0.2,
        record_epochs=[0, 3],
        data=data,
        progress=False,
    )
    assert r.c.shape == (2, 6) and r.w_norm.shape == (2, 6)
    assert r.test_accuracy.shape == (4,) and r.train_risk.shape == (3,)
    # t = ε k: 300 // 50 = 6 steps per epoch
    np.testing.assert_allclose(r.time, 0.2 * 6 * np.arange(4))
    np.testing.assert_allclose(r.w_norm[-1], np.linalg.norm(r.params.w, axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="record_epochs"):
        train_mnist(jax.random.key(0), 6, epochs=2, record_epochs=[3], data=data, progress=False)
    with pytest.raises(ValueError, match="digit"):
        train_mnist(jax.random.key(0), 6, epochs=1, digit=10, data=data, progress=False)


def test_divergence_is_reported():
    with pytest.raises(DivergenceError, match="epoch 1"):
        train_mnist(
            jax.random.key(0),
            6,
            epochs=2,
            batch_size=50,
            step_size=1e3,
            data=_fake_data(jax.random.key(1)),
            progress=False,
        )


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
    r = train_mnist(jax.random.key(0), 20, epochs=1, n_train=12000, data=mnist, progress=False)
    baseline = 1 - np.mean(mnist.test_labels == 0)  # always "not a 0": 0.902
    # "Clear margin": at most half the baseline's error (a linear 0-vs-rest classifier
    # gets ~1% error, so this leaves room for a short run and any seed).
    assert r.test_accuracy[-1] >= 1 - (1 - baseline) / 2
    assert r.test_risk[-1] < 0.5 * r.test_risk[0]
