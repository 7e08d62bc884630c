"""One writer per run directory: a second writer is refused naming the live run; the lock
a killed run left is taken over by resume (toy study)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mflab.cli import main
from mflab.runs import prepare, start
from mflab.runs.io import read_meta, read_metrics
from mflab.runs.lifecycle import execute, partial_for
from mflab.runs.lock import LOCK_NAME, LockHeld, acquire, live_owner
from toy_study import Crash, Toy, register, walk

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _register_toy(monkeypatch):
    register(monkeypatch)


def _listing(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def test_a_second_writer_is_refused_naming_the_live_run(tmp_path, capsys):
    study, ctx = prepare("toy", out=tmp_path / "r", progress=False)  # the live writer
    before = _listing(tmp_path)
    for argv in (["run", "toy", "--out", str(tmp_path / "r")], ["resume", str(tmp_path / "r")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "being written by a live run" in err, err
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in err
    assert _listing(tmp_path) == before  # nothing touched, no fake segment
    assert execute(study, ctx) == tmp_path / "r"
    meta = read_meta(tmp_path / "r")
    assert meta["status"] == "complete" and [s["resumed"] for s in meta["segments"]] == [False]
    assert not (tmp_path / "r" / LOCK_NAME).exists()  # a finished run keeps no lock file


def test_a_lock_is_exclusive_and_released(tmp_path):
    lock = acquire(tmp_path)
    assert live_owner(tmp_path)["pid"] == os.getpid()
    with pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
        acquire(tmp_path)
    lock.release()
    assert live_owner(tmp_path) is None  # the file stays, but nobody holds it: stale
    acquire(tmp_path).release(remove=True)
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_lock_of_a_killed_writer_is_taken_over_by_resume(tmp_path, capsys):
    Toy.crash_at = 3
    with pytest.raises(Crash):
        start("toy", seed=2, out=tmp_path / "r", progress=False)
    Toy.crash_at = -1
    partial = partial_for(tmp_path / "r")
    # another process takes the lock (a writer on this host), then is killed with SIGKILL
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from mflab.runs.lock import acquire; "
         "acquire(sys.argv[1]); print('locked', flush=True); time.sleep(120)", str(partial)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["resume", str(tmp_path / "r")]) == 2
        assert f"live run (pid {holder.pid} on host" in capsys.readouterr().err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    owner = json.loads((partial / LOCK_NAME).read_text())
    assert owner["pid"] == holder.pid and live_owner(partial) is None  # stale now
    assert main(["resume", str(tmp_path / "r"), "--no-progress"]) == 0
    np.testing.assert_array_equal(read_metrics(tmp_path / "r").value, walk(2, 6))
    meta = read_meta(tmp_path / "r")
    assert [s["resumed"] for s in meta["segments"]] == [False, True]
    assert not partial.exists() and not (tmp_path / "r" / LOCK_NAME).exists()


def test_a_new_run_beside_an_interrupted_one_is_told_to_resume(tmp_path, capsys):
    Toy.crash_at = 1
    with pytest.raises(Crash):
        start("toy", out=tmp_path / "r", progress=False)
    assert main(["run", "toy", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "an interrupted run is pending" in err and "mflab resume" in err


def test_a_full_disk_at_the_start_leaves_no_dead_end(tmp_path, monkeypatch, capsys):
    # issue 26, case 4: a disk full at the start left an empty lock file; afterwards
    # `resume` said "config.json is missing" and `run` said "pending, use resume"
    import errno

    import mflab.runs.lifecycle as lifecycle
    from mflab.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as m:
        m.setattr(lifecycle, "write_json", full)
        assert main(["run", "toy", "--out", "r", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(No space left on device); nothing was kept" in err
    assert list(tmp_path.iterdir()) == []
    assert main(["run", "toy", "--out", "r", "--no-progress"]) == 0  # space freed: it runs


def test_a_remnant_of_a_run_that_never_started_is_replaced_not_resumed(tmp_path, capsys,
                                                                       monkeypatch):
    from mflab.cli import main

    monkeypatch.chdir(tmp_path)
    remnant = tmp_path / ".r.partial"
    remnant.mkdir()
    (remnant / ".lock").write_text("")  # what a full disk left (no config.json)
    assert main(["resume", "r", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "failed before it started" in err
    assert "again and it replaces it" in err
    assert main(["run", "toy", "--out", "r", "--no-progress"]) == 0
    assert (tmp_path / "r" / "summary.md").exists() and not remnant.exists()
