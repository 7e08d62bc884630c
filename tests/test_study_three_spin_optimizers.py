"""Study C7 part 1 (three-spin-optimizers): the 3-spin networks as problems of C5's harness.
The score against Monte Carlo, the methods' mean-field units on a duplicated network, the
quick preset end to end (equal budget, the exact-gradient control is a descent), bad input.
The harness itself is tested in ``test_compare.py`` and ``test_study_optimizers_networks.py``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from figure_checks import check_study_figures
from mflab.cli import main
from mflab.runs import start
from mflab.runs.config import build_config
from mflab.runs.executor import SerialExecutor
from mflab.runs.io import read_arrays, read_config, read_table
from mflab.spherical import KernelParams, kernel_network, three_spin, uniform_sphere
from mflab.studies.optnets import methods as M
from mflab.studies.optnets.problems import problem_for
from mflab.studies.optnets.tables import curve_name
from mflab.studies.three_spin_optimizers import ThreeSpinOptimizersConfig


def _problem(n: int, d: int = 3):
    cfg = build_config(ThreeSpinOptimizersConfig, "paper", [f"spin_n={n}"])
    return cfg, problem_for(cfg, f"S3-d{d}")


def test_score_is_the_relative_loss_against_monte_carlo():
    """The score is L/(½E f²) of the exact closed forms: a 400 000-point Monte Carlo ratio
    of ½E(f − f_n)² to ½E f² at a random start agrees within 4 standard errors."""
    _, prob = _problem(16)
    x = jax.tree_util.tree_map(lambda v: v[0], prob.init(jax.random.key(7), 1))
    score = prob.score(x, "test")["risk"]
    from mflab.studies import three_spin_train as T

    with jax.enable_x64(True):
        pts = uniform_sphere(jax.random.key(8), 400_000, 3, dtype=jnp.float64)
        f = np.asarray(three_spin(jnp.asarray(T.couplings_for(3, 0), jnp.float64), pts))
        fn = np.asarray(kernel_network(KernelParams(jnp.asarray(x.c), jnp.asarray(x.z)), pts,
                                       prob.alpha))
    num, den = (f - fn) ** 2, f ** 2
    ratio = num.mean() / den.mean()
    # delta method for a ratio of means
    se = ratio * np.sqrt(np.var(num / num.mean() - den / den.mean()) / len(f))
    assert abs(score - ratio) < 4 * se, (score, ratio, se)
    assert 0.05 < score < 50


@pytest.mark.parametrize("method", ["B2", "B4", "B10"])
def test_methods_are_in_meanfield_units_on_the_kernel_network(method):
    """η = n·ε (C5's units, with the width n; B10: every rate × n, temperature τ = n/β): a
    network with every unit duplicated is the same function and, with the exact gradient,
    each unit of the 2n-network moves exactly like its original (B10's Langevin noise made
    negligible, τ = 1e-30: independent noise of ~1e-16 per inner step for the copies; over
    4 outer steps only, since splitting the copies is a descent direction of the
    2n-network that this noise seeds: by step 8 the copies part and the loss drops)."""
    from mflab import run

    x1 = _problem(5)[1].init(jax.random.key(3), 1)
    x2 = KernelParams(jnp.concatenate([x1.c, x1.c], axis=1),
                      jnp.concatenate([x1.z, x1.z], axis=1))
    finals = []
    for n, x in ((5, x1), (10, x2)):
        cfg, prob = _problem(n)
        opt = M.build(method, M.static_kwargs(method, cfg), cfg.hj_relax,
                      {"eps_eff": 0.02, "friction": 0.2, "compensation": 0.5, "eps": 0.02,
                       "tau": 1e-30, "coupling": 5.0, "lam": 1.0}, prob, None)
        with jax.enable_x64(True):
            tr = run(opt, prob.landscape(None), x, 4 if method == "B10" else 15,
                     jax.random.key(0), progress=False)
        finals.append(tr.state.x)
    one, two = finals
    # B10: the seeded split has grown to ~3e-7 by step 4; a wrong scale of any rate moves
    # the units by O(0.1) (the pull, the step and the temperature all enter at order one)
    tol = 1e-5 if method == "B10" else 1e-10
    for half in (slice(0, 5), slice(5, 10)):
        np.testing.assert_allclose(np.asarray(two.z[0, half]), np.asarray(one.z[0]), atol=tol)
        np.testing.assert_allclose(np.asarray(two.c[0, half]), np.asarray(one.c[0]),
                                   atol=100 * tol)
    assert not np.allclose(np.asarray(one.c), np.asarray(x1.c))  # and it moved


def test_the_problem_is_float64_without_x64_and_survives_pickling():
    """Workers get the problem pickled; its start and score are float64 whatever the
    caller's JAX precision (the momentum methods reach ≈ 1e-7 of ½E f², below float32)."""
    import pickle

    _, prob = _problem(8)
    assert pickle.loads(pickle.dumps(prob)) == prob
    assert hash(pickle.loads(pickle.dumps(prob))) == hash(prob)
    with jax.enable_x64(False):
        x = prob.init(jax.random.key(0), 2)
        assert x.c.dtype == jnp.float64 and x.z.dtype == jnp.float64
        one = jax.tree_util.tree_map(lambda v: v[0], x)
        assert np.isfinite(prob.score(one, "test")["risk"])


def test_curvature_features_have_no_radial_part():
    """B4lb's constants come from the tangent features of the model the optimisers step:
    centres retracted to the sphere, so f_n does not change when a centre moves radially
    and the features' radial components vanish."""
    from mflab.studies.optnets.spin import spin_start_features

    _, prob = _problem(6)
    with jax.enable_x64(True):
        predict, theta0, x = spin_start_features(prob, jax.random.key(1), 50)
        jac = jax.jacobian(predict)(theta0, x).z  # (50, n, d)
        radial = jnp.einsum("kid,id->ki", jac, theta0.z) / jnp.sqrt(3.0)
        assert float(jnp.max(jnp.abs(radial))) < 1e-12 * float(jnp.max(jnp.abs(jac)))
        assert float(jnp.max(jnp.abs(jac))) > 1e-3


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("c7opt") / "run"
    # the quick preset, smaller: no B4lb (its curvature has its own test above), no m*
    return start("three-spin-optimizers", preset="quick", out=out, progress=False,
                 executor=SerialExecutor(),
                 overrides=["spin_n=32", "budget_s3=4000", "methods=B1,B2,B10",
                            "mstar_samples=0"])


@pytest.mark.slow
def test_quick_run_spends_the_budget_and_its_exact_control_descends(quick_run):
    run = quick_run
    cfg = read_config(run)
    res = read_table(run, "results")
    budget = cfg["budget_s3"][0]
    for _, r in res[res.variant == "stochastic"].iterrows():
        a = read_arrays(run, curve_name(r.problem, int(r.m), r.entry, "stochastic"))
        assert np.all(a["samples"][:, -1] == budget), r.entry  # budget per ensemble
    # the exact-gradient control of SGD is gradient descent on the exact loss at the tuned
    # mean-field step: a descent method, so its exact loss never rises between records
    ex = read_arrays(run, curve_name("S3-d3", 100, "B1", "exact"))
    risk = ex["risk"][0, :, 0] if ex["risk"].ndim == 3 else ex["risk"][0]
    assert np.all(np.diff(risk) <= 1e-12 * risk[:-1]) and risk[-1] < 0.5 * risk[0]
    assert set(res.entry) >= {"B1", "B2", "B10", "B1@m=200"}  # B10's batch-R·m control


@pytest.mark.slow
def test_figures_are_fit_for_a_paper(quick_run, monkeypatch):
    check_study_figures("three-spin-optimizers", quick_run, monkeypatch)


@pytest.mark.parametrize(("setting", "fragment"), [
    ("problems=S3-d7", "problems: 'S3-d7' is not allowed"),
    ("budget_s3=301000", "budget_s3 = 301000 at m = 100 is not a whole number of steps of B10"),
    ("spin_n=0", "spin_n must be >= 1; got 0"),
])
def test_bad_input_exits_2_in_one_line_and_writes_nothing(setting, fragment, tmp_path, capsys,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["run", "three-spin-optimizers", "--preset", "paper", "--set", setting,
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert list(tmp_path.iterdir()) == []
