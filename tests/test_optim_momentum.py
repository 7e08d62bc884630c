"""B1–B4 against theory: GD rate on a quadratic, Nesterov's linear recurrence, acceleration
on an ill-conditioned quadratic, the restart convention against a plain loop, MaSS with
η2 = 0 = Nesterov, and MaSS = Liu & Belkin's three-variable form."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab
from mflab.landscapes import from_loss, ill_conditioned_quadratic, quadratic
from mflab.optimizers.mass import mass, mass_parameters, mass_three_variable
from mflab.optimizers.nesterov import nesterov, restart_nesterov
from mflab.optimizers.sgd import sgd


def _rotated_quadratic(eigs, seed=0):
    rng = np.random.default_rng(seed)
    d = len(eigs)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    H = Q @ np.diag(eigs) @ Q.T
    H = 0.5 * (H + H.T)
    xs = rng.normal(size=d)
    return quadratic(H, xs), Q, xs


def _trajectory(opt, land, x0, n, seed=0):
    """Positions (n + 1, A, d) through the driver (jitted scan)."""
    tr = mflab.run(opt, land, x0, n, jax.random.key(seed), record_positions=True, progress=False)
    return tr.positions, tr


def _steps_to(values, tol):
    """First recorded step at which every agent has Φ ≤ tol (values: (R, A))."""
    ok = np.all(values <= tol, axis=1)
    assert ok.any(), "never reached the tolerance"
    return int(np.argmax(ok))


def test_sgd_contracts_each_eigendirection_by_one_minus_eta_lambda():
    eigs = np.array([0.1, 0.5, 1.0, 1.9])
    eta = 0.9  # rates 1 − ηλ = 0.91, 0.55, 0.10, −0.71 (one negative: oscillating direction)
    land, Q, xs = _rotated_quadratic(eigs)
    x0 = jnp.asarray(xs + np.random.default_rng(1).normal(size=(3, 4)))
    pos, _ = _trajectory(sgd(eta), land, x0, 40)
    e = (pos - xs) @ Q  # eigen-coordinates, (41, A, d)
    k = np.arange(41)[:, None, None]
    predicted = (1.0 - eta * eigs) ** k * e[0]
    # Closed form e_k = (1 − ηλ)^k e_0. Float64 rounding of x − ηH(x − x*) and of the
    # rotation is ~1e-16 |e_0| per step and does not grow (|1 − ηλ| < 1): 1e-13 |e_0|.
    scale = np.abs(e[0]).max()
    np.testing.assert_allclose(e, predicted, rtol=0, atol=1e-13 * scale)
    # the per-step contraction factor over the first 5 steps, where every component is
    # still ≥ 0.1^5 |e_0| ≫ rounding (~1e-16 |e_0|), so the ratio is exact to ≤ 1e-10
    ratio = e[1:6] / e[:5]
    np.testing.assert_allclose(ratio, np.broadcast_to(1.0 - eta * eigs, ratio.shape), rtol=1e-9)


def test_nesterov_follows_its_linear_recurrence_on_a_quadratic():
    eigs = np.array([0.05, 0.3, 1.0])
    eta, gamma = 0.8, 0.9
    land, Q, xs = _rotated_quadratic(eigs, seed=2)
    x0 = jnp.asarray(xs + np.random.default_rng(3).normal(size=(2, 3)))
    pos, _ = _trajectory(nesterov(eta, gamma), land, x0, 60)
    e = (pos - xs) @ Q
    # per eigen-direction: w_{k+1} = (1 − ηλ)[(1 + γ) w_k − γ w_{k−1}], with w_1 = (1 − ηλ) w_0
    c = 1.0 - eta * eigs
    ref = np.zeros_like(e)
    ref[0] = e[0]
    ref[1] = c * e[0]
    for k in range(1, 60):
        ref[k + 1] = c * ((1 + gamma) * ref[k] - gamma * ref[k - 1])
    # rounding only (transient growth of the recurrence is below 10x here): 1e-12 |e_0|
    np.testing.assert_allclose(e, ref, rtol=0, atol=1e-12 * np.abs(e[0]).max())


def test_momentum_reaches_1e_6_in_clearly_fewer_steps_than_gd():
    land = ill_conditioned_quadratic(d=10, condition_number=1e3)
    eigs = land.info["eigenvalues"]
    eta = 1.0  # = 1/L, the largest stable-and-sensible GD step (L = λ_max = 1)
    x0 = jnp.asarray(np.random.default_rng(4).normal(size=(4, 10)))
    tol = 1e-6
    gd = mflab.run(sgd(eta), land, x0, 6000, jax.random.key(0), progress=False)
    k_gd = _steps_to(gd.values, tol)
    # GD theory (diagonal H): Φ_k = ½ Σ_i λ_i (1 − ηλ_i)^{2k} x0_i²; first k with max_agents ≤ tol
    k = np.arange(6001)[:, None, None]
    phi = 0.5 * np.sum(eigs * (1 - eta * eigs) ** (2 * k) * np.asarray(x0) ** 2, axis=-1)
    assert k_gd == _steps_to(phi, tol)

    nes = mflab.run(nesterov(eta, 0.9), land, x0, 2000, jax.random.key(0), progress=False)
    rst = mflab.run(restart_nesterov(eta), land, x0, 2000, jax.random.key(0), progress=False)
    k_nes, k_rst = _steps_to(nes.values, tol), _steps_to(rst.values, tol)
    # Theory: the slowest GD mode contracts by 1 − ηλ_min = 1 − 1e-3 per step; Nesterov with
    # γ = 0.9 by ≈ 1 − ηλ_min/(1 − γ) (overdamped root), ~10x faster; restart recovers
    # ~1 − sqrt(ηλ_min) (O'Donoghue & Candès). "Clearly fewer": at most a quarter of GD's.
    assert k_nes <= k_gd / 4, (k_gd, k_nes)
    assert k_rst <= k_gd / 4, (k_gd, k_rst)


def _plain_restart_loop(H, xs, x0, eta, n):
    """The documented B3 convention, one agent, plain numpy."""
    w, u, alpha = x0.copy(), x0.copy(), 1
    ws, gammas, restarts = [w.copy()], [], []
    for _ in range(n):
        g = H @ (u - xs)
        w_new = u - eta * g
        restarted = g @ (w_new - w) > 0
        if restarted:
            alpha = 1
        gamma = (alpha - 1) / (alpha + 2)
        u = (1 + gamma) * w_new - gamma * w
        w = w_new
        alpha += 1
        ws.append(w.copy())
        gammas.append(gamma)
        restarts.append(restarted)
    return np.array(ws), np.array(gammas), np.array(restarts)


def test_restart_nesterov_matches_the_documented_convention_in_a_plain_loop():
    land, _, xs = _rotated_quadratic(np.array([0.01, 1.0]), seed=5)
    H = land.info["H"]
    eta = 0.9
    x0 = xs + np.array([3.0, -2.0])
    opt = restart_nesterov(eta)
    state = opt.init(jnp.asarray(x0)[None])
    step = jax.jit(lambda s: opt.step(jax.random.key(0), s, land))
    ws, gammas, restarted = [np.asarray(state.x[0])], [], []
    # 150 steps: the error falls from 3 to ~1e-8, so every restart decision is far above
    # rounding (later, at ~1e-15, the sign of g̃ᵀ(w⁺ − w) is rounding noise in any code)
    for _ in range(150):
        state, info = step(state)
        ws.append(np.asarray(state.x[0]))
        gammas.append(float(info.gamma[0]))
        restarted.append(bool(info.restarted[0]))
    ref_w, ref_g, ref_r = _plain_restart_loop(H, xs, x0, eta, 150)
    assert ref_r.sum() >= 3  # the test exercises restarts (κ = 100 oscillates)
    np.testing.assert_array_equal(np.array(restarted), ref_r)
    np.testing.assert_allclose(np.array(gammas), ref_g, rtol=1e-15, atol=0)
    # same arithmetic up to rounding order (~1e-16 relative per step, contracting): 1e-12
    np.testing.assert_allclose(np.array(ws), ref_w, rtol=0, atol=1e-12 * np.abs(x0 - xs).max())
    # after a restart the momentum is zero on that step and the schedule restarts at 1/4
    i = int(np.argmax(ref_r))
    assert gammas[i] == 0.0 and gammas[i + 1] == pytest.approx(0.25)


def _regression_landscape(batch_size, seed=6):
    """Least squares with a mini-batch oracle: a genuinely stochastic g̃."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(64, 5))
    y = X @ rng.normal(size=5) + 0.1 * rng.normal(size=64)
    data = (jnp.asarray(X), jnp.asarray(y))

    def loss(p, batch):
        xb, yb = batch
        return 0.5 * jnp.mean((xb @ p - yb) ** 2)

    return from_loss(loss, data, batch_size=batch_size)


def _scan_states(opt, land, x0, n, seed):
    """All states of n steps with key_k = fold_in(key, k) (as the driver does)."""
    key = jax.random.key(seed)

    @jax.jit
    def go(s0):
        def body(s, k):
            s, _ = opt.step(jax.random.fold_in(key, k), s, land)
            return s, (s.x, s.u)

        return jax.lax.scan(body, s0, jnp.arange(n))[1]

    return go(opt.init(x0))


@pytest.mark.parametrize("restart", [False, True])
def test_mass_with_eta2_zero_is_nesterov_step_for_step(restart):
    land = _regression_landscape(batch_size=4)
    x0 = jnp.asarray(np.random.default_rng(7).normal(size=(3, 5)))
    if restart:
        ref = restart_nesterov(0.05)
        m = mass(0.05, 0.0, restart=True)
    else:
        ref = nesterov(0.05, 0.8)
        m = mass(0.05, 0.0, gamma=0.8)
    w_ref, u_ref = _scan_states(ref, land, x0, 200, seed=1)
    w_m, u_m = _scan_states(m, land, x0, 200, seed=1)
    # "η2 = 0 is exactly B2": same gradients (same keys), same arithmetic, + 0·g̃ exact
    np.testing.assert_array_equal(np.asarray(w_m), np.asarray(w_ref))
    np.testing.assert_array_equal(np.asarray(u_m), np.asarray(u_ref))
    # and η2 > 0 does change the path (the comparison above is not vacuous)
    w_c, _ = _scan_states(
        mass(0.05, 0.01, restart=True) if restart else mass(0.05, 0.01, 0.8), land, x0, 200, seed=1
    )
    assert np.abs(np.asarray(w_c) - np.asarray(w_ref)).max() > 1e-3


def test_mass_matches_the_three_variable_form_step_for_step():
    land = _regression_landscape(batch_size=4)
    x0 = jnp.asarray(np.random.default_rng(8).normal(size=(3, 5)))
    eta, alpha, kappa_tilde = 0.05, 0.1, 3.0
    # mapping derived in mass_three_variable's docstring, written out independently here
    delta = eta / (alpha * kappa_tilde)
    eta2 = (eta - alpha * delta) / (1 + alpha)
    gamma = (1 - alpha) / (1 + alpha)
    assert mass_parameters(eta, alpha, kappa_tilde) == pytest.approx((eta, eta2, gamma))
    w2, u2 = _scan_states(mass(eta, eta2, gamma), land, x0, 300, seed=2)
    w3, u3 = _scan_states(mass_three_variable(eta, alpha, kappa_tilde), land, x0, 300, seed=2)
    # different arithmetic (v is eliminated analytically): rounding ~1e-16 per step in a
    # stable (contracting) recurrence; 1e-11 relative to the iterate scale is generous
    scale = np.abs(np.asarray(w2)).max()
    np.testing.assert_allclose(np.asarray(w3), np.asarray(w2), rtol=0, atol=1e-11 * scale)
    np.testing.assert_allclose(np.asarray(u3), np.asarray(u2), rtol=0, atol=1e-11 * scale)


@pytest.mark.parametrize(
    "factory, kwargs, bad",
    [
        (nesterov, {"eta": -0.1}, "-0.1"),
        (nesterov, {"gamma": 1.0}, "1.0"),
        (restart_nesterov, {"eta": -2.0}, "-2.0"),
        (mass, {"eta1": -0.5}, "-0.5"),
        (mass, {"eta2": -0.25}, "-0.25"),
        (mass, {"gamma": 0.5, "restart": True}, "0.5"),
        (mass_three_variable, {"eta": 0.1, "alpha": 1.5, "kappa_tilde": 2.0}, "1.5"),
        (mass_three_variable, {"eta": 0.1, "alpha": 0.5, "kappa_tilde": 0.5}, "0.5"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_the_value(factory, kwargs, bad):
    with pytest.raises(ValueError, match=bad.replace(".", r"\.")):
        step = next(iter(inspect.signature(factory).parameters))  # the required step size
        factory(**{step: 1e-4, **kwargs})
