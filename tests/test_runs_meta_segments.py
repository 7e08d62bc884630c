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

import pytest

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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_long_dd_solve_stops_within_seconds_of_sigterm(tmp_path):
    # issue 26, case 2: the DD ran as one compiled call and ignored Ctrl-C for minutes; it
    # now advances in short calls, so SIGTERM (as Ctrl-C) stops it at once, resumable
    p = _start(tmp_path, "run", "mf-radial-minimum", "--preset", "quick", "--set",
               "t_max=1000", "--set", "dd_dt=0.001", "--set", "refine_kappas=none",
               "--out", "dd")
    partial = tmp_path / ".dd.partial"
    t0 = time.time()
    while time.time() - t0 < 120:  # into the DD solves (the QP and compilations come first)
        if (partial / "meta.json").exists() and time.time() - t0 > 15:
            break
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    t_sig = time.time()
    _, err = p.communicate(timeout=120)
    # compiled calls of ~0.5 s: within seconds, even on a loaded machine (one uncut call of
    # this solve would run for hours: its last stage is 9·10⁵ steps at ~60 steps/s)
    assert time.time() - t_sig < 10, "SIGTERM took more than 10 s to stop the run"
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted; continue with `mflab resume dd`"
    assert _meta(partial)["status"] == "interrupted"


def test_a_dd_solve_over_the_step_bound_is_refused_before_anything(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mflab", "run", "mf-isotropic", "--set",
                        "eps=50", "--out", "x"], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "the DD would take 1.92e+08 time steps" in r.stderr
    assert "--set dd_max_steps=N to allow it" in r.stderr
    assert list(tmp_path.iterdir()) == []
