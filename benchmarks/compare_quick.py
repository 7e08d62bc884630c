"""Quick-preset wall times of each study at an older revision and at this checkout.

One command:  python benchmarks/compare_quick.py [--old 6e1df33] [--studies a b ...]
              [--also dd_refine=false]

For every study: ``mflab run STUDY --preset quick`` with the older revision's sources
(a temporary ``git worktree``, same interpreter and packages) and with this checkout's,
one after the other, timed from the outside (process start to exit), plus the phases each
run's ``meta.json`` times (SGD and DD phases of the mean-field studies, one line per
width of C4, …). ``--also KEY=VALUE`` adds a third run of this checkout with that setting
for the studies that have it (``dd_refine=false``: the mean-field studies without their DD
error estimate, the work issue 14 added). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ("mueller-brown", "mf-isotropic", "mf-nonmonotone", "mf-anisotropic",
           "mf-convergence", "mnist-lln")


def timed_run(src: Path, study: str, out: Path, extra: list[str]) -> tuple[float, dict]:
    """(wall seconds, meta.json timings) of one quick run with the sources under ``src``."""
    env = dict(os.environ, PYTHONPATH=str(src), MPLBACKEND="Agg")
    mnist = ROOT.parent / "shared" / "data" / "mnist"  # the older tree is not beside it
    if "MFLAB_MNIST_DIR" not in env and mnist.is_dir():
        env["MFLAB_MNIST_DIR"] = str(mnist)
    cmd = [sys.executable, "-m", "mflab", "run", study, "--preset", "quick", "--out", str(out),
           *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-500:]}")
    meta = json.loads((out / "meta.json").read_text())
    return wall, meta.get("timings", {})


def config_fields(study: str) -> set[str]:
    """The config fields of ``study`` in this checkout."""
    import dataclasses

    from mflab.studies import registry

    return {f.name for f in dataclasses.fields(registry.get(study).Config)}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--old", default="6e1df33", help="older revision (default: before issue 9)")
    ap.add_argument("--studies", nargs="+", default=STUDIES)
    ap.add_argument("--also", default=None, help="KEY=VALUE for a third run of this checkout")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old),
                        args.old], check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(old / "src")],
                       check=True)  # both sides start from compiled bytecode
        try:
            for study in args.studies:
                runs = [("old", old / "src", []), ("now", ROOT / "src", [])]
                if args.also and args.also.split("=")[0] in config_fields(study):
                    runs.append((f"now, {args.also}", ROOT / "src", ["--set", args.also]))
                for i, (label, src, extra) in enumerate(runs):
                    wall, phases = timed_run(src, study, tmp / f"{study}-{i}", extra)
                    ph = ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
                    print(f"{study:<16} {label:<24} {wall:7.1f} s   {ph}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           capture_output=True)


if __name__ == "__main__":
    main()
