"""Distributional-dynamics particle solver: reduction, integrator order, agreement with SGD,
density estimate."""

import jax.numpy as jnp
import numpy as np
from scipy.integrate import trapezoid

import mflab  # noqa: F401
from mflab.meanfield import (
    IsotropicGaussians,
    histogram_density,
    sigma_a1,
    unit_a,
)
from mflab.meanfield.dd import (
    FullDD,
    RadialDD,
    cosine_moments,
    radial_density,
    radial_quantiles,
    radial_ubar,
    solve_dd,
)

UNITS = unit_a(sigma_a1())


def test_cosine_moments_closed_form():
    # d = 3: c is uniform on [−1, 1], E c^{2k} = 1/(2k+1); d = 2: E cos^{2k} = C(2k,k)/4^k.
    m3 = cosine_moments(3, 9)
    assert np.allclose(m3[::2], 1 / (2 * np.arange(5) + 1), rtol=1e-14)
    assert np.all(m3[1::2] == 0)
    m2 = cosine_moments(2, 9)
    assert np.allclose(m2[::2], [1, 1 / 2, 3 / 8, 5 / 16, 35 / 128], rtol=1e-14)


def test_series_and_jacobi_ubar_agree():
    # Two independent evaluations of ū_d at d = 20: Mehler series × exact cosine moments vs
    # Gauss–Jacobi (24 nodes) of the pair quadrature; both errors are < 1e-12 here.
    data = IsotropicGaussians(0.8, 20)
    r = jnp.asarray(radial_quantiles(7, 20, 1.5))
    a = radial_ubar(UNITS, data, r, r, method="series")
    b = radial_ubar(UNITS, data, r, r, method="jacobi")
    assert float(jnp.max(jnp.abs(a - b))) < 1e-10


def test_reduced_equals_unreduced_dd_in_d2():
    # d = 2: K radii, each carried by P = 10 equally spaced directions (a configuration the
    # unreduced DD keeps, by rotation equivariance). The unreduced interaction then averages
    # U over those 10 angles (periodic trapezoid rule) instead of the exact cosine law. At
    # t = 0 that angular quadrature differs by 3.9e-4 in R; we allow 1e-3 along the run.
    data = IsotropicGaussians(0.8, 2)
    K, P = 6, 10
    r = radial_quantiles(K, 2, 0.8)
    ang = 2 * np.pi * np.arange(P) / P
    W = np.concatenate(
        [np.stack([ri * np.cos(ang + 0.37 * i), ri * np.sin(ang + 0.37 * i)], 1)
         for i, ri in enumerate(r)]
    )
    red = solve_dd(RadialDD(UNITS, data), r, t_max=1.0, dt=0.05, n_records=3)
    full = solve_dd(FullDD(UNITS, data), W, t_max=1.0, dt=0.05, n_records=3)
    assert red.risk[-1] < red.risk[0] - 0.5  # the dynamics moved the risk substantially
    assert np.max(np.abs(red.risk - full.risk)) < 1e-3
    assert np.max(np.abs(red.mean_norm - full.mean_norm)) < 1e-3


def test_integrator_orders():
    # Global error at t = 1 vs a fine RK4 reference: log-log slope ≈ 2 (Heun), ≈ 4 (RK4).
    data = IsotropicGaussians(0.8, 20)
    sys_ = RadialDD(UNITS, data)
    r0 = radial_quantiles(16, 20, 0.8)
    ref = solve_dd(sys_, r0, t_max=1.0, dt=1 / 256, n_records=2, scheme="rk4").particles[-1]
    for scheme, dts, order in (("heun", [1 / 8, 1 / 16, 1 / 32], 2), ("rk4", [1 / 4, 1 / 8], 4)):
        errs = [np.max(np.abs(solve_dd(sys_, r0, t_max=1.0, dt=h, n_records=2,
                                       scheme=scheme).particles[-1] - ref)) for h in dts]
        slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
        # asymptotic regime: slopes within ±0.4 of the order (pre-asymptotic terms)
        assert abs(slope - order) < 0.4, (scheme, errs, slope)


def test_solver_reports_discretisation_error():
    data = IsotropicGaussians(0.8, 20)
    res = solve_dd(RadialDD(UNITS, data), radial_quantiles(40, 20, 0.8), t_max=1.0, dt=0.1,
                   n_records=3, refine=lambda M: radial_quantiles(M, 20, 0.8))
    assert np.isfinite(res.err_risk) and 0 < res.err_risk < 0.05


def test_radial_density_mass_and_sign():
    r = radial_quantiles(300, 20, 0.8)
    grid = np.linspace(0, 3, 3001)
    dens = radial_density(r, grid)
    assert np.all(dens >= 0)
    # reflected KDE: mass 1 on [0, ∞); the grid stops at 3 ≫ max r + 5h, trapezoid error ~1e-7
    assert abs(trapezoid(dens, grid) - 1) < 1e-5
    h, inside = histogram_density(r, np.linspace(0, 3, 31))
    assert np.all(h >= 0) and inside == 1.0
    assert abs(np.sum(h * 0.1) - 1) < 1e-12
