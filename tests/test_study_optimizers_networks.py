"""Study C5 (optimizers-networks): a tiny run end to end (files, tuning record, equal budgets,
re-plotting), tuning picks the best step on a quadratic, jobs give the same numbers in any
order and on Dask, bad input exits 2 writing nothing."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab
from mflab.cli import main
from mflab.landscapes import quadratic
from mflab.optimizers import sgd
from mflab.runs import start
from mflab.runs.config import build_config
from mflab.runs.executor import SerialExecutor
from mflab.runs.io import read_arrays, read_config, read_metrics, read_table
from mflab.studies.optnets import protocol as P
from mflab.studies.optnets.config import OptimizersNetworksConfig
from mflab.studies.optnets.jobs import run_job
from mflab.studies.optnets.tables import choose, crossing

# A1 (cheap: d = 6) and A4 (MNIST: 500 training images), three methods that cover the
# rounds (B8 → B10), inner loops (B8, B10), ensembles (B10) and a fast path (B1 at m = 1).
TINY = ["problems=A1,A4", "methods=B1,B8,B10", "batch_sizes=1,4", "N=8", "N_mnist=6",
        "d_a1=6", "budget_a1=64,256", "budget_a4=32,128", "n_train=500", "eps_a1=0.01,0.03",
        "eps_a4=0.01,0.03", "temperatures=0.001", "lambdas=1", "hj_couplings=4",
        "hj_inner_steps=2", "hj_burn_in=1", "replicas=2", "n_seeds=2", "n_records=4"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("c5") / "run"
    return start("optimizers-networks", preset="quick", overrides=TINY, out=out,
                 progress=False, executor=SerialExecutor())


def test_tiny_run_is_complete_with_its_tuning_record(tiny_run):
    run = tiny_run
    for f in ("config.json", "meta.json", "metrics.parquet", "summary.md",
              "tables/tuning.csv", "tables/results.csv", "figures/overview.png",
              "figures/risk_A1.png", "figures/risk_A4.png", "figures/tuning_A1.png"):
        assert (run / f).is_file(), f
    cfg = read_config(run)
    tuning = read_table(run, "tuning")
    # every grid point of every (problem, m, method) was run on the tuning seed ...
    n_points = {"B1": 2, "B8": 2, "B10": 2}
    for (p, m, meth), grp in tuning.groupby(["problem", "m", "method"]):
        assert len(grp) == n_points[meth], (p, m, meth)
        # ... and exactly one was chosen: the lowest score (ties: the first)
        assert grp.chosen.sum() == 1
        assert grp[grp.chosen].score.iloc[0] == grp.score.min()
    assert len(tuning.groupby(["problem", "m", "method"])) == 2 * 2 * 3
    res = read_table(run, "results")
    assert set(res.method) == {"B1", "B8", "B10", "B10-lam0"}
    metrics = read_metrics(run)
    assert set(metrics.optimizer) == set(res.method)
    assert cfg["n_seeds"] == 2 and "Target:" in (run / "summary.md").read_text()


def test_every_method_spends_exactly_the_budget(tiny_run):
    """Samples drawn per replica at the end = the budget, for every method and run: B8 and
    B10 count their L inner steps (steps = budget/(m·L)), the others one call a step."""
    cfg = read_config(tiny_run)
    tuning = read_table(tiny_run, "tuning")
    ok = tuning[np.isfinite(tuning.score)]
    for _, row in ok.iterrows():
        fam = "a1" if row.problem == "A1" else "a4"
        assert row.samples == cfg[f"budget_{fam}"][cfg["batch_sizes"].index(row.m)]
    for p, fam in (("A1", "a1"), ("A4", "a4")):
        for m, budget in zip(cfg["batch_sizes"], cfg[f"budget_{fam}"], strict=True):
            for meth, g in (("B1", 1), ("B8", 2), ("B10", 2), ("B10-lam0", 2)):
                a = read_arrays(tiny_run, f"curves_{p}_m{m}_{meth}")
                assert np.all(a["samples"][:, -1] == budget), (p, m, meth)
                assert np.all(a["steps"][:, -1] == budget // (m * g)), (p, m, meth)


def test_plot_redraws_identical_figures_from_the_files(tiny_run, tmp_path, monkeypatch):
    import matplotlib.image as mpimg

    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    shutil.rmtree(copy / "figures")
    (copy / "summary.md").unlink()
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "copy"]) == 0
    figs = sorted(p.name for p in (tiny_run / "figures").glob("*.png"))
    assert sorted(p.name for p in (copy / "figures").glob("*.png")) == figs
    for f in figs:
        np.testing.assert_array_equal(mpimg.imread(copy / "figures" / f),
                                      mpimg.imread(tiny_run / "figures" / f))
    assert (copy / "summary.md").read_text() == (tiny_run / "summary.md").read_text()


def test_tuning_picks_the_step_closest_to_one_over_the_curvature():
    """GD on Φ = ½ λ |x|² contracts by |1 − ηλ| per step, so on a grid bracketing 1/λ the
    lowest final value is at the η with the smallest |1 − ηλ| (here 0.9/λ); 2.5/λ
    diverges (score +inf) and must never be chosen."""
    lam = 4.0
    L = quadratic(jnp.diag(jnp.array([lam, lam])))
    x0 = jnp.ones((1, 2))
    rows = []
    for f in (0.25, 0.5, 0.9, 1.5, 2.5):
        tr = mflab.run(sgd(f / lam), L, x0, 400, jax.random.key(0), record_every=400,
                       on_divergence="continue")
        v = float(tr.values[-1, 0])
        rows.append({"eps_grid": f / lam, "score": v if math.isfinite(v) else math.inf})
    assert rows[-1]["score"] == math.inf or rows[-1]["score"] > 1e100
    assert choose(rows)["eps_grid"] == pytest.approx(0.9 / lam)
    assert choose([{"eps_grid": 1.0, "score": math.inf}]) is None
    assert choose([{"eps_grid": 1.0, "score": 2.0}, {"eps_grid": 2.0, "score": 2.0}])[
        "eps_grid"] == 1.0


def test_samples_to_target_interpolates_in_log_log():
    # risk 1 at 100 samples, 0.01 at 10 000: the power law 1e2/s hits 0.1 at s = 1000
    s = np.array([0, 100, 10_000])
    assert crossing(s, np.array([5.0, 1.0, 0.01]), 0.1, higher=False) == pytest.approx(1000)
    assert crossing(s, np.array([5.0, 1.0, 0.5]), 0.1, higher=False) == math.inf
    assert crossing(s, np.array([0.5, 0.9, 0.99]), 0.9, higher=True) == pytest.approx(100)


def _tiny_jobs():
    cfg = build_config(OptimizersNetworksConfig, "quick",
                       TINY + ["problems=A1", "methods=B1,B5", "batch_sizes=1",
                               "budget_a1=64"])
    jobs = [j for _, j in P.tuning_jobs(cfg, "A1", 1, {}, 3, None)]
    chosen = {"A1|1|B1": {"values": dict(jobs[0].values)}}
    return jobs + [it[-1] for it in P.comparison_jobs(cfg, "A1", chosen, 3, None)]


def _same(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            if k != "wall":
                np.testing.assert_array_equal(ra[k], rb[k], err_msg=k)


def test_jobs_give_the_same_numbers_in_any_order_and_on_dask():
    jobs = _tiny_jobs()
    forward = SerialExecutor().map(run_job, jobs)
    backward = SerialExecutor().map(run_job, jobs[::-1])[::-1]
    _same(forward, backward)
    pytest.importorskip("dask.distributed")
    from mflab.runs.executor import DaskExecutor

    b1 = [i for i, j in enumerate(jobs) if j.method == "B1"]  # one compiled chunk: fast
    with DaskExecutor("local:2") as ex:
        _same([forward[i] for i in b1], ex.map(run_job, [jobs[i] for i in b1]))


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() else None for p in d.rglob("*")}


@pytest.mark.parametrize(("setting", "fragment"), [
    ("methods=B1,B7", "methods: 'B7' is not allowed; choose from: B1, B2, B3, B4, B10"),
    ("problems=A5", "problems: 'A5' is not allowed; choose from: A1, A2-bad"),
    ("eps_a2=0.001,0", "eps_a2 must be > 0; got 0.0"),
    ("temperatures=-1", "temperatures must be > 0; got -1.0"),
    ("budget_a1=5,400000", "budget_a1 = 5 samples at m = 1 is smaller than one step of B10 "
     "MF-Hom-SGLD (10 samples)"),
    ("budget_a1=40000,500", "budget_a1 = 500 samples at m = 100 is smaller than one step of B1"),
    ("n_train=1000000", "n_train must be <= 60000; got 1000000"),  # issue 26, case 4
])
def test_bad_input_exits_2_in_one_line_and_writes_nothing(setting, fragment, tmp_path, capsys,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    code = main(["run", "optimizers-networks", "--preset", "paper", "--set", setting,
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert fragment in err, err
    assert _snapshot(tmp_path) == before
