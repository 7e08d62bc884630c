"""The closed forms of SPEC C7 against independent references and ≥ 10⁶-point Monte Carlo.

* the sphere's moment generating function m_ν against ``scipy.special.ive`` and against
  direct quadrature of E e^{s t}, t = x_1/√d with density ∝ (1 − t²)^{(d−3)/2};
* E f², F(z), K(z, z') and the loss L against Monte Carlo over 10⁶ uniform points, each
  within 5 standard errors of the estimate. Why 5: the estimates are means of 10⁶ iid
  terms with finite variance, so (estimate − truth)/SE is N(0, 1) to within the CLT's
  O(10⁻³) error, and |N(0,1)| > 5 has probability 6e-7 — over the ~200 comparisons here a
  false alarm has probability ~1e-4, while a wrong constant factor, sign or Bessel order
  shifts these quantities by many standard errors (the SEs are 0.1 %–1 % of the values).
"""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special

from mflab.spherical import (
    KernelParams,
    exact_loss,
    gaussian_kernel,
    kernel_network,
    kernel_overlap,
    kernel_quadratic,
    log_mgf_and_ratios,
    log_sphere_mgf,
    scaled_sphere_mgf,
    target_overlap,
    three_spin,
    three_spin_couplings,
    three_spin_second_moment,
    uniform_sphere,
)

N_MC = 1_000_000
CHUNK = 100_000
Z_SCORE = 5.0


def log_m_scipy(d, s):
    """log[Γ(ν+1) (2/s)^ν I_ν(s)], ν = d/2 − 1, from scipy's scaled Bessel function."""
    nu = d / 2 - 1
    return special.gammaln(nu + 1) + nu * np.log(2 / s) + np.log(special.ive(nu, s)) + s


# ---------------------------------------------------------------- the Bessel part


@pytest.mark.parametrize("d", [3, 4, 5, 6, 10, 11, 25, 26, 40, 101])
@pytest.mark.parametrize("s_max", [10.0, 100.0, 1000.0])
def test_log_mgf_and_ratios_match_scipy(d, s_max):
    s = np.concatenate([[1e-3, 0.1, 1.0], np.linspace(0, s_max, 40)[1:]])
    log_m, ratios = log_mgf_and_ratios(jnp.asarray(s * s), d, s_max, 3)
    ref = log_m_scipy(d, s)
    # ours: rounding of ~d/2 positive factors, ~d·eps relative. The reference cancels
    # ν log(2/s) against log ive (≈ 30 at s = 1e-3, d = 11), so it carries an absolute
    # error ~ν·|log s|·eps ≲ 1e-13 where log m_ν ≈ s²/(2d) is tiny.
    np.testing.assert_allclose(log_m, ref, rtol=1e-13, atol=1e-13)
    nu = d / 2 - 1
    for k, rho in enumerate(ratios):
        ref_rho = special.ive(nu + k + 1, s) / special.ive(nu + k, s) / s
        np.testing.assert_allclose(rho, ref_rho, rtol=1e-12)
    # e^{−s_max} m_ν(s), the form used for K; compare where it does not underflow
    scaled = scaled_sphere_mgf(jnp.asarray(s * s), d, s_max, s_max)
    ok = ref - s_max > -600
    np.testing.assert_allclose(np.asarray(scaled)[ok], np.exp(ref - s_max)[ok], rtol=1e-12)


@pytest.mark.parametrize("d", [3, 26])
@pytest.mark.parametrize("s_max", [10.0, 1000.0])
def test_float32_stays_finite_and_accurate(d, s_max):
    s = np.linspace(0, s_max, 30)[1:]
    log_m, (rho,) = log_mgf_and_ratios(jnp.asarray(s * s, jnp.float32), d, s_max, 1)
    assert log_m.dtype == jnp.float32 and rho.dtype == jnp.float32
    # log m_ν = log m_{ν0}(s) + log(m_ν/m_{ν0}): two terms of size ≤ s, so the error is
    # absolute, a few float32 ulps (6e-8) of s (i.e. relative in m_ν itself)
    eps = np.finfo(np.float32).eps
    assert np.all(np.abs(np.asarray(log_m) - log_m_scipy(d, s)) <= 8 * eps * (1 + s))
    np.testing.assert_allclose(rho, special.ive(d / 2, s) / special.ive(d / 2 - 1, s) / s,
                               rtol=2e-6)


@pytest.mark.parametrize("d", [3, 4, 7, 12])
def test_mgf_is_the_moment_generating_function_of_the_sphere(d):
    """E_μ e^{v·x} = E e^{s t}, t = x_1/√d with density ∝ (1 − t²)^{(d−3)/2}: quadrature."""
    def density(t):  # unnormalised law of t = x_1/√d
        return (1 - t * t) ** ((d - 3) / 2)

    den = integrate.quad(density, -1, 1, epsabs=0, epsrel=1e-13)[0]
    for s in [0.0, 0.7, 4.0, 15.0]:
        num = integrate.quad(lambda t, s=s: density(t) * np.exp(s * (t - 1)), -1, 1,
                             epsabs=0, epsrel=1e-13)[0]
        expected = math.log(num / den) + s  # log E e^{st}, computed as log E e^{s(t−1)} + s
        assert float(log_sphere_mgf(jnp.asarray(s * s), d, 20.0)) == pytest.approx(
            expected, rel=1e-10, abs=1e-12
        )


@pytest.mark.parametrize("d", [3, 4, 9, 25])
def test_derivatives_match_finite_differences_of_scipy(d):
    s_max = 30.0
    u = np.array([0.5, 9.0, 100.0, 800.0])
    g_log = jax.vmap(jax.grad(lambda v: log_sphere_mgf(v, d, s_max)))(jnp.asarray(u))
    g_scaled = jax.vmap(jax.grad(lambda v: scaled_sphere_mgf(v, d, s_max, s_max)))(jnp.asarray(u))
    h = 1e-4 * u
    fd = (log_m_scipy(d, np.sqrt(u + h)) - log_m_scipy(d, np.sqrt(u - h))) / (2 * h)
    # central difference of a smooth function, step 1e-4 u: relative error ≲ 1e-8
    np.testing.assert_allclose(g_log, fd, rtol=1e-7)
    np.testing.assert_allclose(g_scaled, fd * np.exp(log_m_scipy(d, np.sqrt(u)) - s_max), rtol=1e-7)
    # at u = 0: m_ν = E e^{st} = 1 + s² E t²/2 + …, E t² = 1/d, so d/du log m_ν = 1/(2d)
    at_zero = jax.grad(lambda v: log_sphere_mgf(v, d, s_max))(0.0)
    assert float(at_zero) == pytest.approx(1 / (2 * d), rel=1e-14)


# ---------------------------------------------------------------- Monte Carlo


@partial(jax.jit, static_argnums=(4, 5))
def monte_carlo_sums(key, a, z, cs, alphas, n_chunks):
    """Σ and Σ² over n_chunks × CHUNK uniform points of f², f φ_i, φ_i φ_j, ½(f − f_n)²,
    for each α in ``alphas`` (weights ``cs[k]`` for the k-th α). One compiled scan."""
    d = a.shape[0]

    def terms(x):
        f = three_spin(a, x)
        out = {"f2": f * f}
        for k, alpha in enumerate(alphas):
            phi = gaussian_kernel(x, z, alpha)  # (m, n)
            res = f - phi @ cs[k] / z.shape[0]
            out[f"F{k}"] = f[:, None] * phi
            out[f"K{k}"] = phi[:, :, None] * phi[:, None, :]
            out[f"L{k}"] = 0.5 * res * res
        return out

    def body(acc, i):
        x = uniform_sphere(jax.random.fold_in(key, i), CHUNK, d, jnp.float64)
        t = terms(x)
        return {k: (acc[k][0] + jnp.sum(v, 0), acc[k][1] + jnp.sum(v * v, 0))
                for k, v in t.items()}, None

    shapes = jax.eval_shape(terms, jnp.zeros((1, d)))
    init = {k: (jnp.zeros(v.shape[1:]), jnp.zeros(v.shape[1:])) for k, v in shapes.items()}
    return jax.lax.scan(body, init, jnp.arange(n_chunks))[0]


def mean_and_se(sums, n):
    s1, s2 = (np.asarray(v) for v in sums)
    mean = s1 / n
    return mean, np.sqrt(np.maximum(s2 / n - mean**2, 0.0) / n)


def z_scores(exact, estimate):
    mean, se = estimate
    return np.abs(np.asarray(exact) - mean) / se


@pytest.mark.parametrize("d", [3, 5, 10])
def test_closed_forms_against_monte_carlo(d):
    a = three_spin_couplings(jax.random.key(100 + d), d, jnp.float64)
    z = uniform_sphere(jax.random.key(200 + d), 5, d, jnp.float64)
    z = jnp.concatenate([z, -z[:1]])  # an antipodal pair: s = 0 in K; and z' = z: s = 2αd
    n = z.shape[0]
    alphas = (1.0 / d, 5.0 / d, 2.0)
    Fs = [target_overlap(z, a, alpha) for alpha in alphas]
    Ks = [kernel_overlap(z, z, alpha) for alpha in alphas]
    # weights: the best ones for these centres, c* = n K⁻¹ F, so that f_n follows f and
    # the three terms of L largely cancel (a harder test than a loss ≈ E f²/2)
    cs = tuple(n * jnp.linalg.solve(K, F) for K, F in zip(Ks, Fs, strict=True))
    sums = monte_carlo_sums(jax.random.key(300 + d), a, z, cs, alphas, N_MC // CHUNK)
    est = {k: mean_and_se(v, N_MC) for k, v in sums.items()}
    second_moment = three_spin_second_moment(a)
    assert z_scores(second_moment, est["f2"]) < Z_SCORE
    off_antipodal = np.ones((n, n), dtype=bool)
    off_antipodal[0, n - 1] = off_antipodal[n - 1, 0] = False
    for k, alpha in enumerate(alphas):
        assert z_scores(Fs[k], est[f"F{k}"]).max() < Z_SCORE, (d, alpha)
        # φ(x, z) φ(x, −z) = e^{−2αd} for every x: no variance, an exact identity instead
        np.testing.assert_allclose(Ks[k][0, n - 1], np.exp(-2 * alpha * d), rtol=1e-14)
        mean, se = est[f"K{k}"]
        k_est = (mean[off_antipodal], se[off_antipodal])
        assert z_scores(np.asarray(Ks[k])[off_antipodal], k_est).max() < Z_SCORE, (d, alpha)
        loss = exact_loss(KernelParams(cs[k], z), a, alpha)
        assert z_scores(loss, est[f"L{k}"]) < Z_SCORE, (d, alpha)
        assert float(loss) < 0.5 * float(second_moment)
    # f_n is the Gaussian-kernel network, which on the sphere is (1/n) Σ c_i e^{α(x·z_i − d)}
    x = uniform_sphere(jax.random.key(1), 3, d, jnp.float64)
    np.testing.assert_allclose(
        kernel_network(KernelParams(cs[0], z), x, alphas[0]),
        jnp.exp(alphas[0] * (x @ z.T - d)) @ cs[0] / n, rtol=1e-12,
    )


# -------------------------------------------------------------- K in row blocks


def test_blocked_quadratic_equals_the_whole_matrix_and_bounds_memory():
    """cᵀKc formed 8 rows at a time (n = 37: four full blocks and a padded one) equals the
    whole-matrix product, and so do the loss's gradients in c and z, to rounding; at
    n = 512 the compiled loss-and-gradient needs a fraction of the whole matrix's scratch
    memory, less than one n × n matrix (XLA's own accounting)."""
    d, alpha = 5, 1.0
    a = three_spin_couplings(jax.random.key(11), d)
    z = uniform_sphere(jax.random.key(12), 37, d, jnp.float64)
    c = jax.random.normal(jax.random.key(13), (37,), jnp.float64)
    whole = float(c @ kernel_overlap(z, z, alpha) @ c)
    assert float(kernel_quadratic(c, z, alpha, rows=8)) == pytest.approx(whole, rel=1e-13)

    def grads(rows):
        return jax.grad(lambda p: exact_loss(p, a, alpha, rows))(KernelParams(c, z))

    g_whole, g_blocks = grads(None), grads(8)
    for u, v in ((g_whole.c, g_blocks.c), (g_whole.z, g_blocks.z)):
        np.testing.assert_allclose(v, u, rtol=1e-11, atol=1e-13 * float(jnp.abs(u).max()))

    big = KernelParams(jnp.ones(512), uniform_sphere(jax.random.key(14), 512, d,
                                                      jnp.float64))

    def scratch(rows):
        f = jax.jit(jax.value_and_grad(lambda p: exact_loss(p, a, alpha, rows)))
        return f.lower(big).compile().memory_analysis().temp_size_in_bytes

    one_matrix = 512 * 512 * 8
    assert scratch(None) > 2 * one_matrix  # the whole K and its cotangent at least
    assert scratch(64) < one_matrix  # never the whole K
