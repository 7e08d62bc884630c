"""Sweeps that survive faults. A Dask worker killed mid-run (a real LocalCluster of worker
processes on 127.0.0.1) and a whole sweep killed by SIGKILL both end with every seed
exactly once, no partial or lock left, and metrics identical to a serial uninterrupted
sweep and to the plain-loop walk (toy study); a real study on Dask equals its serial run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mflab.runs import start
from mflab.runs.io import read_meta, read_metrics
from mflab.runs.lock import LOCK_NAME
from mflab.runs.sweep import sweep
from toy_study import register, register_globally, walk

distributed = pytest.importorskip("dask.distributed")

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{TESTS}"}
SLOW_WALK = ["n_steps=12", "step_seconds=0.05"]  # ~0.6 s a seed, a checkpoint every step
TINY = ["n_agents=16", "budget=400", "n_records=4", "optimizers=B1", "n_trajectories=2",
        "descent_max_steps=20000"]


class RegisterToys(distributed.WorkerPlugin):
    """Registers the toy studies in every worker, also in one restarted after a kill."""

    def setup(self, worker):
        register_globally()


@pytest.fixture(autouse=True)
def _toys(monkeypatch):
    register(monkeypatch)
    monkeypatch.setenv("PYTHONPATH", ENV["PYTHONPATH"])  # worker processes import toy_study


def _kill_mid_run(out: Path, seeds: list[int], pids: set[int] | None = None,
                  timeout: float = 120.0) -> int:
    """SIGKILL the writer of the first of ``seeds`` seen with a checkpoint (the pid in its
    lock file; it must be one of ``pids`` when given); returns that seed."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for s in seeds:
            partial = out / f".seed-{s}.partial"
            if (partial / "checkpoint" / "checkpoint.json").exists():
                try:
                    pid = json.loads((partial / LOCK_NAME).read_text())["pid"]
                except (OSError, ValueError, KeyError):
                    continue
                assert pid != os.getpid() and (pids is None or pid in pids)
                os.kill(pid, signal.SIGKILL)
                return s
        time.sleep(0.01)
    raise AssertionError(f"no seed of {seeds} was caught mid-run in {out}")


def _check_complete(out: Path, seeds: list[int]) -> pd.DataFrame:
    """Every seed once, each equal to the plain-loop walk; nothing partial, no lock left."""
    assert sorted(p.name for p in out.iterdir() if "seed" in p.name) == \
        sorted(f"seed-{s}" for s in seeds)
    assert not [p for p in out.rglob("*") if p.name == LOCK_NAME or "partial" in p.name]
    both = pd.read_parquet(out / "metrics.parquet")
    assert not both.duplicated(["seed", "optimizer", "step", "metric"]).any()
    for s in seeds:
        pd.testing.assert_frame_equal(both[both.sweep_seed == s].drop(columns="sweep_seed")
                                      .reset_index(drop=True),
                                      read_metrics(out / f"seed-{s}"), check_exact=True)
        np.testing.assert_array_equal(both[both.sweep_seed == s].value, walk(s, 12))
    return both


@pytest.mark.slow
def test_dask_sweep_survives_a_killed_worker(tmp_path):
    from mflab.runs.executor import DaskExecutor

    out, result = tmp_path / "dask", {}
    with DaskExecutor("local:2") as ex:
        workers = ex.client.scheduler_info()["workers"]
        assert len(workers) == 2 and all(a.startswith("tcp://127.0.0.1") for a in workers)
        ex.client.register_plugin(RegisterToys())
        pids = set(ex.client.run(os.getpid).values())
        job = threading.Thread(target=lambda: result.update(r=sweep(
            "toy", [0, 1, 2, 3], overrides=SLOW_WALK, out=out, executor=ex)))
        job.start()
        killed = _kill_mid_run(out, [0, 1], pids)
        job.join(timeout=300)
        assert not job.is_alive()
        # a real study on the workers equals its serial run exactly
        real, failed = sweep("mueller-brown", [5], overrides=TINY, out=tmp_path / "mb",
                             executor=ex)
    assert result["r"][1] == [] and failed == []
    _check_complete(out, [0, 1, 2, 3])
    # the retried task resumed its own partial run: a resumed last segment
    assert read_meta(out / f"seed-{killed}")["segments"][-1]["resumed"] is True
    serial, failed = sweep("toy", [0, 1, 2, 3], overrides=["n_steps=12"], out=tmp_path / "ser")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "metrics.parquet"),
                                  pd.read_parquet(serial / "metrics.parquet"), check_exact=True)
    assert (out / "sweep.md").read_text() == (serial / "sweep.md").read_text()
    alone = start("mueller-brown", overrides=TINY, seed=5, out=tmp_path / "mb-serial",
                  progress=False)
    pd.testing.assert_frame_equal(read_metrics(real / "seed-5"), read_metrics(alone),
                                  check_exact=True)


@pytest.mark.slow
def test_a_reproduction_on_dask_spreads_its_members_own_jobs_and_equals_serial(tmp_path):
    """A member that maps jobs (toy-jobs, as C5 does) sends them from its worker to the
    same cluster: every job runs once, both workers run some (the member's own worker too:
    its thread secedes while it waits), and the metrics equal a serial reproduction's. (A
    second, plain member would hold the other worker while the jobs run, under load for
    all of them; plain members on Dask are the sweep test's.)"""
    from mflab.runs.executor import DaskExecutor
    from mflab.runs.reproduce import reproduce

    ser, failed = reproduce(studies=["toy-jobs"], out=tmp_path / "ser", progress=False)
    assert failed == [] and not (tmp_path / "ser" / "workers.csv").exists()
    with DaskExecutor("local:2") as ex:
        ex.client.register_plugin(RegisterToys())
        index, failed = reproduce(studies=["toy-jobs"], out=tmp_path / "dask", executor=ex,
                                  progress=False)
    assert failed == []
    out = tmp_path / "dask"
    pd.testing.assert_frame_equal(read_metrics(out / "toy-jobs"),
                                  read_metrics(tmp_path / "ser" / "toy-jobs"), check_exact=True)
    np.testing.assert_array_equal(read_metrics(out / "toy-jobs").value,
                                  [walk(j, 6)[-1] for j in range(8)])
    assert index.read_text().split("| study |")[1].count("complete") == 1
    busy = pd.read_csv(out / "workers.csv")
    jobs = busy[busy.task == "toy_job"]
    assert jobs.tasks.sum() == 8 and jobs.worker.nunique() == 2, busy
    assert busy[busy.task == "run_member"].tasks.sum() == 1


@pytest.mark.slow
def test_killed_sweep_is_continued_by_resume(tmp_path):
    cli = [sys.executable, str(TESTS / "toy_study.py")]
    # --jobs 1: the seeds one after the other in the sweep's own process (the default pool
    # would run them at once, in worker processes)
    args = ["sweep", "toy", "--seeds", "0-2", *(a for kv in SLOW_WALK for a in ("--set", kv)),
            "--jobs", "1", "--out", "sw"]
    proc = subprocess.Popen([*cli, *args], cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _kill_mid_run(tmp_path / "sw", [1])  # the lock names the sweep process itself
    finally:
        proc.kill()
        proc.wait()
    out = tmp_path / "sw"
    # what the kill left: seed 0 done, seed 1 interrupted, seed 2 missing, no index
    assert {p.name for p in out.iterdir()} == {"manifest.json", LOCK_NAME, "seed-0",
                                               ".seed-1.partial"}
    r = subprocess.run([*cli, "resume", "sw", "--jobs", "1"], cwd=tmp_path, env=ENV,
                       capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    _check_complete(out, [0, 1, 2])
    assert read_meta(out / "seed-1")["segments"][-1]["resumed"] is True
    serial, _ = sweep("toy", [0, 1, 2], overrides=["n_steps=12"], out=tmp_path / "ser")
    assert (out / "sweep.md").read_text() == (serial / "sweep.md").read_text()
    # the same command again: everything is done, nothing is rerun, exit 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("meta.json")}
    r = subprocess.run([*cli, *args], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("meta.json")} == before


def test_sweep_refuses_bad_seeds(tmp_path):
    from mflab.errors import RunError

    for seeds in ([0, 0], [], [-1, 2], [2**31]):
        with pytest.raises(RunError, match="seeds must be 1 to 10000 distinct integers"):
            sweep("mueller-brown", seeds, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
