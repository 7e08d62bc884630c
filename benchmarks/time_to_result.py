"""Time to result: ``mflab reproduce --preset quick`` as a user meets it, in one command.

One command:  python benchmarks/time_to_result.py [--serial] [--jobs N]

Runs the quick reproduction of this checkout (a fresh output folder each time, timed from
process start to exit) with a fresh, empty compilation cache ("cold": a user's first run),
then again with the cache the first run filled ("warm": every later run); with
``--serial`` also cold with ``--jobs 1`` (one study after the other in one process, the
behaviour before issue 25). Prints the totals and each study's wall time from its
``meta.json``. Install time is not included (README command 1 adds ~1 min of pip).
Run it on an otherwise idle machine; the studies' own numbers move by ±15 % between runs.
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


def reproduce(out: Path, cache: Path, jobs: int | None) -> tuple[float, dict[str, float]]:
    """(wall seconds, {study: its meta.json wall time}) of one quick reproduction."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MPLBACKEND="Agg",
               XDG_CACHE_HOME=str(cache))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    cmd = [sys.executable, "-m", "mflab", "reproduce", "--preset", "quick", "--out", str(out),
           "--no-progress"] + (["--jobs", str(jobs)] if jobs else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"reproduce failed ({proc.returncode}): {proc.stderr[-2000:]}")
    studies = {p.name: json.loads((p / "meta.json").read_text())["wall_time_s"]
               for p in sorted(out.iterdir()) if (p / "meta.json").is_file()}
    return wall, studies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serial", action="store_true", help="also time --jobs 1, cold")
    ap.add_argument("--jobs", type=int, default=None, help="--jobs of the pooled runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = {}
        rows["cold"] = reproduce(tmp / "cold", tmp / "cache", args.jobs)
        rows["warm"] = reproduce(tmp / "warm", tmp / "cache", args.jobs)
        if args.serial:
            rows["serial, cold"] = reproduce(tmp / "serial", tmp / "cache-serial", 1)
    names = sorted({s for _, st in rows.values() for s in st})
    print(f"cores: {len(os.sched_getaffinity(0))}; jobs: {args.jobs or 'one per core'}")
    print("| run | total (s) | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, (wall, st) in rows.items():
        print(f"| {label} | {wall:.0f} | " + " | ".join(f"{st.get(n, float('nan')):.0f}"
                                                      for n in names) + " |")


if __name__ == "__main__":
    main()
