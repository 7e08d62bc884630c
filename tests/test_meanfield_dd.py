"""Distributional-dynamics particle solver: reduction, integrator order, agreement with SGD,
density estimate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import trapezoid

import mflab  # noqa: F401
from mflab.errors import DivergenceError
from mflab.meanfield import (
    IsotropicGaussians,
    histogram_density,
    sigma_a1,
    sigma_a2,
    unit_a,
)
from mflab.meanfield.dd import (
    DDSystem,
    FullDD,
    RadialDD,
    cosine_moments,
    radial_density,
    radial_quantiles,
    radial_ubar,
    richardson,
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


@pytest.mark.slow
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


@pytest.mark.slow
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


# ----------------------------------------------------------------- the cone point of A2
A2 = unit_a(sigma_a2())
A2_DATA = IsotropicGaussians(0.5, 320)  # SPEC A2 paper scale; the start κ = 0.1 collapses
A2_SYS = RadialDD(A2, A2_DATA)  # one instance: jitted solves are cached across the tests


class Reflected(RadialDD):
    """The scheme without projection: radii cross 0 (the even extension of the dynamics)."""

    def project(self, r):
        return r


def test_gradient_at_zero_is_the_right_derivative():
    # the Filippov step needs ψ'(0+) at r = 0 exactly (finite, not NaN): jax.grad of the
    # energy against a one-sided difference quotient (h = 1e-7: truncation O(h) ≈ 1e-7)
    energy = jax.jit(A2_SYS.energy)
    grad = jax.jit(jax.grad(A2_SYS.energy))
    for rest in (0.0, 2.088, 3.0):
        r = jnp.asarray([0.0] + [rest] * 9)
        g = float(grad(r)[0])
        fd = float((energy(r.at[0].set(1e-7)) - energy(r)) / 1e-7)
        assert np.isfinite(g) and abs(g - fd) < 1e-5, (rest, g, fd)


def test_cone_point_keeps_the_scheme_order_and_reaches_the_zero_network():
    # κ = 0.1 from the SPEC A2 start: every radius falls into 0 by t ≈ 0.015 and stays
    # there (ψ'(0+) > 0: the one-sided velocity points into 0), so R → 1 + σ(0)² = 7.25.
    # With the projected (Filippov) step the error during the collapse is second order
    # (Heun); radii never go negative. Reference: dt/32 (its error ≈ 4e-9 ≪ the errors).
    sys_ = A2_SYS
    r0 = radial_quantiles(16, 320, 0.1)
    dts = [1e-3, 5e-4, 2.5e-4]
    ref = solve_dd(sys_, r0, t_max=0.03, dt=dts[0] / 32, n_records=31)
    runs = [solve_dd(sys_, r0, t_max=0.03, dt=h, n_records=31) for h in dts]
    errs = [np.max(np.abs(r.risk - ref.risk)) for r in runs]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert abs(slope - 2) < 0.3, (errs, slope)
    for r in runs + [ref]:
        assert np.all(r.particles >= 0) and np.all(r.particles[-1] == 0)
        assert abs(r.risk[-1] - 7.25) < 1e-12


def test_unit_at_zero_leaves_when_the_cone_points_outward():
    # with the other units at r = 3, ψ'(0+) ≈ −0.28 < 0 (test above, with 9 of 10 there):
    # the unit at 0 leaves it; with them at r* = 2.088, ψ'(0+) ≈ +0.28 > 0 and it stays at 0.
    # (16 radii over t ≤ 0.03 in 30 records, as the next test: one compilation serves both)
    out = solve_dd(A2_SYS, np.array([0.0] + [3.0] * 15), t_max=0.03, dt=1e-3, n_records=31)
    stay = solve_dd(A2_SYS, np.array([0.0] + [2.088] * 15), t_max=0.03, dt=1e-3,
                    n_records=31)
    assert out.particles[-1][0] > 0.005 and np.all(stay.particles[:, 0] == 0.0)


def test_richardson_covers_a_first_order_error_with_known_limit():
    # The scheme without projection chatters across r = 0 with amplitude ∝ dt, so its
    # final risk (t = 0.03, after the collapse) has a first-order error against the known
    # limit 7.25. The estimate from three step sizes with the observed order covers it
    # (and is within 2× of it); the difference to dt/2 alone (an order-2 assumption would
    # take a third of it) reports only about half.
    sys_ = Reflected(A2, A2_DATA)
    r0 = radial_quantiles(16, 320, 0.1)
    R = [solve_dd(sys_, r0, t_max=0.03, dt=h, n_records=31).risk[-1:]
         for h in (1e-3, 5e-4, 2.5e-4)]
    p, err, _ = richardson(*R, order_max=2)
    true = abs(R[0][0] - 7.25)
    assert abs(p - 1) < 0.25 and true <= err < 2 * true, (p, err, true)
    assert abs(R[0][0] - R[1][0]) < 0.6 * true


def _a2_start(M):
    return radial_quantiles(M, 320, 0.1)


def _true_error_at_the_cone_point(res, h):
    """max over the collapse t ≤ 0.03 of |R − R_ref| for the solve ``res`` (M = 16, step h):
    the reference extrapolated in dt (h/8, h/16 with order 2) and in M (2M, 4M with the
    observed order)."""
    def run(M, dt):
        return solve_dd(A2_SYS, _a2_start(M), t_max=0.03, dt=dt, n_records=31).risk

    a, b = run(16, h / 8), run(16, h / 16)
    ref_dt = b + (b - a) / 3
    m1, m2, m4 = b, run(32, h / 16), run(64, h / 16)
    order_M = np.log2(np.max(np.abs(m1 - m2)) / np.max(np.abs(m2 - m4)))
    ref_M = m4 + (m4 - m2) / (2**order_M - 1)
    return np.max(np.abs((res.risk - ref_dt) + (m1 - ref_M)))


@pytest.mark.slow
def test_error_estimate_covers_the_true_error_at_the_cone_point():
    # the projected scheme's own estimate (dt/2, dt/4 and M/2, 2M; observed orders) against
    # the extrapolated reference: it covers the true error, within a factor 4
    res = solve_dd(A2_SYS, _a2_start(16), t_max=0.03, dt=1e-3, n_records=31,
                   refine=_a2_start)
    true = _true_error_at_the_cone_point(res, 1e-3)
    assert abs(res.order_dt - 2) < 0.3
    assert true <= res.err_risk < 4 * true, (res.err_risk, true, res.err_dt, res.err_M)


@pytest.mark.slow
def test_coarsened_error_estimate_covers_the_true_error_at_the_cone_point():
    # the cheap estimate (2dt, dt/2 and M/4, M/2 around the solve: ~¼ of the refining
    # one's cost) against the same reference, at dt = 5e-4 (2dt divides the record
    # interval): it too covers the true error, within a factor 4
    sys_, q, h = A2_SYS, _a2_start, 5e-4
    res = solve_dd(sys_, q(16), t_max=0.03, dt=h, n_records=31, refine=q,
                   error_sequence="coarsen")
    true = _true_error_at_the_cone_point(res, h)
    assert abs(res.order_dt - 2) < 0.3
    assert true <= res.err_risk < 4 * true, (res.err_risk, true, res.err_dt, res.err_M)
    with pytest.raises(ValueError, match="even multiple of dt"):
        solve_dd(sys_, q(16), t_max=0.03, dt=1e-3, n_records=31, refine=q,
                 error_sequence="coarsen")
    with pytest.raises(ValueError, match="multiple of 4"):
        solve_dd(sys_, q(6), t_max=0.03, dt=h, n_records=31, refine=q,
                 error_sequence="coarsen")


def test_the_solver_in_short_calls_equals_one_long_call(monkeypatch):
    # issue 26, case 2: the DD advances in compiled calls of ≤ CHUNK_STEPS steps (so that
    # progress shows and Ctrl-C stops it); cutting it changes nothing
    import mflab.meanfield.dd as dd
    from mflab.meanfield import IsotropicGaussians, RadialDD, radial_quantiles, sigma_a2, unit_a

    with jax.enable_x64(True):
        units, data = unit_a(sigma_a2()), IsotropicGaussians(0.5, 10)
        system, r0 = RadialDD(units, data), radial_quantiles(16, 10, 0.4)
        one = dd.solve_dd(system, r0, t_max=2.0, dt=0.01, n_records=11)  # 20 steps a record
        monkeypatch.setattr(dd, "CHUNK_STEPS", 30)  # pieces of records and whole records
        cut = dd.solve_dd(system, r0, t_max=2.0, dt=0.01, n_records=11)
    np.testing.assert_array_equal(cut.particles, one.particles)
    np.testing.assert_array_equal(cut.risk, one.risk)
    assert np.all(np.diff(one.risk) <= 1e-12)  # gradient flow of the risk: it decreases


@pytest.mark.slow
def test_the_error_estimates_solves_as_dask_jobs_equal_the_serial_ones():
    # the independent solves of both estimates sent to a loopback cluster of 2 workers give
    # the same estimate, bit for bit, as the solves run here one after the other (the
    # workers compute in float32 unless a job enables float64 itself, as these must)
    pytest.importorskip("dask.distributed")
    from mflab.runs.executor import DaskExecutor

    q = _a2_start
    cases = [("refine", 1e-3), ("coarsen", 5e-4)]
    fields = ("risk", "err_risk", "err_mean_norm", "err_dt", "err_M", "order_dt", "order_M")
    with jax.enable_x64(True):
        here = [solve_dd(A2_SYS, q(16), t_max=0.03, dt=h, n_records=31, refine=q,
                         error_sequence=seq) for seq, h in cases]
        with DaskExecutor("local:2") as ex:
            there = [solve_dd(A2_SYS, q(16), t_max=0.03, dt=h, n_records=31, refine=q,
                              error_sequence=seq, executor=ex) for seq, h in cases]
            busy = ex.busy()
    for a, b in zip(here, there, strict=True):
        assert a.risk.dtype == np.float64 and np.isfinite(a.err_risk) and a.err_risk > 0
        for f in fields:
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert sum(r["tasks"] for r in busy if r["task"] == "_Solve") == 8  # 4 solves each


class _Relaxation(DDSystem):
    """ẋ_j = −λ x_j (F = (λ/4) Σ x²): Heun is stable for λ dt ≤ 2 and diverges beyond."""

    lam = 1000.0

    def energy(self, x):
        return 0.25 * self.lam * jnp.sum(x * x)

    def risk(self, x):
        return jnp.mean(x * x)

    def mean_norm(self, x):
        return jnp.mean(jnp.abs(x))


def test_a_coarsened_estimate_whose_2dt_solve_diverges_refines_instead():
    # λ dt = 1.5 is stable, 2λ dt = 3 is not (Heun's factor 1 − z + z²/2 = 2.5 per step,
    # overflowing within the 1000 steps of 2dt): the "coarsen" estimate then takes dt/2 and
    # dt/4, i.e. the very time-step error of the "refine" estimate
    sys_ = _Relaxation()

    def init(M):
        return 1.0 + (np.arange(M) + 0.5) / M

    with jax.enable_x64(True):
        with pytest.raises(DivergenceError):
            solve_dd(sys_, init(8), t_max=3.0, dt=3e-3, n_records=11)
        fine, coarse = (solve_dd(sys_, init(8), t_max=3.0, dt=1.5e-3, n_records=11,
                                 refine=init, error_sequence=seq)
                        for seq in ("refine", "coarsen"))
    assert np.isfinite(coarse.err_dt) and coarse.err_dt > 0
    assert (coarse.err_dt, coarse.order_dt) == (fine.err_dt, fine.order_dt)
    np.testing.assert_array_equal(coarse.risk, fine.risk)
