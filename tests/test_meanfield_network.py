"""The network as a landscape (SPEC A5): B1 with η = Nεξ is the online SGD of SPEC Part A step
for step; the blocked kernels equal plain steps; the gradient is the autodiff gradient;
qualitative behaviour on A1/A2; observables; divergence; reproducible seeds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab
from mflab.driver import record_grid
from mflab.meanfield import (
    UNIT_RELU,
    UNIT_SIGMOID,
    AnisotropicGaussians,
    FiniteData,
    IsotropicGaussians,
    batch_grad,
    batch_risk,
    data_accuracy,
    data_risk,
    data_risk_accuracy,
    init_particles,
    network_landscape,
    network_observables,
    sigma_a1,
    sigma_a2,
    unit_a,
)
from mflab.meanfield.blocked import momentum_block, sgd_block, sgd_block_plain
from mflab.optimizers import mass, nesterov, sgd
from mflab.schedules import meanfield_learning_rate, xi_power

CASES = [
    ("a", unit_a(sigma_a1()), IsotropicGaussians(0.8, 10)),
    ("b", UNIT_RELU, AnisotropicGaussians(0.5, 10, 3)),
    ("c", UNIT_SIGMOID, IsotropicGaussians(0.5, 10)),
]
IDS = [c[0] for c in CASES]


def _spec_sgd(units, data, theta, key, eps, xi, n_steps, m):
    """SPEC Part A online SGD written from the definition, ∇σ* by autodiff:
    θ_i ← θ_i + 2 ε ξ(kε) (1/m) Σ_l (y_l − ŷ(x_l)) ∇_θ σ*(x_l; θ_i).
    Step k's samples: ``data.sample(fold_in(fold_in(key, k), 0), m)`` — the stream of agent 0."""

    def unit_out(th_i, x_l):
        return units(th_i[None], x_l[None])[0, 0]

    grad_unit = jax.vmap(jax.vmap(jax.grad(unit_out), in_axes=(0, None)), in_axes=(None, 0))

    def step(th, k):
        x, y = data.sample(jax.random.fold_in(jax.random.fold_in(key, k), 0), m)
        yhat = jnp.mean(units(th, x), axis=0)
        g = grad_unit(th, x)  # (m, N, D)
        s = eps * xi(k * eps)
        return th + 2 * s * jnp.mean((y - yhat)[:, None, None] * g, axis=0), None

    return jax.lax.scan(step, theta, jnp.arange(n_steps))[0]


@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("name,units,data", CASES, ids=IDS)
def test_b1_with_meanfield_rate_is_online_sgd(name, units, data, m):
    # 1024 steps of N = 12 units from the same samples: the same arithmetic up to the order
    # of sums, so the trajectories agree to accumulated rounding. 1e-10 relative is ~1e5 ulps:
    # generous for rounding, far below any algorithmic difference (one wrong step moves θ
    # by ~ε|x| ≈ 1e-3).
    N, eps, n = 12, 1e-3, 1024
    xi = xi_power(0.25, 1.0)
    theta = init_particles(jax.random.key(0), units, N, data.d, 0.8)
    key = jax.random.key(1)
    L = network_landscape(units, data, N, batch_size=m)
    opt = sgd(meanfield_learning_rate(N, eps, xi))
    ref = _spec_sgd(units, data, theta, key, eps, xi, n, m)
    plain = mflab.run(opt, L, theta[None], n, key, record_every=n, fast=False, observables={})
    fast = mflab.run(opt, L, theta[None], n, key, record_every=n, observables={})
    scale = float(jnp.max(jnp.abs(ref)))
    assert float(jnp.max(jnp.abs(ref - theta))) > 1e-2  # the particles did move
    assert float(jnp.max(jnp.abs(plain.state.x[0] - ref))) < 1e-10 * scale
    assert float(jnp.max(jnp.abs(fast.state.x[0] - ref))) < 1e-10 * scale
    assert int(fast.state.grad_evals) == n and int(fast.state.count) == n


MOMENTUM_CASES = [("mass",) + c for c in CASES] + [("nesterov",) + CASES[2]]


@pytest.mark.parametrize("method,name,units,data", MOMENTUM_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in MOMENTUM_CASES])
def test_momentum_blocked_kernel_equals_plain_steps(method, name, units, data):
    # B2 / B4 (fixed γ) through the driver's fast path vs plain steps, 2 agents, 640 steps,
    # with a decaying learning rate (the schedule enters the blocked coefficients).
    N, eps = 10, 5e-4
    rate = meanfield_learning_rate(N, eps, xi_power(0.5, 0.1))
    opt = nesterov(rate, 0.8) if method == "nesterov" else mass(rate, 0.1 * eps * N, 0.8)
    th = jnp.stack([init_particles(jax.random.key(s), units, N, data.d, 0.8) for s in (2, 3)])
    L = network_landscape(units, data, N, batch_size=2)
    key = jax.random.key(4)
    obs = {"risk": lambda t: batch_risk(units, t, *data.sample(jax.random.key(9), 64))}
    plain = mflab.run(opt, L, th, 640, key, record_every=320, fast=False, observables=obs)
    fast = mflab.run(opt, L, th, 640, key, record_every=320, observables=obs)
    for field in ("x", "u", "trace"):
        a, b = getattr(fast.state, field), getattr(plain.state, field)
        assert float(jnp.max(jnp.abs(a - b))) < 1e-10 * float(jnp.max(jnp.abs(b))), field
    assert float(jnp.max(jnp.abs(plain.state.x - th))) > 1e-2
    np.testing.assert_allclose(fast.records["risk"], plain.records["risk"], rtol=1e-9)


@pytest.mark.parametrize("method", ["sgd", "mass"])
def test_fast_path_with_gaps_that_do_not_fill_blocks(method):
    # record gaps of 37, 963 and 101 steps: whole blocks by the kernel, the rest in plain
    # steps; equal to plain steps throughout, and one compiled chunk serves another grid
    units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, 10)
    N, eps = 10, 1e-3
    rate = meanfield_learning_rate(N, eps)
    opt = sgd(rate) if method == "sgd" else mass(rate, 0.1 * eps * N, 0.8)
    th = jnp.stack([init_particles(jax.random.key(s), units, N, 10, 0.8) for s in (2, 3)])
    L = network_landscape(units, data, N)
    key = jax.random.key(4)
    obs = {"mean_norm": lambda t: jnp.mean(jnp.linalg.norm(t, axis=1))}
    steps = np.array([37, 1000, 1101])
    plain = mflab.run(opt, L, th, 1101, key, record_steps=steps, fast=False, observables=obs)
    fast = mflab.run(opt, L, th, 1101, key, record_steps=steps, observables=obs)
    scale = float(jnp.max(jnp.abs(plain.state.x)))  # rounding only, as in the tests above
    assert float(jnp.max(jnp.abs(fast.state.x - plain.state.x))) < 1e-10 * scale
    assert float(jnp.max(jnp.abs(plain.state.x - th))) > 1e-2
    np.testing.assert_allclose(fast.records["mean_norm"], plain.records["mean_norm"],
                               rtol=1e-10)
    assert int(fast.state.grad_evals) == 1101
    mflab.run(opt, L, th, 1300, key, record_steps=np.array([650, 1300]), observables=obs)
    chunk = mflab.driver.make_chunk(jax.tree_util.tree_structure(opt), L, tuple(obs.items()),
                                    L.fast_path(opt).preferred_block)
    assert chunk._cache_size() == 1


def test_block_functions_against_plain_steps():
    units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, 10)
    theta = init_particles(jax.random.key(5), units, 15, 10)
    x, y = data.sample(jax.random.key(6), 16 * 2)
    X, Y = x.reshape(16, 2, 10), y.reshape(16, 2)
    eta = jnp.full(16, 0.3)
    a = sgd_block(units, theta, jnp.zeros((15, 0)), X, Y, eta)[0]
    b = sgd_block_plain(units, theta, jnp.zeros((15, 0)), X, Y, eta)[0]
    assert float(jnp.max(jnp.abs(a - b))) < 1e-12
    # momentum with γ = 0 and r = 0 is SGD: u = w, t = 0
    U, T, _, _, W, _ = momentum_block(units, theta, 0 * theta, jnp.zeros((15, 0)),
                                      jnp.zeros((15, 0)), X, Y, eta, 0 * eta, 0.0)
    assert float(jnp.max(jnp.abs(W - b))) < 1e-12 and float(jnp.max(jnp.abs(T))) < 1e-14


@pytest.mark.parametrize("name,units,data", CASES, ids=IDS)
def test_batch_gradient_is_the_autodiff_gradient(name, units, data):
    theta = init_particles(jax.random.key(2), units, 7, data.d, 0.8)
    theta = theta + 0.1 * jax.random.normal(jax.random.key(3), theta.shape)
    batch = data.sample(jax.random.key(4), 5)
    expected = jax.grad(lambda th: batch_risk(units, th, *batch))(theta)
    np.testing.assert_allclose(batch_grad(units, theta, batch), expected, rtol=1e-12,
                               atol=1e-14)


def test_seeds_are_agents_and_reproduce():
    units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, 8)
    th = jnp.stack([init_particles(jax.random.key(s), units, 30, 8) for s in range(3)])
    L = network_landscape(units, data, 30)
    opt = sgd(meanfield_learning_rate(30, 1e-3))
    a = mflab.run(opt, L, th, 640, jax.random.key(5), record_every=320, observables={})
    b = mflab.run(opt, L, th, 640, jax.random.key(5), record_every=320, observables={})
    assert np.array_equal(a.state.x, b.state.x)
    assert not np.allclose(a.state.x[0], a.state.x[1])
    # agent i draws with fold_in(step key, i): a seed alone reproduces its trajectory
    one = mflab.run(opt, L, th[:1], 640, jax.random.key(5), record_every=320, observables={})
    np.testing.assert_allclose(one.state.x[0], a.state.x[0], rtol=0, atol=1e-12)


def test_sgd_decreases_exact_risk_on_a1():
    # Mean-field SGD is a noisy gradient flow of R_N (DD: dR/dt ≤ 0). Here (N=100, d=20,
    # ε=2e-4, t=12.8) the exact risk falls from ≈1.8 to ≈0.16; we require a halving and a
    # monotone trend between records (slack 0.02 for SGD noise at N=100).
    units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, 20)
    th = init_particles(jax.random.key(0), units, 100, 20, 0.8)
    L = network_landscape(units, data, 100)
    obs = network_observables(units, data, L, reduced=False)
    tr = mflab.run(sgd(meanfield_learning_rate(100, 2e-4)), L, th[None], 64000,
                   jax.random.key(1), record_steps=record_grid(64000, 5, 32), observables=obs)
    r = tr.records["risk"][:, 0]
    assert r[-1] < 0.5 * r[0]
    assert np.all(np.diff(r) < 0.02)
    assert np.all(np.diff(tr.records["mean_norm"][:, 0]) > 0)  # A1: units grow radially


def test_a2_two_initialisations_separate():
    # SPEC A2 / Mei et al. Fig. 2: from κ = 0.4 SGD reaches a low-risk stationary point, from
    # κ = 0.1 it stays near a high-risk one. At N=100, d=20, ε=2e-4, t=6.4 the measured
    # risks are ≈0.16 and ≈6.7; the thresholds (< 0.5, > 3) sit far from both.
    units, data = unit_a(sigma_a2()), IsotropicGaussians(0.5, 20)
    th = jnp.stack([init_particles(jax.random.key(0), units, 100, 20, k) for k in (0.1, 0.4)])
    L = network_landscape(units, data, 100)
    tr = mflab.run(sgd(meanfield_learning_rate(100, 2e-4)), L, th, 32000, jax.random.key(1),
                   record_every=32000, observables={"risk": L.value})
    bad, good = tr.records["risk"][-1]
    assert good < 0.5 and bad > 3.0, (good, bad)


def test_observables_equal_their_values_after_the_fact():
    units, data = UNIT_RELU, AnisotropicGaussians(0.5, 8, 3)
    th = jnp.stack([init_particles(jax.random.key(s), units, 20, 8, 1.0) for s in range(2)])
    L = network_landscape(units, data, 20, batch_size=4)
    obs = network_observables(units, data, L)
    tr = mflab.run(nesterov(meanfield_learning_rate(20, 1e-3), 0.5), L, th, 300,
                   jax.random.key(7), record_every=100, observables=obs, record_positions=True)
    for r in range(tr.steps.size):
        for a in range(2):
            theta = tr.positions[r, a]
            np.testing.assert_allclose(tr.records["risk"][r, a], L.value(theta), rtol=1e-12)
            np.testing.assert_allclose(tr.records["mean_norm"][r, a],
                                       obs["mean_norm"](theta), rtol=1e-12)
            np.testing.assert_allclose(tr.records["reduced"][r, a], obs["reduced"](theta),
                                       rtol=1e-12)
    assert np.array_equal(tr.samples, tr.grad_evals * 4)


def test_test_set_risk_and_accuracy_are_numpy_means_after_the_fact():
    # one observable function records both (one pass over the set); against the plain
    # per-example definitions in NumPy, on a set whose size is not a multiple of the chunk
    units = UNIT_SIGMOID
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2503, 6))
    y = np.where(x[:, 0] + 0.3 * rng.standard_normal(2503) > 0, 1.0, -1.0)
    test = FiniteData(jnp.asarray(x), jnp.asarray(y))
    train = FiniteData(jnp.asarray(x[:500]), jnp.asarray(y[:500]))
    L = network_landscape(units, train, 30, batch_size=10)
    obs = network_observables(units, None, L, reduced=False, test=test)
    th = jnp.stack([init_particles(jax.random.key(s), units, 30, 6, 1.0, c_init="uniform")
                    for s in range(2)])
    tr = mflab.run(sgd(meanfield_learning_rate(30, 0.05)), L, th, 200, jax.random.key(1),
                   record_every=100, observables=obs, record_positions=True)
    for r in range(tr.steps.size):
        for a in range(2):
            theta = np.asarray(tr.positions[r, a])
            c, w = theta[:, 0], theta[:, 1:]
            yhat = np.mean(c / (1 + np.exp(-(x @ w.T))), axis=1)
            np.testing.assert_allclose(tr.records["test_risk"][r, a], np.mean((y - yhat) ** 2),
                                       rtol=1e-12)
            hits = np.sum(np.where(yhat > 0, 1, -1) == y)
            assert tr.records["test_accuracy"][r, a] * 2503 == pytest.approx(hits, abs=1e-9)
            risk, acc = data_risk_accuracy(units, jnp.asarray(theta), test.x, test.y)
            assert risk == data_risk(units, jnp.asarray(theta), test.x, test.y)
            assert acc == data_accuracy(units, jnp.asarray(theta), test.x, test.y)


def test_diverging_network_run_names_step_replica_and_quantity():
    units, data = UNIT_RELU, IsotropicGaussians(0.5, 10)
    # replica 0 has every ReLU off (b = −1000): no gradient reaches it and it never moves;
    # replica 1 is a normal start, which a step of 1e6 blows up (float32)
    th = jnp.stack([init_particles(jax.random.key(0), units, 10, 10, b0=-1e3),
                    init_particles(jax.random.key(1), units, 10, 10)]).astype(jnp.float32)
    L = network_landscape(units, data, 10)
    msg = r"at step \d+ \(the first non-finite step\) for agent \(replica\) 1"
    with pytest.raises(mflab.DivergenceError, match=msg) as e:
        mflab.run(sgd(1e6), L, th, 200, jax.random.key(0), record_every=10,
                  observables={"mean_norm": lambda t: jnp.sum(t**2)})
    # the replayed first step, not the record (every 10 steps) that saw it
    assert e.value.step % 10 != 0 and e.value.method == "sgd"


def test_network_landscape_validates():
    units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, 4)
    with pytest.raises(ValueError, match="N must be an integer >= 1; got 0"):
        network_landscape(units, data, 0)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1; got 0"):
        network_landscape(units, data, 5, batch_size=0)
    with pytest.raises(ValueError, match="N must be an integer >= 1; got 0"):
        init_particles(jax.random.key(0), units, 0, 4)
    L = network_landscape(units, data, 5)
    with pytest.raises(ValueError, match="does not fit the landscape"):
        mflab.run(sgd(0.1), L, jnp.zeros((2, 5, 3)), 10, jax.random.key(0))
