"""Liu & Belkin's MaSS parameters and the curvature constants they need, against theory:
the closed forms of Gaussian features (L₁ = tr H + 2λ_max, κ̃ = p + 2), a dense
eigen-solve of the full Jacobian for a network, and their Theorem 2 — MaSS at these
parameters contracts at least like 1 − 1/√(κ_m κ̃_m), far faster than SGD at 1/L₁(m),
while Nesterov at the same (η, γ) diverges (their §3 example of non-acceleration)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.meanfield import sigma_a2, unit_a
from mflab.optimizers import liu_belkin_mass, mass_parameters, tangent_curvature


def _linear(p, x):
    return x @ p


def test_gaussian_features_give_the_closed_forms_on_every_top_subspace():
    """x ~ N(0, diag(λ)): E[‖x‖² x xᵀ] = tr H · H + 2H², so L₁(j) = tr H + 2λ₁ for every
    top-j space (the full ‖x‖² weighs each direction), and E[‖z‖²_{Λ⁻¹} z zᵀ] = (j + 2)Λ,
    so κ̃(j) = j + 2. From n = 200 000 samples the fourth moments have ~0.5 % error."""
    lam = np.array([1.0, 0.3, 0.05, 0.01])
    x = jnp.sqrt(jnp.asarray(lam)) * jax.random.normal(jax.random.key(0), (200_000, 4))
    tc = tangent_curvature(_linear, jnp.zeros(4), x, modes=3, chunk=8192)
    np.testing.assert_allclose(tc.lam, lam[:3], rtol=0.02)
    np.testing.assert_allclose(tc.L1, lam.sum() + 2 * lam[0], rtol=0.02)
    np.testing.assert_allclose(tc.kappa_tilde, [3.0, 4.0, 5.0], rtol=0.02)
    assert tc.trace == pytest.approx(lam.sum(), rel=0.01)
    twice = tangent_curvature(_linear, jnp.zeros(4), x[:5000], modes=3, loss_scale=2.0)
    once = tangent_curvature(_linear, jnp.zeros(4), x[:5000], modes=3)
    np.testing.assert_allclose(twice.L1, 2 * once.L1, rtol=1e-9)  # curvatures scale,
    np.testing.assert_allclose(twice.kappa_tilde, once.kappa_tilde, rtol=1e-9)  # κ̃ not


def test_network_constants_equal_the_dense_jacobian():
    """A two-layer network: the top eigenpairs of H_n = JᵀJ/n, and L₁(j), κ̃(j) from their
    definitions written out with the full Jacobian J (numpy), sample by sample."""
    k1, k2 = jax.random.split(jax.random.key(3))
    units = unit_a(sigma_a2())
    predict = lambda th, xb: jnp.mean(units(th, xb), axis=0)  # noqa: E731
    params = 0.4 * jax.random.normal(k1, (6, 5))
    x = jax.random.normal(k2, (40, 5))
    tc = tangent_curvature(predict, params, x, modes=4, chunk=16, tol=1e-12)
    J = np.asarray(jax.jacrev(lambda p: predict(p, x))(params)).reshape(40, -1)
    lam, V = np.linalg.eigh(J.T @ J / 40)
    lam, V = lam[::-1][:4], V[:, ::-1][:, :4]
    np.testing.assert_allclose(tc.lam, lam, rtol=1e-8)
    for j in range(1, 5):
        z = J @ V[:, :j]
        W = np.diag(lam[:j] ** -0.5)
        m1 = sum(np.sum(J[i] ** 2) * np.outer(z[i], z[i]) for i in range(40)) / 40
        m2 = sum((z[i] @ (z[i] / lam[:j])) * np.outer(z[i], z[i]) for i in range(40)) / 40
        assert tc.L1[j - 1] == pytest.approx(np.linalg.eigvalsh(W @ m1 @ W)[-1], rel=1e-7)
        assert tc.kappa_tilde[j - 1] == pytest.approx(np.linalg.eigvalsh(W @ m2 @ W)[-1],
                                                      rel=1e-7)


def test_the_parameters_follow_their_formulas_and_limits():
    p = liu_belkin_mass(1, L1=3.0, L=1.0, mu=1e-3, kappa_tilde=6.0)
    assert p.L1_m == 3.0 and p.kappa_m == pytest.approx(3000.0)
    assert p.alpha == pytest.approx(1 / np.sqrt(3000 * 6))
    assert (p.eta1, p.eta2, p.gamma) == pytest.approx(mass_parameters(1 / 3.0, p.alpha, 6.0))
    big = liu_belkin_mass(10**9, L1=3.0, L=1.0, mu=1e-3, kappa_tilde=6.0)
    assert big.L1_m == pytest.approx(1.0)  # saturation: L₁(m) → L, κ̃_m → 1, η2 → 0:
    assert big.kappa_tilde_m == pytest.approx(1.0)  # Nesterov with its deterministic
    assert big.eta2 == pytest.approx(0.0, abs=1e-8)  # parameters
    assert big.alpha == pytest.approx(1 / np.sqrt(1000.0), rel=1e-6)


@pytest.mark.parametrize("bad, match", [
    ({"mu": 2.0}, "mu <= L <= L1"), ({"L1": 0.5}, "mu <= L <= L1"),
    ({"kappa_tilde": 0.5}, "kappa_tilde must be >= 1"), ({"mu": 0.0}, "mu")])
def test_bad_constants_are_refused(bad, match):
    args = {"L1": 3.0, "L": 1.0, "mu": 1e-3, "kappa_tilde": 6.0} | bad
    with pytest.raises(ValueError, match=match):
        liu_belkin_mass(1, **args)


def _run(lam, m, eta1, eta2, gamma, steps, seeds=256):
    """E‖w_t − w*‖² of the two-variable MaSS (η2 = 0: Nesterov; γ = η2 = 0: SGD) on the
    noiseless linear regression y = w*ᵀx, x ~ N(0, diag(λ)), plain numpy over seeds."""
    rng = np.random.default_rng(0)
    p = len(lam)
    w = np.zeros((seeds, p))
    u = w.copy()
    out = np.empty(steps)
    for t in range(steps):
        x = rng.standard_normal((seeds, m, p)) * np.sqrt(lam)
        g = np.einsum("sm,smp->sp", np.einsum("smp,sp->sm", x, u - 1.0), x) / m
        w_new = u - eta1 * g
        u = (1 + gamma) * w_new - gamma * w + eta2 * g
        w = w_new
        out[t] = np.mean(np.sum((w - 1.0) ** 2, axis=1))
    return out


def _rate(err, a, b):
    return -(np.log(err[b - 1]) - np.log(err[a - 1])) / (b - a)


def test_mass_at_liu_belkin_parameters_accelerates_where_nesterov_diverges():
    """λ = (1, 0.1, 0.01, 0.001), m = 1: L₁ = tr H + 2 = 3.111, κ₁ = 3111, κ̃ = 6. Theorem 2
    bounds MaSS's contraction by 1 − 1/√(κ₁κ̃) (rate ≥ 0.0073 per step, against SGD's
    1/κ₁ = 3.2e-4): measured over steps 1000–3000 on 256 seeds. Nesterov with the same
    η = 1/L₁ and γ (η2 = 0) blows up — Liu & Belkin's point that its step must shrink."""
    lam = np.array([1.0, 0.1, 0.01, 0.001])
    lb = liu_belkin_mass(1, L1=lam.sum() + 2 * lam[0], L=1.0, mu=1e-3, kappa_tilde=6.0)
    mass = _rate(_run(lam, 1, lb.eta1, lb.eta2, lb.gamma, 3000), 1000, 3000)
    sgd = _rate(_run(lam, 1, lb.eta1, 0.0, 0.0, 3000), 1000, 3000)
    assert mass >= 1 - lb.rate  # the theorem's bound
    assert mass > 10 * sgd  # √(κ/κ̃) = 23 in the bounds
    assert sgd >= 1 - lb.rate_sgd
    nesterov = _run(lam, 1, lb.eta1, 0.0, lb.gamma, 300)
    assert nesterov[-1] > 1e6 * nesterov[0]


def test_at_picks_the_modes_above_mu():
    tc = tangent_curvature(_linear, jnp.zeros(4),
                           jnp.sqrt(jnp.array([1.0, 0.3, 0.05, 0.01]))
                           * jax.random.normal(jax.random.key(1), (4000, 4)), modes=3)
    assert tc.at(0.2)["modes"] == 2 and not tc.at(0.2)["capped"]
    assert tc.at(10.0)["modes"] == 1  # at least the top one
    assert tc.at(1e-3)["modes"] == 3 and tc.at(1e-3)["capped"]
    assert tc.at(0.2)["kappa_tilde"] == tc.kappa_tilde[1]
