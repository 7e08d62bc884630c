"""meta.json tells what happened (issue 26, case 5): a segment is opened when a run starts and
closed on every exit that can be caught (SIGTERM as Ctrl-C); one left open by kill -9 is
closed by the resume with the time of the run's last file, and counted in the wall time."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"


def _start(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}
    return subprocess.Popen([sys.executable, "-m", "mflab", *args, "--no-progress"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _meta(run):
    return json.loads((run / "meta.json").read_text())


def _wait_for_steps(partial: Path, n: int, timeout: float = 120) -> None:
    """Until the toy walk has checkpointed n steps (its metric parts grow by one a step)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        parts = list((partial / "metrics-parts").glob("*")) if partial.exists() else []
        if len(parts) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"the run did not reach {n} steps in {timeout} s")


ARGS = ("run", "toy_study:Toy", "--set", "n_steps=8", "--set", "step_seconds=0.4",
        "--out", "r")


def test_sigterm_ends_a_run_like_ctrl_c_and_closes_its_segment(tmp_path):
    p = _start(tmp_path, *ARGS)
    partial = tmp_path / ".r.partial"
    _wait_for_steps(partial, 2)
    meta = _meta(partial)  # while it runs: an open segment, status running
    assert meta["status"] == "running" and meta["segments"][-1]["ended"] is None
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted; continue with `mflab resume r`"
    meta = _meta(partial)
    assert meta["status"] == "interrupted"
    seg = meta["segments"][-1]
    assert seg["ended"] is not None and seg["seconds"] >= 0.8  # at least 2 steps of 0.4 s
    assert meta["wall_time_s"] == seg["seconds"]


def test_a_segment_killed_with_sigkill_is_closed_and_counted_by_resume(tmp_path):
    p = _start(tmp_path, *ARGS)
    partial = tmp_path / ".r.partial"
    _wait_for_steps(partial, 3)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    meta = _meta(partial)
    assert meta["status"] == "running" and meta["segments"][-1]["ended"] is None
    r = _start(tmp_path, "resume", "r")
    _, err = r.communicate(timeout=120)
    assert r.returncode == 0, err
    meta = _meta(tmp_path / "r")
    first, second = meta["segments"]
    assert first["inferred"].startswith("killed") and first["seconds"] >= 0.8
    assert second["resumed"] is True and second["ended"] is not None
    assert meta["status"] == "complete"
    assert abs(meta["wall_time_s"] - (first["seconds"] + second["seconds"])) < 1e-9
