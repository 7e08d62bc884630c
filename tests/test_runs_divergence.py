"""A run in which a method diverged is a failure: exit 1 naming the method and the step,
status "diverged" in meta.json, never "complete"."""

from __future__ import annotations

import warnings

import pytest

from mflab.cli import main
from mflab.runs import RunDiverged, start
from mflab.runs.io import read_meta
from mflab.runs.lifecycle import partial_for
from toy_study import Toy, register


@pytest.fixture(autouse=True)
def _register_toy(monkeypatch):
    register(monkeypatch)


def test_a_method_reported_diverged_fails_the_finished_run(tmp_path, capsys):
    Toy.diverge_at = 3
    assert main(["run", "toy", "--out", str(tmp_path / "r"), "--no-progress"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("mflab: error: run diverged: walk diverged at step 3: x became inf")
    meta = read_meta(tmp_path / "r")  # finished: the other results are kept and readable
    assert meta["status"] == "diverged" and meta["finished"]
    assert meta["divergences"] == [{"method": "walk", "step": 3,
                                    "message": "x became inf at step 3"}]
    assert "**failed: walk diverged at step 3" in (tmp_path / "r" / "summary.md").read_text()


def test_a_study_stopped_by_a_divergence_error_fails(tmp_path):
    Toy.blow_up_at = 2
    with pytest.raises(RunDiverged, match="^run diverged: walk became nan at step 2 ") as e:
        start("toy", out=tmp_path / "r", progress=False)
    partial = partial_for(tmp_path / "r")
    assert e.value.run_dir == partial and not (tmp_path / "r").exists()
    meta = read_meta(partial)
    assert meta["status"] == "diverged"
    assert meta["divergences"][-1]["message"] == "walk became nan at step 2"


def test_mueller_brown_with_a_huge_step_fails_naming_the_method_and_step(tmp_path, capsys):
    """SPEC C6 at η = 10: GD leaves the box at once and V overflows (the issue's case 4)."""
    argv = ["run", "mueller-brown", "--set", "eta=10", "--set", "optimizers=B1",
            "--set", "n_agents=8", "--set", "budget=100", "--set", "n_records=2",
            "--set", "n_trajectories=2", "--out", str(tmp_path / "r"), "--no-progress"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no flood of NumPy warnings (issue 26, case 7)
        assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    last = err[-1]
    assert "run diverged: B1 GD diverged" in last and "at step" in last
    # the first non-finite step (GD at η = 10 leaves at once), not the record at step 50
    step = int(last.split("at step ")[1].split(":")[0])
    assert 0 < step < 50, last
    assert len(err) <= 3, err  # a warning per seed and the error line
    meta = read_meta(tmp_path / "r")
    assert meta["status"] == "diverged" and meta["divergences"][0]["method"] == "B1 GD"


def test_a_diverged_meanfield_study_names_the_method_and_the_first_step(tmp_path, capsys):
    # issue 26, case 7: mf-anisotropic at ε = 5 used to fail naming no method
    argv = ["run", "mf-anisotropic", "--set", "eps=5", "--set", "N=20", "--set", "d=8",
            "--set", "s0=4", "--set", "n_steps=256", "--set", "dd_refine=false",
            "--set", "dd_m1=2", "--set", "dd_m2=2", "--out", str(tmp_path / "r"),
            "--no-progress"]
    assert main(argv) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("mflab: error: run diverged: sgd diverged at step "), last
    assert "(the first non-finite step)" in last
    meta = read_meta(partial_for(tmp_path / "r"))
    assert meta["status"] == "diverged" and meta["divergences"][-1]["method"] == "sgd"
