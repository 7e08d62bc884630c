"""Reduced A3 DD in (a, b, r1, r2): series vs an independent quadrature, closed-form v,
and the gradient-flow property of the particle DD."""

import jax.numpy as jnp
import numpy as np
import scipy.special as sps

import mflab  # noqa: F401
from mflab.meanfield import RELU, UNIT_RELU, AnisotropicGaussians, pair_expectation, potential_V
from mflab.meanfield.dd import solve_dd
from mflab.meanfield.dd_aniso import AnisotropicDD, aniso_quantiles, aniso_ubar, aniso_v

DATA = AnisotropicGaussians(0.5, 40, 12)


def _particles(n, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(np.stack([rng.normal(size=n), 0.5 * rng.normal(size=n),
                                 rng.uniform(0.3, 1.5, n), rng.uniform(0.3, 1.5, n)], 1))


def _jacobi_reference(data, t1, t2, n=40):
    """ū by Gauss–Jacobi in (c1, c2) (weights ∝ (1−c²)^((k−3)/2), k = s0, d−s0) of the
    kink-split pair quadrature: no Hermite series involved."""
    a1, a2 = (data.s0 - 3) / 2, (data.d - data.s0 - 3) / 2
    x1, w1 = sps.roots_jacobi(n, a1, a1)
    x2, w2 = sps.roots_jacobi(n, a2, a2)
    w1, w2 = w1 / w1.sum(), w2 / w2.sum()
    out = 0.0
    for f in ((1 + data.delta) ** 2, (1 - data.delta) ** 2):
        s1 = np.sqrt(f * t1[2] ** 2 + t1[3] ** 2)
        s2 = np.sqrt(f * t2[2] ** 2 + t2[3] ** 2)
        rho = (f * t1[2] * t2[2] * x1[:, None] + t1[3] * t2[3] * x2[None]) / (s1 * s2)
        e = pair_expectation(RELU, t1[1], s1, t2[1], s2, jnp.asarray(rho))
        out += 0.5 * float(jnp.sum(e * w1[:, None] * w2[None]))
    return t1[0] * t2[0] * out


def test_series_matches_jacobi_quadrature():
    th = _particles(4)
    u = np.asarray(aniso_ubar(DATA, th, th))
    ref = np.array([[_jacobi_reference(DATA, np.asarray(a), np.asarray(b)) for b in th]
                    for a in th])
    # both are exact up to truncation (series, 40 terms; cosines concentrate ∝ 1/√12) and
    # quadrature (40×40 Gauss–Jacobi nodes, kink-split inner rule): measured gap < 1e-12.
    assert np.max(np.abs(u - ref)) < 1e-9
    assert np.max(np.abs(u - u.T)) < 1e-13


def test_v_matches_unreduced_closed_form():
    th = _particles(6, seed=1)
    full = np.zeros((6, 2 + DATA.d))
    full[:, :2] = th[:, :2]
    full[:, 2] = th[:, 2]  # w = r1 e_1 + r2 e_{s0+1}: |w_1..s0| = r1, |w_rest| = r2
    full[:, 2 + DATA.s0] = th[:, 3]
    assert np.max(np.abs(aniso_v(DATA, th) - potential_V(UNIT_RELU, DATA, jnp.asarray(full)))) \
        < 1e-13


def test_dd_risk_decreases():
    # The particle DD is a gradient flow of F = (M/2)(R(ρ̂) − R#): R must not increase.
    x0 = aniso_quantiles(3, 3, DATA.d, DATA.s0, 0.8)
    res = solve_dd(AnisotropicDD(DATA, n_terms=24), x0, t_max=1.0, dt=0.05, n_records=5)
    assert np.all(np.diff(res.risk) < 0) and res.risk[-1] < res.risk[0] - 0.05
