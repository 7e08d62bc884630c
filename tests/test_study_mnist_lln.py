"""Study C4 (MNIST LLN) end to end on the shared MNIST files, and its W1 table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from figure_checks import check_study_figures
from mflab.runs.io import read_arrays, read_config, read_table
from mflab.studies.mnist_lln import MnistLLNConfig, checkout_data_dir, w1_table

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MFLAB_MNIST_DIR", ROOT.parent / "shared" / "data" / "mnist"))
needs_data = pytest.mark.skipif(not (DATA / "t10k-labels-idx1-ubyte.gz").is_file(),
                                reason=f"MNIST files not found in {DATA}")


def test_w1_table_against_closed_form():
    # units drawn from N(μ_N, 1) with μ_N = 1/N: W1 to the N_max law is |1/N − 1/N_max| + O(n^−½)
    rng = np.random.default_rng(0)
    Ns, n = (10, 100, 1000), 1_000_000
    arrays = {(N, s): {"c": rng.normal(1 / N, 1.0, (1, n)), "w_norm": rng.random((1, n))}
              for N in Ns for s in range(2)}
    rows = w1_table(arrays, Ns, 2, (0,))
    for r in rows:
        if r["quantity"] == "c":
            # W1 between two independent 10⁶-samples of N(0, 1) measured 0.001–0.002; a
            # 4e-3 tolerance keeps the N = 100 row (signal 9e-3) meaningful
            assert abs(r["w1"] - abs(1 / r["N"] - 1e-3)) < 4e-3
    assert {(r["N"], r["seed"]) for r in rows} == {(10, 0), (10, 1), (100, 0), (100, 1), (1000, 1)}


def test_config_refuses_bad_input():
    from mflab.runs.config import ConfigError, build_config

    with pytest.raises(ConfigError, match="record_epochs must be <= epochs"):
        build_config(MnistLLNConfig, "quick", ["record_epochs=0,5"])
    with pytest.raises(ConfigError, match="digit"):
        build_config(MnistLLNConfig, "quick", ["digit=10"])
    # issue 26, case 4: more images than MNIST's training set used to pass validation
    with pytest.raises(ConfigError, match="n_train must be <= 60000"):
        build_config(MnistLLNConfig, "quick", ["n_train=1000000"])


@needs_data
@pytest.mark.slow
def test_quick_study_end_to_end(tmp_path, monkeypatch):
    out = tmp_path / "c4"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MFLAB_MNIST_DIR": str(DATA)}
    cmd = [sys.executable, "-m", "mflab", "run", "mnist-lln", "--preset", "quick", "--no-progress",
           "--set", "Ns=10,200", "--set", "n_train=12000", "--set", "epochs=1",
           "--set", "record_epochs=0,1", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = read_config(out)
    acc = read_table(out, "accuracy")
    # digit 0 is 980/10000 of the test set: the majority class scores 0.902 (error 0.098);
    # 120 mean-field SGD steps must cut that error by at least a third at every width
    assert (acc.test_accuracy > 0.935).all()
    w1 = read_table(out, "w1")
    a = read_arrays(out, "units_N10_s0")
    assert a["c"].shape == (2, 10) and a["w_norm"].shape == (2, 10)
    # at epoch 1 the N=10 law is farther from the N=200 law than two N=200 seeds are
    e1 = w1[(w1.epoch == 1) & (w1.quantity == "c")]
    assert e1[e1.N == 10].w1.mean() > e1[e1.N == 200].w1.mean()
    assert {p.name for p in (out / "figures").iterdir()} == {"hist_c.png", "hist_w_norm.png",
                                                              "w1.png"}
    assert cfg["Ns"] == [10, 200]
    # plotting again from the files alone gives the same figures
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "figures")
    r = subprocess.run([sys.executable, "-m", "mflab", "plot", str(copy)], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    for name in ("hist_c.png", "w1.png"):
        assert (copy / "figures" / name).read_bytes() == (out / "figures" / name).read_bytes()
    check_study_figures("mnist-lln", out, monkeypatch)


def test_checkout_data_dir_is_found():
    found = checkout_data_dir()
    if DATA.is_dir() and str(DATA).startswith(str(ROOT.parent)):
        assert found is not None and found.resolve() == DATA.resolve()


def test_summary_of_one_seed_says_no_spread_and_no_slope(tmp_path):
    # issue 26, case 7: one seed printed "± 0.0000" and an empty slope
    import json

    import pandas as pd

    from mflab.studies.mnist_lln import STUDY, loglog_slope

    (tmp_path / "tables").mkdir()
    cfg = {"Ns": [10, 100], "n_seeds": 1, "digit": 0, "epochs": 1, "batch_size": 10,
           "step_size": 0.1, "n_train": None, "record_epochs": [0, 1]}
    (tmp_path / "config.json").write_text(json.dumps({"config": cfg}))
    pd.DataFrame([{"N": N, "seed": 0, "epoch": 1, "quantity": q, "w1": 0.1}
                  for N in (10, 100) for q in ("c", "w_norm")]).to_csv(
        tmp_path / "tables" / "w1.csv", index=False)
    pd.DataFrame([{"N": N, "seed": 0, "test_accuracy": 0.95} for N in (10, 100)]).to_csv(
        tmp_path / "tables" / "accuracy.csv", index=False)
    text = STUDY.summarize(tmp_path)
    assert "± 0.0000" not in text and "(one seed, no spread)" in text
    assert "no slope (fewer than two widths below the largest)" in text
    # and a real slope states its range and interval: W1 = N^-1/2 exactly gives -0.50 ± 0.00
    N = np.array([10, 100, 1000])
    assert loglog_slope(N, N ** -0.5) == "-0.50 ± 0.00 (standard error, N = 10…1000)"

