"""Run directories: atomic creation, no overwrite, checkpoints and resume (toy study)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pandas as pd
import pytest

import mflab  # noqa: F401  (x64)
from mflab.runs import RunError, prepare, replot, resume, start
from mflab.runs.io import read_metrics
from mflab.runs.lifecycle import partial_for
from mflab.studies import registry
from toy_study import Crash, Toy, register
from toy_study import walk as _walk


@pytest.fixture(autouse=True)
def _register_toy(monkeypatch):
    register(monkeypatch)


def test_complete_run_layout(tmp_path):
    out = start("toy", preset="quick", seed=3, out=tmp_path / "r", progress=False)
    assert out == tmp_path / "r"
    names = {p.name for p in out.iterdir()}
    assert names == {"config.json", "meta.json", "metrics.parquet", "arrays", "tables",
                     "figures", "summary.md", "report.html"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no partial left behind
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["seed"] == 3
    assert meta["versions"]["jax"] == jax.__version__
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"] == {"n_steps": 6, "crash_at": -1, "n_bytes": 0, "step_seconds": 0.0}
    assert cfg["study"] == "toy"
    m = read_metrics(out)
    assert list(m.columns[:6]) == ["study", "optimizer", "seed", "step", "metric", "value"]
    np.testing.assert_array_equal(m.value, _walk(3, 6))
    assert "## Provenance" in (out / "summary.md").read_text()


def test_crash_leaves_no_final_dir_and_resume_matches_plain_loop(tmp_path):
    Toy.crash_at = 4
    final = tmp_path / "r"
    with pytest.raises(Crash):
        start("toy", seed=1, out=final, progress=False)
    assert not final.exists() and partial_for(final).is_dir()
    # the metric rows logged after the last checkpoint are dropped on resume
    Toy.crash_at = -1
    assert resume(final, progress=False) == final
    assert not partial_for(final).exists()
    m = read_metrics(final)
    np.testing.assert_array_equal(m.step, np.arange(1, 7))
    np.testing.assert_array_equal(m.value, _walk(1, 6))  # exact: same keys, same arithmetic
    meta = json.loads((final / "meta.json").read_text())
    assert [s["resumed"] for s in meta["segments"]] == [False, True]


def test_existing_directory_is_never_overwritten(tmp_path):
    target = tmp_path / "r"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(RunError, match="already exists; refusing to overwrite"):
        prepare("toy", out=target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    # a pending partial run blocks a new run of the same name too
    Toy.crash_at = 2
    with pytest.raises(Crash):
        start("toy", out=tmp_path / "s", progress=False)
    with pytest.raises(RunError, match="interrupted run is pending"):
        prepare("toy", out=tmp_path / "s")


def test_resume_refusals(tmp_path):
    with pytest.raises(RunError, match="no interrupted run"):
        resume(tmp_path / "nothing")
    done = start("toy", out=tmp_path / "done", progress=False)
    with pytest.raises(RunError, match="already complete"):
        resume(done)


def test_replot_from_files_alone(tmp_path):
    out = start("toy", out=tmp_path / "r", progress=False)
    before = (out / "figures" / "walk.png").read_bytes()
    (out / "figures" / "walk.png").unlink()
    assert replot(out) == [out / "figures" / "walk.png"]
    assert (out / "figures" / "walk.png").read_bytes() == before


def test_metric_rows_need_the_long_format_columns(tmp_path):
    _, ctx = prepare("toy", out=tmp_path / "r")
    with pytest.raises(ValueError, match="miss columns"):
        ctx.log_metrics({"step": 1, "value": 2.0})
    ctx.log_metrics(pd.DataFrame({"step": [1], "metric": ["m"], "value": [1.5],
                                  "extra": ["kept"]}), optimizer="o")
    df = pd.read_parquet(ctx.consolidate_metrics())
    assert df.iloc[0].to_dict() == {"study": "toy", "optimizer": "o", "seed": 0, "step": 1,
                                    "metric": "m", "value": 1.5, "extra": "kept"}


def test_reproduce_writes_an_index_and_reports_failures(tmp_path):
    from mflab.runs.reproduce import reproduce

    index, failed = reproduce(out=tmp_path / "rep", studies=["toy"], progress=False)
    text = index.read_text()
    assert failed == [] and "[summary](toy/summary.md)" in text
    assert "![walk](toy/figures/walk.png)" in text and (tmp_path / "rep/toy/summary.md").exists()
    Toy.crash_at = 1
    index, failed = reproduce(out=tmp_path / "rep2", studies=["toy"], progress=False)
    assert failed == ["toy"] and "| toy | failed |" in index.read_text()
    with pytest.raises(RunError, match="holds another request"):
        reproduce(out=tmp_path / "rep", studies=["toy"], seed=3)


def test_registry_descriptions_match_the_studies():
    for name in registry.names():
        if name.startswith("toy"):
            continue
        study = registry.get(name)
        assert study.name == name and study.description == registry.describe(name)
        assert {"paper", "quick"} <= set(study.Config.PRESETS)
        for preset in study.Config.PRESETS:  # every preset is a valid config
            from mflab.runs import build_config

            build_config(study.Config, preset)


def test_a_failure_after_the_final_meta_update_counts_the_segment_once(tmp_path, monkeypatch):
    """A study whose summary fails (after ``_finalize`` closed the segment) leaves a partial
    run whose meta.json holds one segment, and a wall time that is that segment's."""
    def broken(self, run_dir):
        raise Crash("summary failed")

    monkeypatch.setattr(Toy, "summarize", broken)
    with pytest.raises(Crash):
        start("toy", out=tmp_path / "r", progress=False)
    meta = json.loads((partial_for(tmp_path / "r") / "meta.json").read_text())
    assert len(meta["segments"]) == 1 and meta["status"] == "interrupted"
    assert meta["wall_time_s"] == pytest.approx(meta["segments"][0]["seconds"])
