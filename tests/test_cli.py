"""The command line: bad input exits 2 with one line on stderr and writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mflab.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "no-such-study"], "unknown study 'no-such-study'; registered studies: "),
        (["run", "mueller-brown", "--set", "n_agentz=5"], "unknown config key 'n_agentz'"),
        (["run", "mueller-brown", "--set", "n_agents=many"], "n_agents must be int; got 'many'"),
        (["run", "mueller-brown", "--set", "n_agents=0"], "n_agents must be >= 1; got 0"),
        (["run", "mueller-brown", "--set", "optimizers=B1,B99"], "'B99' is not allowed"),
        (["run", "mueller-brown", "--preset", "huge"], "unknown preset 'huge'"),
        (["run", "mueller-brown", "--set", "beta_grid=0.1,-1"],
         "beta_grid must be distinct positive values; got 0.1,-1.0"),
        (["run", "mueller-brown", "--set", "h_grid=0.1,3"], "h_grid must lie in [0.0001, 1]"),
        (["run", "mueller-brown", "--seed", "-1"], "must be an integer in [0, 2147483647]"),
        (["run"], "the following arguments are required: STUDY"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["resume", "nowhere"], "no interrupted run at nowhere"),
        (["plot", "nowhere"], "nowhere is not a run directory"),
        (["reproduce", "--preset", "huge"], "unknown preset 'huge'"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(argv, fragment, tmp_path, capsys,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err
    assert err.count("\n") == 1, err
    assert _listing(tmp_path) == []


def test_existing_out_is_refused(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    assert main(["run", "mueller-brown", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists; refusing to overwrite" in err and err.count("\n") == 1
    assert _listing(tmp_path) == ["taken"]


def test_installed_entry_point_lists_and_refuses(tmp_path):
    """The real process: exit status and stderr as a user sees them."""
    exe = [sys.executable, "-m", "mflab"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    ok = subprocess.run([*exe, "list"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert ok.returncode == 0 and ok.stdout.startswith("mueller-brown ")
    bad = subprocess.run([*exe, "run", "mueller-brown", "--set", "eta=-1"], capture_output=True,
                         text=True, cwd=tmp_path, env=env)
    assert bad.returncode == 2
    assert bad.stderr == "mflab run: error: eta must be > 0; got -1.0.\n"
    assert _listing(tmp_path) == []
