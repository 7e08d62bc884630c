"""Run directories: atomic creation, no overwrite, checkpoints and resume (toy study)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import mflab  # noqa: F401  (x64)
from mflab.runs import RunError, StudyConfig, param, prepare, replot, resume, start
from mflab.runs.io import read_arrays, read_metrics
from mflab.runs.lifecycle import partial_for
from mflab.studies import base, registry


class Crash(RuntimeError):
    pass


@dataclass(frozen=True)
class ToyConfig(StudyConfig):
    n_steps: int = param(6, ge=1)
    crash_at: int = param(-1, ge=-1)  # step at which run() raises (simulated crash), -1: never

    PRESETS: ClassVar[dict] = {"paper": {}, "quick": {"n_steps": 6}}


class Toy(base.Study):
    """A random walk x_{k+1} = x_k + ξ_k, ξ_k from fold_in(key, k), checkpointed each step."""

    name = "toy"
    description = "toy random walk"
    Config = ToyConfig
    crash_at = -1  # class switch used by the tests (not part of the config)

    def run(self, config, ctx):
        like = {"x": jnp.zeros(3), "key": jax.random.key(0)}
        ck = ctx.load_checkpoint(like=like)
        k, state = (ck.progress, ck.state) if ck else (0, {"x": jnp.zeros(3),
                                                         "key": jax.random.key(ctx.seed)})
        while k < config.n_steps:
            if k == Toy.crash_at:
                raise Crash(f"simulated crash at step {k}")
            xi = jax.random.normal(jax.random.fold_in(state["key"], k), (3,))
            state = {"x": state["x"] + xi, "key": state["key"]}
            k += 1
            ctx.log_metrics({"optimizer": "walk", "step": k, "metric": "x0",
                             "value": float(state["x"][0])})
            ctx.save_checkpoint(k, state=state)
        ctx.save_arrays("final", x=np.asarray(state["x"]))

    def plot(self, run_dir):
        import matplotlib.pyplot as plt

        m = read_metrics(run_dir)
        fig, ax = plt.subplots()
        ax.plot(m.step, m.value)
        path = Path(run_dir) / "figures" / "walk.png"
        fig.savefig(path)
        plt.close(fig)
        return [path]

    def summarize(self, run_dir):
        return f"# toy\n\nfinal x = {read_arrays(run_dir, 'final')['x'].tolist()}\n"


TOY = Toy()


@pytest.fixture(autouse=True)
def _register_toy(monkeypatch):
    monkeypatch.setitem(registry.STUDIES, "toy",
                        registry.Entry(f"{__name__}:TOY", Toy.description))
    monkeypatch.setattr(Toy, "crash_at", -1)


def _walk(seed: int, n: int) -> np.ndarray:
    """The same walk by a plain loop (reference for resumed runs)."""
    key, x, out = jax.random.key(seed), jnp.zeros(3), []
    for k in range(n):
        x = x + jax.random.normal(jax.random.fold_in(key, k), (3,))
        out.append(float(x[0]))
    return np.array(out)


def test_complete_run_layout(tmp_path):
    out = start("toy", preset="quick", seed=3, out=tmp_path / "r", progress=False)
    assert out == tmp_path / "r"
    names = {p.name for p in out.iterdir()}
    assert names == {"config.json", "meta.json", "metrics.parquet", "arrays", "tables",
                     "figures", "summary.md"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no partial left behind
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["seed"] == 3
    assert meta["versions"]["jax"] == jax.__version__
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"] == {"n_steps": 6, "crash_at": -1} and cfg["study"] == "toy"
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
    with pytest.raises(RunError, match="already exists"):
        reproduce(out=tmp_path / "rep", studies=["toy"])


def test_registry_descriptions_match_the_studies():
    for name in registry.names():
        if name == "toy":
            continue
        study = registry.get(name)
        assert study.name == name and study.description == registry.describe(name)
        assert {"paper", "quick"} <= set(study.Config.PRESETS)
        for preset in study.Config.PRESETS:  # every preset is a valid config
            from mflab.runs import build_config

            build_config(study.Config, preset)
