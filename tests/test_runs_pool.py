"""The local process pool (issue 25): a sweep's runs in two worker processes give exactly the
metrics of the serial sweep; a worker killed mid-job comes back as that job's error, the
others finish; the command line refuses a bad ``--jobs`` in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mflab.runs.executor import PoolExecutor, SerialExecutor
from mflab.runs.io import read_metrics, read_table
from mflab.runs.sweep import sweep

ROOT = Path(__file__).resolve().parents[1]
TINY = ["n_agents=16", "budget=400", "n_records=4", "optimizers=B1,B5", "n_trajectories=2",
        "descent_max_steps=20000"]


@pytest.mark.slow
def test_a_pool_sweep_equals_the_serial_sweep(tmp_path):
    serial, _ = sweep("mueller-brown", [0, 1, 2], overrides=TINY, out=tmp_path / "serial",
                      executor=SerialExecutor())
    with PoolExecutor(2) as pool:
        pooled, failed = sweep("mueller-brown", [0, 1, 2], overrides=TINY,
                               out=tmp_path / "pool", executor=pool)
    assert failed == []
    pd.testing.assert_frame_equal(pd.read_parquet(serial / "metrics.parquet"),
                                  pd.read_parquet(pooled / "metrics.parquet"), check_exact=True)
    for s in (0, 1, 2):
        a, b = read_table(serial / f"seed-{s}", "basins"), read_table(pooled / f"seed-{s}",
                                                                      "basins")
        cols = [c for c in a.columns if not c.startswith("wall time")]
        pd.testing.assert_frame_equal(a[cols], b[cols], check_exact=True)
        assert len(read_metrics(pooled / f"seed-{s}"))


def _die_on_one(x: int) -> int:
    if x == 1:
        os._exit(3)  # a worker that dies (as under the OOM killer)
    return 10 * x


def test_a_dead_worker_is_that_jobs_error_and_the_pool_reports_each_result():
    seen = []
    with PoolExecutor(2) as pool:
        out = pool.map(_die_on_one, [0], on_result=lambda i, r: seen.append((i, r)))
    assert out == [0] and seen == [(0, 0)]
    with PoolExecutor(2) as pool:
        out = pool.map(_die_on_one, [0, 1, 2])
    assert isinstance(out[1], Exception)
    # a broken pool may fail its other pending jobs too, never silently: each is a value
    # or an exception, in order
    assert all(o == 10 * i or isinstance(o, Exception) for i, o in enumerate(out))


def test_a_pool_starts_the_heaviest_members_first_and_returns_them_in_order(monkeypatch):
    # longest-processing-time order: the studies' registered quick-run seconds decide
    # which member a pool gets first; the results come back in the members' order
    import mflab.runs.batch as batch
    from mflab.runs.batch import Member
    from mflab.studies import registry

    class Recording:  # a parallel executor that records what it was handed, in order
        n = 2

        def __init__(self):
            self.seen = []

        def map(self, fn, items, on_result=None):
            self.seen = [m.study for m in items]
            return [fn(m) for m in items]

    import mflab.runs.executor as ex

    monkeypatch.setattr(ex, "PoolExecutor", Recording)  # _run_members imports it when called
    monkeypatch.setattr(batch, "run_member", lambda m: ("ran", m.study, None))
    names = ["mnist-lln", "optimizers-networks", "mueller-brown", "mf-anisotropic"]
    members = [Member(key=n, study=n, preset="quick", overrides=(), seed=0, out=f"x/{n}",
                      progress=False, max_memory=None) for n in names]
    rec = Recording()
    out = batch._run_members({"kind": "reproduce"}, members, rec, progress=False)
    assert out == [("ran", n, None) for n in names]
    assert rec.seen == sorted(names, key=lambda n: -registry.cost(n))
    assert registry.cost(rec.seen[0]) > registry.cost(rec.seen[-1]) > 0
    assert registry.cost("not-a-study") == 0.0


def test_bad_jobs_is_refused_in_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for bad in ("0", "-1", "two"):
        r = subprocess.run([sys.executable, "-m", "mflab", "sweep", "mueller-brown", "--seeds",
                            "0,1", "--jobs", bad, "--out", "s"], capture_output=True, text=True,
                           cwd=tmp_path, env=env, timeout=120)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "s").exists()


def _sleep_then(x: float) -> float:
    import time

    time.sleep(x)
    return x


def test_every_executor_hands_each_result_over_as_it_ends():
    # the pool calls back in the order jobs end (a long first job does not hold back the
    # others); the serial executor in order; both return the results in the items' order
    from mflab.runs.executor import SerialExecutor, map_each

    seen = []
    with PoolExecutor(2) as pool:
        out = pool.map(_sleep_then, [1.5, 0.0, 0.0], on_result=lambda i, r: seen.append(i))
    assert out == [1.5, 0.0, 0.0] and seen[-1] == 0 and sorted(seen) == [0, 1, 2]
    seen.clear()
    assert SerialExecutor().map(abs, [-1, -2], on_result=lambda i, r: seen.append((i, r))) \
        == [1, 2] and seen == [(0, 1), (1, 2)]

    class Plain:  # a user's executor without on_result: called back after its map
        def map(self, fn, items):
            return [fn(i) for i in items]

    seen.clear()
    assert map_each(Plain(), abs, [-3], lambda i, r: seen.append((i, r))) == [3]
    assert seen == [(0, 3)]


def test_save_each_saves_every_finished_job_then_raises_the_first_failure():
    from mflab.runs.executor import save_each

    class Losing:  # an executor that lost the jobs of odd items (e.g. a killed worker)
        def map(self, fn, items):
            return [RuntimeError(f"lost {x}") if x % 2 else fn(x) for x in items]

    saved = []
    with pytest.raises(RuntimeError, match="lost 1"):
        save_each(Losing(), lambda x: 10 * x, [0, 1, 2, 3, 4], lambda i, r: saved.append((i, r)))
    assert saved == [(0, 0), (2, 20), (4, 40)]
