"""Study C7 (spherical 3-spin): its mean-field units, closed forms and fits against theory,
bad configs through the CLI, and the quick preset end to end with re-plotting."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from figure_checks import check_study_figures
from mflab.cli import main
from mflab.runs.io import read_arrays, read_config
from mflab.spherical import (
    KernelParams,
    exact_loss,
    init_kernel_params,
    kernel_network,
    random_feature_loss,
    three_spin,
    three_spin_couplings,
    uniform_sphere,
)
from mflab.studies import three_spin_train as T
from timing import run_cpu_timed

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


# ------------------------------------------------------------- mean-field units


@pytest.mark.parametrize("method", ["B1", "B3"])
def test_methods_run_in_meanfield_time(method):
    """The point of η = n·dt: a network with every unit duplicated is the same function,
    and in mean-field units it must follow the same trajectory — each unit of the
    2n-network moves exactly like its original (exact oracle). B3 checks that the restart
    test is scale-free. (C5's harness methods on these networks: test_study_three_spin_
    optimizers.py.)"""
    d, n, dt, steps = 3, 6, 0.02, 12
    x1 = init_kernel_params(jax.random.key(1), n, d, 20.0)
    x2 = KernelParams(jnp.concatenate([x1.c, x1.c]), jnp.concatenate([x1.z, x1.z]))
    runs = []
    for m, x in ((n, x1), (2 * n, x2)):
        land = T.landscape_for(d, m, 5.0 / d, None, 0)
        opt, _, tau = T.method_setup(method, dt, n=m)
        x0 = jax.tree_util.tree_map(lambda v: v[None], x)
        runs.append(T.train(opt, tau, land, x0, steps, jax.random.key(2), 4))
    one, two = runs
    np.testing.assert_allclose(two.loss, one.loss, rtol=1e-10)
    for half in (slice(0, n), slice(n, 2 * n)):
        np.testing.assert_allclose(two.z[0, half], one.z[0], atol=1e-12)
        np.testing.assert_allclose(two.c[0, half], one.c[0], rtol=1e-12, atol=1e-12)
    assert one.loss[-1, 0] < one.loss[0, 0]  # and it trains
    np.testing.assert_allclose(one.time, one.steps * dt)


# ---------------------------------------------------------------- closed forms, fits


@pytest.mark.parametrize("d", [3, 5])
def test_random_feature_loss_is_the_minimum_over_the_weights(d):
    """L is quadratic in c (SPEC C7), so at c* = n K⁺F: L(c*) equals the closed form
    ½[E f² − FᵀK⁺F], ∂L/∂c vanishes, and any other c does worse."""
    n, alpha = 10, 5.0 / d
    a = three_spin_couplings(jax.random.key(3), d)
    z = uniform_sphere(jax.random.key(4), n, d)
    value, c_star = random_feature_loss(z, a, alpha)
    noise = jax.random.normal(jax.random.key(5), (5, n))
    cs = jnp.concatenate([c_star[None], jnp.zeros((1, n)),
                          c_star + 0.1 * jnp.abs(c_star).mean() * noise])
    loss = jax.value_and_grad(lambda c: exact_loss(KernelParams(c, z), a, alpha))
    values, grads = map(np.asarray, jax.jit(jax.vmap(loss))(cs))
    assert float(value) == pytest.approx(values[0], rel=1e-10)
    assert np.linalg.norm(grads[0]) < 1e-8 * np.linalg.norm(grads[1])
    assert np.all(values[2:] > float(value))


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("setting", "fragment"), [
    ("dims=2,3", "dims must be >= 3; got 2"),
    ("n=0", "n must be >= 1; got 0"),
    ("scale_ns=16,32", "unknown config key 'scale_ns'"),
    ("alpha=0", "alpha must be > 0; got 0.0"),
    ("alpha=-1.5", "alpha must be > 0; got -1.5"),
    ("batch=0", "batch must be >= 1; got 0"),
    ("slice_dt=0", "slice_dt must be > 0; got 0.0"),
    ("dims=3,3", "dims must not repeat"),
])
def test_bad_config_exits_2_in_one_line_and_writes_nothing(setting, fragment, tmp_path,
                                                          capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main(["run", "three-spin", "--preset", "quick", "--set", setting, "--out",
                 str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("c7")
    r, cpu = run_cpu_timed([sys.executable, "-m", "mflab", "run", "three-spin", "--preset",
                            "quick", "--out", "quick", "--no-progress"], cwd=d, env=ENV,
                           capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return d / "quick", cpu


FIGURES = ("three-spin-slices.png",)


@pytest.mark.slow
def test_figures_are_fit_for_a_paper(quick_run, monkeypatch):
    names = check_study_figures("three-spin", quick_run[0], monkeypatch)
    assert [f"{n}.png" for n in names] == list(FIGURES)


@pytest.mark.slow
def test_quick_study_end_to_end(quick_run):
    run, seconds = quick_run
    # CPU seconds (17 on an idle 2-core machine, 2026-12-07): a budget against regressions
    assert seconds < 120, f"quick three-spin took {seconds:.0f} CPU s"
    for name in ("config.json", "meta.json", "summary.md", "tables/problem.csv",
                 *(f"figures/{f}" for f in FIGURES)):
        assert (run / name).is_file(), name
    cfg = read_config(run)
    # fig. 16 draws f and f_n from the saved weights; the network trained (its exact loss
    # fell from the start's by orders of magnitude)
    d = cfg["dims"][0]
    s = read_arrays(run, f"slice_d{d}")
    # the saved loss is the exact loss of the saved network (closed forms, recomputed)
    a = T.couplings_for(d, 0)
    from mflab.spherical import three_spin_second_moment

    half = 0.5 * float(three_spin_second_moment(a))
    net = KernelParams(jnp.asarray(s["c"]), jnp.asarray(s["z"]))
    assert float(s["relative_loss"]) == pytest.approx(
        float(exact_loss(net, a, 5.0 / d)) / half, rel=1e-9)
    assert s["relative_losses"][-1] < 1e-2 * s["relative_losses"][0]
    x = np.stack(np.meshgrid(s["theta"][:3], s["phi"][:3], indexing="ij"), -1)
    from mflab.spherical import eq47_slice

    pts = eq47_slice(x[..., 0], x[..., 1], d)
    params = KernelParams(jnp.asarray(s["c"]), jnp.asarray(s["z"]))
    np.testing.assert_allclose(s["fn"][:3, :3], kernel_network(params, pts, 5.0 / d),
                               rtol=1e-12)
    np.testing.assert_allclose(s["f"][:3, :3], three_spin(T.couplings_for(d, 0), pts),
                               rtol=1e-12)


@pytest.mark.slow
def test_plot_redraws_the_figures_from_the_directory_alone(quick_run, tmp_path):
    import matplotlib.image as mpimg

    run, _ = quick_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "figures")
    (copy / "summary.md").unlink()
    assert main(["plot", str(copy)]) == 0
    for f in FIGURES:
        np.testing.assert_array_equal(mpimg.imread(copy / "figures" / f),
                                      mpimg.imread(run / "figures" / f))
    assert (copy / "summary.md").read_text() == (run / "summary.md").read_text()
