"""A study of one's own runs from the command line as module:attribute, without editing
mflab's registry (issue 21); a bad one is refused in one line with nothing written."""

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _mflab(*args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TESTS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return subprocess.run([sys.executable, "-m", "mflab", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_run_a_study_given_as_module_and_attribute(tmp_path):
    r = _mflab("run", "toy_study:Toy", "--preset", "quick", "--set", "n_steps=3", "--out",
               "walk", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((tmp_path / "walk" / "config.json").read_text())
    assert cfg["study"] == "toy_study:Toy" and cfg["config"]["n_steps"] == 3
    assert (tmp_path / "walk" / "summary.md").exists()
    # the files of the run are read back through the same name (plot redraws them)
    r = _mflab("plot", "walk", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]


def test_a_bad_user_study_is_refused_in_one_line(tmp_path):
    for name, fragment in (("no_such_module_xyz:Study", "cannot load study"),
                           ("toy_study:walk", "not a mflab Study"),
                           ("toy_study:Nope", "cannot load study")):
        r = _mflab("run", name, "--out", "x", cwd=tmp_path)
        assert r.returncode == 2, (name, r.stderr)
        assert r.stderr.count("\n") == 1 and fragment in r.stderr, r.stderr
        assert list(tmp_path.iterdir()) == []
