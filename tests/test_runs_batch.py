"""Sweeps and reproductions as a whole: a killed batch is continued to exactly the result
of an uninterrupted one; a directory holding something else is refused (toy studies)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mflab.cli import main
from mflab.runs import RunError, start
from mflab.runs.batch import MANIFEST, open_batch
from mflab.runs.io import read_meta, read_metrics
from mflab.runs.lifecycle import partial_for
from mflab.runs.lock import LOCK_NAME
from mflab.runs.reproduce import reproduce, reproduce_request
from mflab.runs.sweep import sweep
from toy_study import Toy, register, walk

STUDIES = ["toy", "toy-b", "toy-c"]


@pytest.fixture(autouse=True)
def _register_toy(monkeypatch):
    register(monkeypatch)


def _no_wall_times(text: str) -> str:
    return re.sub(r"\| \d+\.\d \|", "| T |", text)


def test_killed_reproduce_is_continued_to_the_uninterrupted_result(tmp_path):
    ref, failed = reproduce(out=tmp_path / "ref", studies=STUDIES, progress=False)
    assert failed == []
    # the state a kill -9 leaves: manifest and a dead writer's lock, one study complete,
    # one interrupted after its third step, one not started, no summary.md
    rq = tmp_path / "rq"
    open_batch(rq, reproduce_request(studies=STUDIES)).release()
    start("toy", out=rq / "toy", progress=False)
    Toy.crash_at = 3
    with pytest.raises(RuntimeError, match="simulated crash"):
        start("toy-b", out=rq / "toy-b", progress=False)
    Toy.crash_at = -1
    assert sorted(p.name for p in rq.iterdir()) == [".lock", ".toy-b.partial", MANIFEST, "toy"]
    # the same request into the same directory continues it
    index, failed = reproduce(out=rq, studies=STUDIES, progress=False)
    assert failed == []
    assert sorted(p.name for p in rq.iterdir()) == [MANIFEST, "report.html", "summary.md", *STUDIES]
    assert _no_wall_times(index.read_text()) == _no_wall_times(ref.read_text())
    for name in STUDIES:
        pd.testing.assert_frame_equal(read_metrics(rq / name),
                                      read_metrics(tmp_path / "ref" / name), check_exact=True)
        np.testing.assert_array_equal(read_metrics(rq / name).value, walk(0, 6))
    resumed = [s["resumed"] for s in read_meta(rq / "toy-b")["segments"]]
    assert resumed == [False, True]  # toy-b went on from its checkpoint, not from scratch


def test_resume_of_a_finished_batch_rebuilds_the_index_and_reruns_nothing(tmp_path, capsys):
    out, failed = sweep("toy", [0, 1], out=tmp_path / "sw")
    assert failed == []
    before = {p: p.stat().st_mtime_ns for p in out.rglob("meta.json")}
    (out / "sweep.md").unlink()
    assert main(["resume", str(out)]) == 0
    assert "| 1 | complete | [summary](seed-1/summary.md) |" in (out / "sweep.md").read_text()
    assert {p: p.stat().st_mtime_ns for p in out.rglob("meta.json")} == before
    both = pd.read_parquet(out / "metrics.parquet")
    assert both.groupby("sweep_seed").size().to_dict() == {0: 6, 1: 6}


def test_a_sweeps_table_tells_its_seeds_apart(tmp_path):
    # issue 26, case 1: a study whose own `seed` column is a repetition index (every member
    # writes 0) — the combined table keeps each member's root seed in `sweep_seed`
    Toy.repetition_column = True
    out, failed = sweep("toy", [0, 1, 2, 3], out=tmp_path / "sw", overrides=["n_steps=3"])
    assert failed == []
    df = pd.read_parquet(out / "metrics.parquet")
    assert sorted(df.sweep_seed.unique()) == [0, 1, 2, 3]
    assert set(df.seed) == {0}  # the study's own column, untouched
    keys = ["sweep_seed", "optimizer", "step", "metric"]
    assert df.groupby(keys).size().eq(1).all() and len(df) == 4 * 3
    for s in range(4):  # each member's values are its own walk
        np.testing.assert_array_equal(df[df.sweep_seed == s].sort_values("step").value,
                                      walk(s, 3))


def test_a_sweep_member_that_diverged_is_reported_and_not_rerun(tmp_path):
    Toy.diverge_at = 2
    out, failed = sweep("toy", [0, 1], out=tmp_path / "sw")
    assert failed == [0, 1]
    text = (out / "sweep.md").read_text()
    assert "| 0 | failed: `diverged: walk diverged at step 2: x became inf at step 2` |" in text
    assert read_meta(out / "seed-0")["status"] == "diverged"
    Toy.diverge_at = -1  # a rerun would now succeed: a finished (diverged) member is kept
    out, failed = sweep("toy", [0, 1], out=tmp_path / "sw")
    assert failed == [0, 1] and read_meta(out / "seed-1")["status"] == "diverged"


def test_a_directory_holding_something_else_is_refused_unchanged(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="is not an mflab sweep directory"):
        sweep("toy", [0], out=other)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    out, _ = sweep("toy", [0], out=tmp_path / "sw")
    listing = sorted(str(p) for p in out.rglob("*"))
    with pytest.raises(RunError, match="holds another request"):
        sweep("toy", [0, 1], out=out)
    with pytest.raises(RunError, match="holds another request"):
        sweep("toy-b", [0], out=out)
    assert sorted(str(p) for p in out.rglob("*")) == listing
    request = json.loads((out / MANIFEST).read_text())["request"]
    assert request == {"kind": "sweep", "study": "toy", "preset": "quick", "overrides": [],
                       "seeds": [0]}


def test_a_member_killed_before_its_config_was_written_starts_afresh(tmp_path):
    out = tmp_path / "sw"
    open_batch(out, {"kind": "sweep", "study": "toy", "preset": "quick", "overrides": [],
                     "seeds": [0]}).release()
    partial_for(out / "seed-0").mkdir()  # killed right after creating its directory
    assert sweep("toy", [0], out=out)[1] == []
    assert not any(p.name == LOCK_NAME for p in out.rglob("*"))
    np.testing.assert_array_equal(read_metrics(out / "seed-0").value, walk(0, 6))


class _LostExecutor:
    """A scheduler that dies right after handing each job to a worker: the workers (here
    real processes running the member) go on writing, the client gets errors at once."""

    def __init__(self):
        self.workers = []

    def map(self, fn, items):
        import os
        import subprocess
        import sys
        import time

        from mflab.runs.lock import live_owner

        tests = Path(__file__).resolve().parent
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent / "src"),
                                                            str(tests)])}
        out = []
        for m in items:
            self.workers.append(subprocess.Popen(
                [sys.executable, "-m", "mflab", "run", m.study, "--seed", str(m.seed),
                 *[a for o in m.overrides for a in ("--set", o)], "--out", m.out,
                 "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
            t0 = time.time()
            while live_owner(partial_for(Path(m.out))) is None and time.time() - t0 < 60:
                time.sleep(0.05)
            out.append(ConnectionError("the scheduler died"))
        return out


@pytest.mark.slow
def test_a_batch_whose_scheduler_died_waits_for_its_workers_runs(tmp_path):
    # issue 26, case 6: the client used to report every job failed and release the sweep at
    # once while the workers went on writing; a resume right after failed on their locks
    from mflab.runs.batch import check_batch, execute_batch, resume_batch
    from mflab.runs.sweep import sweep_request

    request = sweep_request("toy_study:Toy", [0, 1],
                            overrides=["n_steps=5", "step_seconds=0.3"])
    out = tmp_path / "sw"
    members = check_batch(request, out)
    lost = _LostExecutor()
    index, failed = execute_batch(request, out, members, executor=lost)
    assert failed == [0, 1]
    assert "lost: ConnectionError: the scheduler died" in index.read_text()
    # it waited for the orphans: their runs are finished and nobody holds them
    assert all((out / f"seed-{s}" / "summary.md").exists() for s in (0, 1))
    index, failed = resume_batch(out)  # right after: nothing locked, nothing to redo
    for w in lost.workers:
        w.wait(timeout=60)
    assert failed == []
    for s in (0, 1):
        np.testing.assert_array_equal(read_metrics(out / f"seed-{s}").value, walk(s, 5))
