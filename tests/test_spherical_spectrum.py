"""The spectrum of C7's kernel overlap K by Funk–Hecke, against closed forms and against the
Gram matrix of the JAX kernel on a large uniform sample (issue 23)."""

import math

import jax
import numpy as np
import pytest

from mflab.spherical import kernel_overlap, uniform_sphere
from mflab.spherical.spectrum import (
    harmonic_multiplicity,
    overlap_eigenvalues,
    overlap_profile,
)


def test_multiplicities_are_the_dimensions_of_the_harmonic_spaces():
    for ell in range(8):
        assert harmonic_multiplicity(3, ell) == 2 * ell + 1
    for d in (4, 5, 10, 25):
        assert [harmonic_multiplicity(d, ell) for ell in range(3)] == \
            [1, d, d * (d + 1) // 2 - 1]
        # harmonics of degree ≤ L span the polynomials of degree ≤ L on the sphere
        for L in (3, 6):
            assert sum(harmonic_multiplicity(d, ell) for ell in range(L + 1)) == \
                math.comb(L + d - 1, d - 1) + math.comb(L + d - 2, d - 1)


def test_the_profile_is_the_jax_kernel_overlap():
    # two implementations of K = e^{−2αd} m_ν(s): scipy's I_ν here, the JAX recurrence there
    with jax.enable_x64(True):
        for d in (3, 5, 25):
            alpha = 5.0 / d
            z = np.asarray(uniform_sphere(jax.random.key(d), 40, d, dtype=np.float64))
            t = np.clip(z[:20] @ z[20:].T / d, -1, 1)
            np.testing.assert_allclose(overlap_profile(t, d, alpha),
                                       np.asarray(kernel_overlap(z[:20], z[20:], alpha)),
                                       rtol=1e-10)
            assert overlap_profile(-1.0, d, alpha) == pytest.approx(math.exp(-2 * alpha * d))


@pytest.mark.parametrize("d", [3, 5, 10, 25])
def test_mercer_trace_sums_the_eigenvalues_to_the_kernel_at_one(d):
    # Σ_ℓ N(d, ℓ) λ_ℓ = K(z, z) = K(1); the eigenvalues are positive and decreasing
    alpha = 5.0 / d
    lam = overlap_eigenvalues(d, alpha, 40)
    mult = np.array([harmonic_multiplicity(d, ell) for ell in range(41)])
    assert np.sum(mult * lam) == pytest.approx(float(overlap_profile(1.0, d, alpha)),
                                               rel=1e-7)
    top = lam[lam > 1e-11 * lam[0]]  # above the quadrature's floor (≈ 1e-13 λ_0)
    assert np.all(top > 0) and np.all(np.diff(top) < 0)
    # the quadrature has converged: twice the nodes, the same λ_ℓ
    np.testing.assert_allclose(overlap_eigenvalues(d, alpha, 6, n_nodes=400), lam[:7],
                               rtol=1e-9, atol=1e-15 * lam[0])


@pytest.mark.parametrize(("d", "n", "degrees"), [(5, 2000, 4), (25, 2000, 3)])
def test_funk_hecke_eigenvalues_are_the_gram_spectrum_of_a_large_sample(d, n, degrees):
    # the eigenvalues of K(z_i, z_j)/n for n uniform centres, taken in blocks of N(d, ℓ)
    # from the top, average to λ_ℓ (within 0.3–3.7 % here); their error shrinks at least
    # like n^(−1/2) (the finite-sample bias of a block of N(d, ℓ) like N/n), so a 4× larger
    # sample must do at least about twice as well
    alpha = 5.0 / d
    lam = overlap_eigenvalues(d, alpha, degrees)
    mult = [harmonic_multiplicity(d, ell) for ell in range(degrees)]

    def cluster_errors(n_, seed):
        with jax.enable_x64(True):
            z = uniform_sphere(jax.random.key(seed), n_, d, dtype=np.float64)
            ev = np.linalg.eigvalsh(np.asarray(kernel_overlap(z, z, alpha)) / n_)[::-1]
        edges = np.cumsum([0, *mult])
        means = [ev[a:b].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)]
        return np.abs(np.array(means) - lam[:degrees]) / lam[:degrees]

    err = cluster_errors(n, 1)
    assert np.all(err < 0.05), err
    err_small = np.mean([cluster_errors(n // 4, s) for s in (2, 3)], axis=0)
    assert np.max(err) < 0.75 * np.max(err_small), (err, err_small)


def test_relaxation_time_of_the_cubic_harmonics_grows_with_the_dimension_at_alpha_5_over_d():
    # τ_3 = 1/λ_3 of the weights' flow ∂_t c = F − T c: issue 23's explanation of why
    # d = 25 does not learn within t ≤ 100 (τ_3 ≈ 1.7e4 in d = 5, ≈ 2.4e8 in d = 25)
    tau = {d: 1.0 / overlap_eigenvalues(d, 5.0 / d, 3)[3] for d in (5, 25)}
    assert 1.6e4 < tau[5] < 1.8e4 and 2.3e8 < tau[25] < 2.5e8
