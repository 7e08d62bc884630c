"""Sweeps on a real Dask scheduler with worker processes on loopback give the same runs
as serial execution (each seed's metrics identical)."""

from __future__ import annotations

import pandas as pd
import pytest

from mflab.runs.executor import DaskExecutor, SerialExecutor
from mflab.runs.io import read_metrics
from mflab.runs.sweep import sweep

pytest.importorskip("dask.distributed")

TINY = ["n_agents=16", "budget=400", "n_records=4", "optimizers=B1,B5", "n_trajectories=2",
        "descent_max_steps=20000"]


def test_dask_sweep_matches_serial(tmp_path):
    with DaskExecutor("local:2") as ex:
        # the workers are separate processes on 127.0.0.1
        info = ex.client.scheduler_info()
        assert len(info["workers"]) == 2
        assert all(addr.startswith("tcp://127.0.0.1") for addr in info["workers"])
        out, failed = sweep("mueller-brown", [0, 1], preset="quick", overrides=TINY,
                            out=tmp_path / "dask", executor=ex)
    assert failed == []
    serial, failed = sweep("mueller-brown", [1], preset="quick", overrides=TINY,
                           out=tmp_path / "serial", executor=SerialExecutor())
    assert failed == []
    a = read_metrics(out / "seed-1")
    b = read_metrics(serial / "seed-1")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    both = pd.read_parquet(out / "metrics.parquet")
    assert set(both.seed) == {0, 1}
    # different seeds draw different Langevin noise (B5), so the sweep is not one run twice
    s0 = read_metrics(out / "seed-0")
    v0 = s0[s0.optimizer == "B5"].value.to_numpy()
    v1 = a[a.optimizer == "B5"].value.to_numpy()
    assert v0.shape == v1.shape and not (v0 == v1).all()
    assert "| 1 | complete |" in (out / "sweep.md").read_text()


def test_sweep_refuses_bad_seeds(tmp_path):
    from mflab.runs.context import RunError

    with pytest.raises(RunError, match="seeds must be distinct"):
        sweep("mueller-brown", [0, 0], out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
