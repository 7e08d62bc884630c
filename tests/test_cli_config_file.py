"""``--config FILE`` (issue 24): a TOML or JSON file of config fields is read as the same
``--set`` flags would be — the same checks, the same config.json — and bad files exit 2
with one line, writing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mflab.cli import main
from mflab.runs.config import build_config, overrides_from_file
from mflab.studies.optnets.config import OptimizersNetworksConfig
from toy_study import register


@pytest.fixture(autouse=True)
def _register_toy(monkeypatch):
    register(monkeypatch)


# every kind of field: tuples of str, int and float, int, float, bool, optional int
SET = ["problems=A1,A4", "batch_sizes=1,4", "N=8", "eps_a1=0.01,0.03", "hj_relax=0.25",
       "exact_controls=true", "n_train=1000", "data_dir=none"]
TOML = """problems = ["A1", "A4"]
batch_sizes = [1, 4]
N = 8
eps_a1 = [0.01, 0.03]
hj_relax = 0.25
exact_controls = true
n_train = 1000
"""
JSON = {"problems": ["A1", "A4"], "batch_sizes": [1, 4], "N": 8, "eps_a1": [0.01, 0.03],
        "hj_relax": 0.25, "exact_controls": True, "n_train": 1000, "data_dir": None}


def test_a_toml_or_json_file_gives_the_config_of_the_same_set_flags(tmp_path):
    (tmp_path / "c.toml").write_text(TOML)
    (tmp_path / "c.json").write_text(json.dumps(JSON))
    want = build_config(OptimizersNetworksConfig, "quick", SET)
    for f in ("c.toml", "c.json"):
        got = build_config(OptimizersNetworksConfig, "quick", overrides_from_file(tmp_path / f))
        assert got == want, f
    assert want.N == 8 and want.eps_a1 == (0.01, 0.03) and want.exact_controls is True


def test_run_with_config_file_writes_the_config_json_of_the_set_flags(tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.chdir(tmp_path)
    Path("c.toml").write_text("n_steps = 3\nstep_seconds = 0.0\n")
    assert main(["run", "toy", "--config", "c.toml", "--out", "a", "--no-progress"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("run complete: a") and "a/summary.md" in last  # it names the summary
    assert main(["run", "toy", "--set", "n_steps=3", "--set", "step_seconds=0",
                 "--out", "b", "--no-progress"]) == 0
    ca, cb = (json.loads(Path(d, "config.json").read_text()) for d in "ab")
    assert ca["config"] == cb["config"] and ca["config"]["n_steps"] == 3
    # a --set given with the file wins over it
    assert main(["run", "toy", "--config", "c.toml", "--set", "n_steps=2", "--out", "c",
                 "--no-progress"]) == 0
    assert json.loads(Path("c/config.json").read_text())["config"]["n_steps"] == 2


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() else None for p in d.rglob("*")}


@pytest.mark.parametrize(("name", "text", "fragment"), [
    ("missing.toml", None, "config file missing.toml cannot be read"),
    ("c.yaml", "n_steps: 3", "must end in .toml or .json; got '.yaml'"),
    ("c.toml", "n_steps = [", "config file c.toml is not valid TOML"),
    ("c.json", "{n_steps: 3}", "config file c.json is not valid JSON"),
    ("c.json", "[1, 2]", "must hold a table of config fields; got a list"),
    ("c.toml", "[n_steps]\na = 1", "n_steps must be a number, string, boolean or a list"),
    ("c.toml", "n_stepz = 3", "unknown config key 'n_stepz'"),
    ("c.toml", "n_steps = 0", "n_steps must be >= 1; got 0"),
    ("c.toml", "n_steps = 2.5", "n_steps must be int; got '2.5'"),
])
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_bad_config_file_exits_2_in_one_line_and_writes_nothing(command, name, text,
                                                                  fragment, tmp_path,
                                                                  monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if text is not None:
        Path(name).write_text(text)
    before = _snapshot(tmp_path)
    extra = ["--seeds", "0,1"] if command == "sweep" else []
    code = main([command, "toy", *extra, "--config", name, "--out", "r"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert fragment in err, err
    assert _snapshot(tmp_path) == before
