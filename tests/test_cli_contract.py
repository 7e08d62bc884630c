"""The README's contract on every CLI path: bad input exits 2 with one line on stderr and
writes nothing — paths, executors, seeds, data files, damaged run directories, lists."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mflab.cli import main
from mflab.runs import start
from mflab.runs.lifecycle import partial_for
from mflab.runs.sweep import sweep
from toy_study import Toy, register


@pytest.fixture(autouse=True)
def _register_toy(monkeypatch):
    register(monkeypatch)


def _snapshot(d: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() else None for p in d.rglob("*")}


# setups: each prepares tmp (a file, a damaged run, ...) before the command is tried
def _a_file(tmp):
    (tmp / "afile").write_text("not a directory")


def _corrupt_mnist(tmp):
    from mflab.mnist.files import MNIST_FILES

    (tmp / "mnist").mkdir()
    for spec in MNIST_FILES.values():
        (tmp / "mnist" / spec.filename).write_bytes(b"garbage")


def _run(tmp):
    start("toy", out=tmp / "r", progress=False)


def _run_bad_json(tmp):
    _run(tmp)
    (tmp / "r" / "config.json").write_text('{"study": "toy", ')


def _run_no_metrics(tmp):
    _run(tmp)
    (tmp / "r" / "metrics.parquet").unlink()


def _run_no_arrays(tmp):
    _run(tmp)
    (tmp / "r" / "arrays" / "final.npz").unlink()


def _interrupted(tmp):
    Toy.crash_at = 3
    with pytest.raises(RuntimeError):
        start("toy", out=tmp / "r", progress=False)
    Toy.crash_at = -1


def _interrupted_bad_config(tmp):
    _interrupted(tmp)
    (partial_for(tmp / "r") / "config.json").write_text("{")


def _interrupted_lost_metrics(tmp):
    _interrupted(tmp)
    (partial_for(tmp / "r") / "metrics-parts" / "part-00001.parquet").unlink()


def _interrupted_bad_checkpoint(tmp):
    _interrupted(tmp)
    (partial_for(tmp / "r") / "checkpoint" / "checkpoint.json").write_text("[1, 2")


def _sweep_bad_manifest(tmp):
    sweep("toy", [0], out=tmp / "sw")
    (tmp / "sw" / "manifest.json").write_text(json.dumps({"request": 3}))


MB = ["mueller-brown"]
CASES = [
    # seeds
    (["run", *MB, "--seed", "99999999999999999999999"], None,
     "--seed: must be an integer in [0, 2147483647]; got '99999999999999999999999'"),
    (["sweep", *MB, "--seeds", "-1,2"], None, "seeds must look like 0,1,5 or 0-7"),
    (["sweep", *MB, "--seeds", "3-1"], None, "got '3-1'"),
    (["sweep", *MB, "--seeds", "0-99999999999"], None, "at most 10000 distinct integers"),
    (["sweep", *MB, "--seeds", "1,1"], None, "got '1,1'"),
    # output paths
    (["run", *MB, "--out", "{tmp}/afile/run"], _a_file, "afile is a file, not a directory"),
    (["sweep", *MB, "--seeds", "0", "--out", "{tmp}/afile"], _a_file,
     "exists and is not a directory"),
    (["run", *MB, "--out", "/proc/mflab-test-run"], None, "/proc does not accept new directories"),
    (["run", *MB, "--out", "{tmp}/" + "a" * 300], None, "is longer than 255 bytes"),
    (["run", *MB, "--out", "{tmp}/" + "d/" * 2100 + "r"], None, "is too long"),
    # executors
    (["sweep", *MB, "--seeds", "0-1", "--dask", "bogus"], None,
     "--dask: must be local, local:N or a scheduler address like tcp://HOST:8786; got 'bogus'"),
    (["sweep", *MB, "--seeds", "0-1", "--dask", "local:0"], None, "local:N needs an integer"),
    (["sweep", *MB, "--seeds", "0-1", "--dask", "local:abc"], None, "got 'local:abc'"),
    (["reproduce", "--dask", "tcp://nowhere"], None, "a scheduler address like"),
    # config lists
    (["run", *MB, "--set", "box=1,,2"], None, "box must be a comma-separated list of float "
     "without empty items; got '1,,2'"),
    (["run", *MB, "--set", "optimizers=B1,"], None, "without empty items"),
    # data files, checked before the run directory exists
    (["run", "mnist-lln", "--set", "data_dir={tmp}/mnist", "--out", "{tmp}/m"], _corrupt_mnist,
     "train-images-idx3-ubyte.gz: MD5"),
    # damaged run directories: the file is named
    (["plot", "{tmp}/r"], _run_bad_json, "r/config.json is damaged (JSONDecodeError"),
    (["plot", "{tmp}/r"], _run_no_metrics, "r/metrics.parquet is missing"),
    (["plot", "{tmp}/r"], _run_no_arrays, "r/arrays/final.npz is missing"),
    (["resume", "{tmp}/r"], _interrupted_bad_config, ".r.partial/config.json is damaged"),
    (["resume", "{tmp}/r"], _interrupted_lost_metrics, "metrics-parts/part-00001.parquet is "
     "missing"),
    (["resume", "{tmp}/r"], _interrupted_bad_checkpoint, "checkpoint.json is damaged"),
    (["resume", "{tmp}/sw"], _sweep_bad_manifest, "sw/manifest.json is damaged"),
    (["resume", "{tmp}/r"], _run, "is already complete; nothing to resume"),
]


@pytest.mark.parametrize(("argv", "setup", "fragment"), CASES,
                         ids=[f"{c[0][0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_exits_2_in_one_line_and_writes_nothing(argv, setup, fragment, tmp_path,
                                                         capsys, monkeypatch):
    if "/proc/" in " ".join(argv) and not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        setup(tmp_path)
    capsys.readouterr()
    before = _snapshot(tmp_path)
    try:
        code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    except SystemExit as e:  # argparse errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert fragment in err, err
    assert _snapshot(tmp_path) == before
    assert not Path("/proc/mflab-test-run").exists()


def test_an_unreachable_scheduler_is_refused_fast(tmp_path, capsys, monkeypatch):
    import mflab.runs.executor as executor

    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(executor, "CONNECT_TIMEOUT_S", 1)
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    code = main(["sweep", "toy", "--seeds", "0-1", "--dask", "tcp://127.0.0.1:1"])
    assert time.perf_counter() - t0 < 10
    err = capsys.readouterr().err
    assert code == 2 and err == ("mflab sweep: error: cannot reach the Dask scheduler at "
                                 "tcp://127.0.0.1:1 within 1 s (OSError).\n")
    assert list(tmp_path.iterdir()) == []


def test_w1_figure_with_one_seed_and_two_widths(tmp_path):
    """`mflab run mnist-lln --set Ns=5,10 --set n_seeds=1`: only N = 5 has W1 rows (seed 0 of
    the widest N is the reference), which used to leave a log axis without data."""
    from mflab.plotting.mnist import plot_w1

    w1 = pd.DataFrame([{"quantity": q, "epoch": e, "N": 5, "seed": 0, "w1": 0.1 * (e + 1)}
                       for q in ("c", "w_norm") for e in (0, 1, 2)])
    acc = pd.DataFrame({"N": [5, 10], "seed": [0, 0], "test_accuracy": [0.98, 0.99],
                        "test_risk": [0.06, 0.05]})
    (tmp_path / "figures").mkdir()
    path = plot_w1(tmp_path, w1, acc)
    assert path.exists() and path.stat().st_size > 0
    assert np.isfinite(acc.test_accuracy).all()


def test_a_port_that_is_not_a_scheduler_is_refused_within_the_deadline(tmp_path, capsys,
                                                                      monkeypatch):
    # issue 26, case 3: an HTTP server on the port accepted the connection and Dask's
    # handshake waited forever (> 300 s); now a hard deadline, one line, nothing written
    import http.server
    import threading

    import mflab.runs.executor as executor

    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(executor, "CONNECT_TIMEOUT_S", 2)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.server_address[1]}"
    monkeypatch.chdir(tmp_path)
    try:
        t0 = time.perf_counter()
        code = main(["sweep", "toy", "--seeds", "0-1", "--dask", address])
        elapsed = time.perf_counter() - t0
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"cannot reach the Dask scheduler at {address} within 2 s" in err
    assert elapsed < 2 + 1.5  # the deadline, and the CLI's own work
    assert list(tmp_path.iterdir()) == []
