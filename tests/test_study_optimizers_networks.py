"""Study C5 (optimizers-networks) on the comparison harness: a tiny run end to end (files,
tuning record, budget per ensemble with the batch-R·m control, exact-gradient controls,
re-plotting), jobs give the same numbers in any order and on Dask, bad input exits 2
writing nothing. The protocol itself is tested against theory in ``test_compare.py``."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from figure_checks import check_study_figures
from mflab.cli import main
from mflab.compare.jobs import Job, run_job
from mflab.compare.stats import record_steps
from mflab.runs import start
from mflab.runs.config import build_config
from mflab.runs.executor import SerialExecutor
from mflab.runs.io import read_arrays, read_config, read_metrics, read_table
from mflab.studies.optnets import methods as M
from mflab.studies.optnets.config import OptimizersNetworksConfig
from mflab.studies.optnets.problems import problem_for
from mflab.studies.optnets.tables import curve_name

# A1 (cheap: d = 6, with its exact-gradient controls) and A4 (MNIST: 500 training images,
# 100 of them held out for tuning), three methods that cover inner loops (B8, B10),
# a coupled ensemble (B10, R = 2: its control B1 at batch 2m) and a fast path (B1, m = 1).
TINY = ["problems=A1,A4", "methods=B1,B4lb,B8,B10", "batch_sizes=1,4", "N=8", "N_mnist=6",
        "d_a1=6", "budget_a1=64,256", "budget_a4=32,128", "n_train=500", "n_val=100",
        "eps_a1=0.01,0.03", "eps_a4=0.01,0.03", "temperatures=0.001", "lambdas=1",
        "hj_couplings=4", "hj_inner_steps=2", "hj_burn_in=1", "replicas=2", "seeds=2",
        "tuning_seeds=1", "max_extensions=1", "first_record=0.1", "exact_controls=true",
        "exact_seeds=1", "pairs=B10:B8,B4:B2", "lb_modes=3", "lb_samples=64"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("c5") / "run"
    return start("optimizers-networks", preset="quick", overrides=TINY, out=out,
                 progress=False, executor=SerialExecutor())


@pytest.mark.slow
def test_figures_are_fit_for_a_paper(tiny_run, monkeypatch):
    check_study_figures("optimizers-networks", tiny_run, monkeypatch)


@pytest.mark.slow
def test_tiny_run_is_complete_with_its_tuning_record(tiny_run):
    run = tiny_run
    for f in ("config.json", "meta.json", "metrics.parquet", "summary.md",
              "tables/tuning.csv", "tables/results.csv", "figures/overview.png",
              "figures/risk_A1.png", "figures/risk_A4.png", "figures/tuning_A1.png"):
        assert (run / f).is_file(), f
    assert not (run / "jobs").exists()  # the job store is gone once the run is complete
    tuning = read_table(run, "tuning")
    entries = {"B1", "B4lb", "B8", "B10"}
    for (p, m), cell in tuning.groupby(["problem", "m"]):
        assert set(cell.entry) == entries | {f"B1@m={2 * m}"}, (p, m)
        for entry, grp in cell.groupby("entry"):
            # exactly one choice: the best median score among the finite ones
            assert grp.chosen.sum() == 1, (p, m, entry)
            assert grp[grp.chosen].score.iloc[0] == grp.score.min()
    res = read_table(run, "results")
    assert set(res[res.problem == "A1"].variant) == {"stochastic", "exact"}
    assert set(res[res.problem == "A4"].variant) == {"stochastic"}  # no exact risk
    metrics = read_metrics(run)
    assert set(metrics.optimizer) == set(res.entry)
    assert "Target:" in (run / "summary.md").read_text()
    assert "Smoke scale" in (run / "summary.md").read_text()
    # the configured pair B10 against B8 is tested paired by seed; B4:B2 (not run) skipped
    b10 = res[(res.entry == "B10") & (res.variant == "stochastic")]
    assert b10["p_final_vs_B8"].notna().all() and "p_final_vs_B2" not in res
    assert "| B10 MF-Hom-SGLD − B8" in (run / "summary.md").read_text()
    cb = read_table(run, "critical_batch")  # A1 only (A4 has no population features)
    assert list(cb.problem) == ["A1"] and cb.samples.iloc[0] == 512
    assert 1 <= cb.m_star.iloc[0] <= cb.m_star_sup.iloc[0]
    assert "Critical batch at the start" in (run / "summary.md").read_text()
    # B4lb: Liu & Belkin's parameters from the start's curvature (A4: training images),
    # one fixed point, the one compared
    lb = read_table(run, "liu_belkin")
    cells = sorted(zip(lb.problem, lb.m, strict=True))
    assert cells == [("A1", 1), ("A1", 4), ("A4", 1), ("A4", 4)]
    for _, q in lb.iterrows():
        ch = tuning[(tuning.problem == q.problem) & (tuning.m == q.m)
                    & (tuning.entry == "B4lb")]
        assert len(ch) == 1  # not tuned
        point = json.loads(ch.point.iloc[0])
        assert point == pytest.approx({"eta1": q.eta1, "eta2": q.eta2, "gamma": q.gamma},
                                      rel=1e-11)
        assert q.eta1 == pytest.approx(1 / (q.L1 / q.m + (q.m - 1) / q.m * q.L))
    assert "B4lb, MaSS at Liu & Belkin's parameters" in (run / "summary.md").read_text()
    tc = read_table(run, "tangent_curvature")  # λ_j descending, per problem
    assert sorted(set(tc.problem)) == ["A1", "A4"] and len(tc) == 2 * 3
    for _, g in tc.groupby("problem"):
        assert list(g.j) == [1, 2, 3] and np.all(np.diff(g.lam) <= 0)


@pytest.mark.slow
def test_every_ensemble_spends_exactly_the_budget(tiny_run):
    """Samples drawn by the whole ensemble at the end = the budget, for every entry: B8
    counts its L inner calls (steps = B/(m·L)), B10 its R replicas too (B/(R·m·L)), and the
    control of B10 runs batch R·m (B/(R·m)) — the same samples as one B10 ensemble; the
    exact-gradient control runs a method's steps, on the first ``exact_seeds`` seeds."""
    cfg = read_config(tiny_run)
    L, R = cfg["hj_inner_steps"], cfg["replicas"]
    for p, fam in (("A1", "a1"), ("A4", "a4")):
        for m, budget in zip(cfg["batch_sizes"], cfg[f"budget_{fam}"], strict=True):
            for entry, per_step in (("B1", m), ("B8", m * L), ("B10", R * m * L),
                                    (f"B1@m={R * m}", R * m)):
                a = read_arrays(tiny_run, curve_name(p, m, entry, "stochastic"))
                assert a["samples"].shape[0] == cfg["seeds"]
                assert np.all(a["samples"][:, -1] == budget), (p, m, entry)
                assert np.all(a["steps"][:, -1] == budget // per_step), (p, m, entry)
                exact = tiny_run / "arrays" / f"{curve_name(p, m, entry, 'exact')}.npz"
                if p == "A1" and "@" not in entry:  # the exact control: the same steps,
                    e = read_arrays(tiny_run, curve_name(p, m, entry, "exact"))
                    k = min(cfg["exact_seeds"], cfg["seeds"])  # on the first seeds
                    np.testing.assert_array_equal(e["seeds"], a["seeds"][:k])
                    np.testing.assert_array_equal(e["steps"], a["steps"][:k])
                else:  # none for A4 (no exact risk) or a batch-R·m control (no samples)
                    assert not exact.exists(), exact


@pytest.mark.slow
def test_tuned_values_are_the_ones_compared(tiny_run):
    """The results table's point of every entry is the tuning table's choice."""
    tuning = read_table(tiny_run, "tuning")
    res = read_table(tiny_run, "results")
    for _, r in res.iterrows():
        ch = tuning[(tuning.problem == r.problem) & (tuning.m == r.m)
                    & (tuning.entry == r.entry) & tuning.chosen]
        assert json.loads(ch.point.iloc[0]) == json.loads(r.point), (r.problem, r.m, r.entry)


@pytest.mark.slow
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


def test_liu_belkin_choice_takes_mu_from_the_budget_or_the_last_mode():
    """μ = max(L₁(m)/T, λ_K): the smallest curvature SGD's step 1/L₁(m) resolves in T
    steps, or the last computed mode (then *capped*); L₁ and κ̃ on the modes above μ."""
    row = {"lam": [1.0, 0.5, 0.2, 0.1], "L1": [10.0, 10.5, 11.0, 11.5],
           "kappa_tilde": [3.0, 4.0, 5.0, 6.0], "trace": 9.0, "samples": 100}
    c = M.liu_belkin_choice(row, 1, 50)  # L₁(1) = 11.5: μ = 11.5/50 = 0.23, two modes,
    assert (c["modes"], c["capped"], c["mu"]) == (2, False, pytest.approx(0.21))  # 10.5/50
    assert (c["L1"], c["kappa_tilde"], c["kappa_m"]) == (10.5, 4.0, pytest.approx(50.0))
    assert c["eta1"] == pytest.approx(1 / 10.5)
    c = M.liu_belkin_choice(row, 10, 10**4)  # the budget resolves below λ_K = 0.1
    assert (c["modes"], c["capped"], c["mu"]) == (4, True, 0.1)
    assert c["kappa_tilde_m"] == pytest.approx(6.0 / 10 + 0.9)


def test_restart_mass_is_the_reports_method_and_b3_at_zero_compensation():
    """B4r builds MaSS with B3's restart schedule, η1 = Nε, η2 = r·η1 (the module table);
    with η2 = 0 the same rule is B3 exactly (report eq. 34 with η2 = 0), step by step."""
    import jax
    import jax.numpy as jnp

    import mflab
    import mflab.optimizers as O
    from mflab.landscapes import quadratic

    cfg = build_config(OptimizersNetworksConfig, "quick", TINY + ["methods=B1,B3,B4r"])
    prob = problem_for(cfg, "A1", None)
    b4r = M.method_for("B4r", cfg, "a1", 1)
    assert set(b4r.grids) == {"eps", "ratio"}
    assert b4r.grids["eps"].values == M.method_for("B3", cfg, "a1", 1).grids["eps"].values
    args = M.arguments("B4r", {"eps": 0.01, "ratio": 0.2}, prob.N, {}, 0.5)
    assert args == pytest.approx({"eta1": prob.N * 0.01, "eta2": 0.2 * prob.N * 0.01})
    L = quadratic(jnp.diag(jnp.array([1.0, 30.0])))
    x0 = jnp.array([[1.0, 1.0], [-0.5, 2.0]])
    runs = [mflab.run(opt, L, x0, 200, jax.random.key(0), record_every=10)
            for opt in (O.mass(0.02, 0.0, restart=True), O.restart_nesterov(0.02))]
    np.testing.assert_array_equal(runs[0].values, runs[1].values)


def _tiny_jobs():
    cfg = build_config(OptimizersNetworksConfig, "quick",
                       TINY + ["problems=A1", "methods=B1,B5", "batch_sizes=1",
                               "budget_a1=64"])
    prob = problem_for(cfg, "A1", None)
    jobs = []
    for meth in ("B1", "B5"):
        method = M.method_for(meth, cfg, "a1", 1)
        point = tuple(sorted((k, g.values[0]) for k, g in method.grids.items()))
        for seed in range(2):
            jobs.append(Job(prob, method, point, 1, seed, 1, 64, (64,), "validation", 0))
            jobs.append(Job(prob, method, point, 1, 2 + seed, 1, 64,
                            tuple(record_steps(64, 1.2, 0.1, 1)), "test", 0))
    return jobs


def _same(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            if k != "wall":
                np.testing.assert_array_equal(ra[k], rb[k], err_msg=k)


@pytest.mark.slow
def test_jobs_give_the_same_numbers_in_any_order_and_on_dask():
    jobs = _tiny_jobs()
    forward = SerialExecutor().map(run_job, jobs)
    backward = SerialExecutor().map(run_job, jobs[::-1])[::-1]
    _same(forward, backward)
    assert all(math.isfinite(r["score"]) for r in forward if "score" in r)
    pytest.importorskip("dask.distributed")
    from mflab.runs.executor import DaskExecutor

    b1 = [i for i, j in enumerate(jobs) if j.method.name == "B1"]  # one chunk: fast
    with DaskExecutor("local:2") as ex:
        _same([forward[i] for i in b1], ex.map(run_job, [jobs[i] for i in b1]))


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() else None for p in d.rglob("*")}


@pytest.mark.parametrize(("setting", "fragment"), [
    ("methods=B1,B7", "methods: 'B7' is not allowed; choose from: B1, B2, B3, B4, B4r, B4lb, B10"),
    ("lb_modes=3000", "lb_samples must exceed 2 × lb_modes (6000); got 4096"),
    ("problems=A5", "problems: 'A5' is not allowed; choose from: A1, A2-bad"),
    ("eps_a2=0.001,0", "eps_a2 must be > 0; got 0.0"),
    ("temperatures=-1", "temperatures must be > 0; got -1.0"),
    ("budget_a1=5,400000", "budget_a1 = 5 samples at m = 1 is smaller than one step of B10 "
     "MF-Hom-SGLD (30 samples: replicas × m × calls)"),
    ("budget_a1=21000,500", "budget_a1 = 500 samples at m = 100 is smaller than one step of "
     "B10"),
    ("budget_a1=20000,201000", "budget_a1 = 20000 at m = 1 is not a whole number of steps of "
     "B10 (30 samples a step)"),
    ("n_train=1000000", "n_train must be <= 60000; got 1000000"),  # issue 26, case 4
    ("pairs=B4-B2", "pairs must be 'A:B' with A != B among B1,B2"),
    ("pairs=B4:B4", "got 'B4:B4'"),
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


def test_screened_records_give_the_final_risk_and_crossing_of_exact_scoring():
    """One A1 comparison job scored at every record (estimate_samples = 0) and screened by
    the Monte Carlo estimate: the same final exact risk and the same target crossing (the
    target placed at the full curve's middle record), with fewer exact scorings."""
    import dataclasses

    from mflab.compare import Target
    from mflab.compare.stats import crossing

    job = next(j for j in _tiny_jobs() if not j.tuning and j.method.name == "B1")
    full = run_job(dataclasses.replace(job, problem=dataclasses.replace(job.problem,
                                                                         n_estimate=0)))
    risk = full["risk"][:, 0]
    assert np.all(np.isfinite(risk)) and "risk_estimate" not in full
    target = Target(float(risk[len(risk) // 2]) * 1.0001)
    screened = run_job(dataclasses.replace(job, problem=dataclasses.replace(
        job.problem, n_estimate=4096, target=target)))
    got = screened["risk"][:, 0]
    assert got[-1] == risk[-1]
    assert crossing(full["samples"], got, target.value) == \
        crossing(full["samples"], risk, target.value) < np.inf
    assert np.isnan(got).sum() > 0
    est, se = screened["risk_estimate"][:, 0], screened["risk_estimate_se"][:, 0]
    assert np.all(np.abs(est - risk) < 5 * se)  # the estimate against the exact risk


def test_a_blown_up_network_scores_inf_not_its_lost_digits():
    """ReLU units (A3) of amplitude ±1e8 in pairs with the same w: the network is 0, so
    R_N = R# = 1, but the exact risk adds terms of ~1e16 that cancel, leaving rounding
    (possibly negative). Its score is +inf (a blown-up network), never a small or negative
    record; a sane network keeps its exact risk."""
    import jax

    from mflab.meanfield.risk import risk_scale
    from mflab.studies.optnets.problems import _units_and_data, build, usable_risk

    assert usable_risk(-7.8e16, 4.0) == np.inf and usable_risk(0.05, 4.0) == 0.05
    cfg = build_config(OptimizersNetworksConfig, "quick", TINY + ["d_a3=6", "s0=2"])
    prob = problem_for(cfg, "A3-trains", None)
    theta = np.asarray(build(prob).init(jax.random.key(0)), np.float64)
    sane = build(prob).evaluate(theta, "test")["risk"]
    units, data = _units_and_data(prob)
    assert 0.01 < sane < np.inf and float(risk_scale(units, data, theta)) < 100
    big = np.repeat(theta[:1], len(theta), axis=0)
    big[:, 0] = 1e8 * np.where(np.arange(len(big)) % 2, 1.0, -1.0)
    assert float(risk_scale(units, data, big)) > 1e15
    assert build(prob).evaluate(big, "test")["risk"] == np.inf
