"""Study D2 (width-scaling laws of the 3-spin kernel networks): the power-law fit, the exact
t = 0 law, converged training against first-order optimality, bad configs, and the quick
preset end to end."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from figure_checks import check_study_figures
from mflab.cli import main
from mflab.runs.io import read_table
from mflab.scaling import fit_power_law
from mflab.spherical import (
    converge_centres,
    exact_loss,
    init_kernel_params,
    initial_excess,
    random_feature_loss,
    reduced_loss,
    three_spin_couplings,
    three_spin_landscape,
    three_spin_second_moment,
    uniform_sphere,
)
from timing import run_cpu_timed

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
NS = np.array([16, 32, 64, 128, 256, 512])


# ------------------------------------------------------------------ the fit


def test_power_law_fit_is_exact_on_an_exact_law():
    """Noise-free means L + A n^−p (seeds differing by zero-mean noise that cancels in the
    mean): the fit returns (L, A, p) to rounding."""
    L, A, p = 0.3, 5.0, 1.3
    law = L + A * NS ** (-p)
    noise = np.array([1.0, -1.0, 0.5, -0.5]) * 1e-3 * law[:, None]
    fit = fit_power_law(NS, law[:, None] + noise, n_boot=20)
    np.testing.assert_allclose([fit["L_inf"], fit["A"], fit["p"]], [L, A, p], rtol=1e-7)
    assert fit["dof"] == len(NS) - 3 and fit["n_range"] == (16, 512)


def test_power_law_fit_covers_the_truth_with_noise():
    """Per-seed values with a known law and independent noise of known size: the 95 %
    intervals contain the true parameters, and the exponent's is not absurdly wide."""
    rng = np.random.default_rng(7)
    L, A, p, S = 0.05, 3.0, 1.0, 64
    values = L + A * NS[:, None] ** (-p) * (1 + 0.3 * rng.standard_normal((len(NS), S)))
    fit = fit_power_law(NS, values, n_boot=400, seed=1)
    for name, true in (("L_inf", L), ("A", A), ("p", p)):
        lo, hi = fit["intervals"][name]
        assert lo <= true <= hi, (name, lo, true, hi)
    assert fit["intervals"]["p"][1] - fit["intervals"]["p"][0] < 0.5


def test_paired_bootstrap_resamples_whole_seeds():
    """Nested units: each seed carries an offset shared by all its widths (δ_s, large) on
    an exact law. Resampling whole seeds moves only L_∞ (the offsets' mean), so p's
    interval is exactly a point; resampling widths apart mixes offsets between widths and
    the interval on p opens up."""
    rng = np.random.default_rng(3)
    offsets = rng.standard_normal(16) * 0.05
    values = 0.1 + 2.0 * NS[:, None] ** (-1.0) + offsets[None, :]
    paired = fit_power_law(NS, values, n_boot=100)
    apart = fit_power_law(NS, values, n_boot=100, paired=False)
    lo, hi = paired["intervals"]["p"]
    np.testing.assert_allclose([lo, hi], [1.0, 1.0], rtol=1e-6)
    lo2, hi2 = apart["intervals"]["p"]
    assert hi2 - lo2 > 0.05


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"n": NS[:3], "values": np.ones((3, 4))}, ">= 4 distinct widths"),
    ({"n": NS, "values": np.ones((6, 1))}, ">= 2 seeds"),
    ({"n": NS, "values": np.full((6, 3), np.nan)}, "finite"),
    ({"n": NS, "values": np.ones((5, 3))}, "one width per row"),
])
def test_power_law_fit_refuses_bad_input(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        fit_power_law(**kwargs)


# ----------------------------------------------------------- the exact t = 0 law


def test_initial_excess_is_the_mean_initial_loss():
    """E L_n(0) = ½E f² + c0² K(1)/(6n) (closed form, scipy's Bessel function) against the
    mean exact loss (JAX closed forms) of 4000 random initial networks, n = 3, d = 4."""
    d, n, c0, alpha, draws = 4, 3, 20.0, 5.0 / 4, 4000
    with jax.enable_x64(True):
        a = three_spin_couplings(jax.random.key(0), d)
        keys = jax.random.split(jax.random.key(1), draws)
        loss = jax.vmap(lambda k: exact_loss(init_kernel_params(k, n, d, c0, jnp.float64),
                                             a, alpha))(keys)
        loss = np.asarray(loss)
        expected = 0.5 * float(three_spin_second_moment(a)) + initial_excess(d, alpha, c0) / n
    se = loss.std(ddof=1) / np.sqrt(draws)
    assert abs(loss.mean() - expected) < 4 * se, (loss.mean(), expected, se)
    assert initial_excess(d, alpha, c0) / n > 20 * se  # the test resolves the excess


# ------------------------------------------------------------ converged training


def test_reduced_loss_gradient_is_the_gradient_of_the_minimum_over_weights():
    """Envelope theorem: the gradient of g(z) = min_c L(c, z) (c* held fixed) equals the
    derivative of g itself, from the closed form ½[E f² − FᵀK⁺F] by central differences
    along a random tangent direction."""
    d, n, alpha = 4, 6, 5.0 / 4
    with jax.enable_x64(True):
        a = three_spin_couplings(jax.random.key(3), d)
        z = uniform_sphere(jax.random.key(4), n, d, jnp.float64)
        v = jax.random.normal(jax.random.key(5), z.shape, jnp.float64)
        v = v - jnp.sum(v * z, axis=1, keepdims=True) * z / d  # tangent
        grad = jax.grad(reduced_loss)(z, a, alpha)
        h = 1e-5

        def g(s):
            w = z + s * v
            w = jnp.sqrt(d) * w / jnp.linalg.norm(w, axis=1, keepdims=True)
            return float(random_feature_loss(w, a, alpha)[0])

        fd = (g(h) - g(-h)) / (2 * h)
        np.testing.assert_allclose(float(jnp.sum(grad * v)), fd, rtol=1e-6)
        np.testing.assert_allclose(float(reduced_loss(z, a, alpha)), g(0.0), rtol=1e-12)


def test_converged_training_reaches_a_first_order_point_with_exact_weights():
    """d = 5, n = 16 (converges in ~130 iterations): the returned weights are the exact
    solve c* = n K⁺F at the returned centres (``random_feature_loss``, to rounding); the
    landscape's own exact gradient (an independent code path) vanishes there in c and
    along the sphere in z; and the loss is far below the weights-alone optimum."""
    d, n, alpha = 5, 16, 1.0
    with jax.enable_x64(True):
        a = three_spin_couplings(jax.random.key(0), d)
        z0 = uniform_sphere(jax.random.key(1), 64, d, jnp.float64)[:n]
        r = converge_centres(z0, a, alpha, gtol=1e-9, max_iter=2000)
        assert bool(r.converged) and not bool(r.stalled) and float(r.rate) <= 1e-9
        loss_rf, c_star = random_feature_loss(r.params.z, a, alpha)
        np.testing.assert_allclose(np.asarray(r.params.c), np.asarray(c_star), rtol=1e-9)
        np.testing.assert_allclose(float(r.loss), float(loss_rf), rtol=1e-8)
        land = three_spin_landscape(a, n, alpha)
        g = land.grad(r.params)
        half = 0.5 * land.info["second_moment"]
        # mean-field units: n ∂L/∂c_i and n ∂L/∂z_i against the loss scale
        assert float(jnp.max(jnp.abs(n * g.c))) < 1e-6 * half
        rate = n * float(jnp.sum(g.z**2)) / float(r.loss)
        assert rate < 1e-8
        assert float(r.loss) < 0.1 * float(random_feature_loss(z0, a, alpha)[0])


def test_converge_centres_refuses_bad_input():
    z = uniform_sphere(jax.random.key(0), 4, 3)
    a = three_spin_couplings(jax.random.key(0), 3)
    with pytest.raises(ValueError, match="gtol"):
        converge_centres(z, a, 1.0, gtol=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        converge_centres(z, a, 1.0, max_iter=0)


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("setting", "fragment"), [
    ("ns=16,32,64", "ns needs >= 4 widths"),
    ("conv_ns=8,8,16,32", "conv_ns must not repeat"),
    ("times=0,0.15", "every time must be a multiple of dt"),
    ("seeds=1", "seeds must be >= 2; got 1"),
    ("dims=2", "dims must be >= 3; got 2"),
    ("alpha_d=0", "alpha_d must be > 0; got 0.0"),
    ("gtol=-1", "gtol must be > 0"),
    ("sgd_time=1.03", "sgd_time (1.03) must be a multiple of every sgd_dts"),
    ("sgd_ns=16,32,64", "sgd_ns needs >= 4 widths"),
    ("sgd_batches=16,16", "sgd_batches must not repeat"),
    ("parts=flow,bogus", "parts: 'bogus' is not allowed; choose from: flow, converged, sgd"),
])
def test_bad_config_exits_2_in_one_line_and_writes_nothing(setting, fragment, tmp_path,
                                                          capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main(["run", "three-spin-scaling", "--preset", "quick", "--set", setting,
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("d2")
    r, cpu = run_cpu_timed([sys.executable, "-m", "mflab", "run", "three-spin-scaling",
                            "--preset", "quick", "--out", "quick", "--no-progress"], cwd=d,
                           env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return d / "quick", cpu


@pytest.mark.slow
def test_quick_run_recovers_the_exact_law_at_t0_and_draws_its_figure(quick_run, monkeypatch):
    """The run's own fit at t = 0 covers the exact law (L_∞ = 1, A = c0² K(1)/6, p = 1):
    nesting, averaging and the bootstrap together; converged training beats the weights
    alone at every width; the figure passes the paper checks."""
    run, seconds = quick_run
    # CPU seconds (99 on an idle 2-core machine, 2026-12-07; the wall-time budget of 120 s
    # failed under load at 170 s): a budget against regressions, not a benchmark
    assert seconds < 240, f"quick three-spin-scaling took {seconds:.0f} CPU s"
    fits = read_table(run, "flow_fits")
    t0 = fits[(fits.t == 0) & (fits["range"] == "all")].iloc[0]
    assert t0.L_inf_lo <= 1.0 <= t0.L_inf_hi
    assert t0.A_lo <= t0["theory A"] <= t0.A_hi
    assert t0.p_lo <= 1.0 <= t0.p_hi
    conv = read_table(run, "converged")
    assert (conv["mean"] < conv.rf_mean).all()
    timing = read_table(run, "timing")  # every cell's own wall time: 8 + 2 dt + 4 widths
    assert len(timing) == 14 and (timing.seconds > 0).all()
    spec = read_table(run, "spectrum")
    assert set(spec.ell) == set(range(5))
    # SGD's noise inflates the loss, more the larger dt/P: at each dt, the smaller batch
    # has the larger paired excess over the flow
    grid = read_table(run, "sgd_grid")
    for _, g in grid.groupby("dt"):
        assert (np.diff(g.sort_values("P").excess.to_numpy()) < 0).all(), g
    assert set(read_table(run, "sgd_widths").n) == {8, 16, 32, 64}
    names = check_study_figures("three-spin-scaling", run, monkeypatch)
    assert names == ["three-spin-scaling-laws", "three-spin-sgd-noise"]


def test_noise_slope_recovers_the_exponents_of_a_known_law():
    """Synthetic paired excesses c·dt^a·P^−b·(1 + 0.2 z_s + 0.2 w_cs) on a dt × P grid, the
    seed factor z_s shared by the cells (as the runs share seeds), w_cs each cell's own:
    the separate exponents are near (a, b) with intervals that cover them; the slope in
    dt/P is near a = b when they agree, and its interval excludes the other power."""
    from mflab.studies.three_spin_scaling_tables import noise_slope

    dt, P = (v.ravel() for v in np.meshgrid([0.1, 0.05, 0.025], [64.0, 256.0, 1024.0]))
    rng = np.random.default_rng(3)
    z, w = rng.standard_normal(16), rng.standard_normal((9, 16))
    for a, b in ((1.0, 1.0), (2.0, 2.0), (1.5, 1.0)):
        e = 12.0 * (dt**a * P**-b)[:, None] * (1 + 0.2 * z[None] + 0.2 * w)
        r = noise_slope(dt, P, e, n_boot=300)
        for name, k in (("a_dt", a), ("b_P", b)):
            assert abs(r[name] - k) < 0.1 and r[f"{name}_lo"] <= k <= r[f"{name}_hi"], r
        if a == b:
            other = 3.0 - a
            assert abs(r["slope"] - a) < 0.1 and r["slope_lo"] <= a <= r["slope_hi"], r
            assert not r["slope_lo"] <= other <= r["slope_hi"]
        else:  # a ≠ b: the dt exponent's interval excludes b
            assert not r["a_dt_lo"] <= b <= r["a_dt_hi"]
    assert np.isnan(noise_slope(dt, P, -e, n_boot=50)["slope"])  # no log of a negative mean
    rows = dt == 0.1  # one dt, three P: the slope, but no separate exponents
    one_dt = noise_slope(dt[rows], P[rows], e[rows], n_boot=50)
    assert np.isfinite(one_dt["slope"]) and np.isnan(one_dt["a_dt"])
