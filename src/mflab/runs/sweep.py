"""``mflab sweep``: one study over many seeds, each seed its own run directory.

The seeds are independent jobs given to an executor (serial, or Dask workers: see
:mod:`mflab.runs.executor`). The sweep directory holds ``seed-K/`` run directories,
``metrics.parquet`` (every seed's metrics, concatenated) and ``sweep.md``.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from mflab.runs.config import build_config
from mflab.runs.context import RunError
from mflab.runs.executor import Executor, SerialExecutor
from mflab.runs.lifecycle import default_out, start


def _run_seed(job: tuple) -> tuple[int, str | None, str | None]:
    """One seed (top-level so that Dask can ship it to a worker process)."""
    study, preset, overrides, seed, out = job
    try:
        path = start(study, preset=preset, overrides=overrides, seed=seed, out=out,
                     progress=False)
        return seed, str(path), None
    except Exception as e:  # noqa: BLE001 - one failing seed must not hide the others
        traceback.print_exc(file=sys.stderr)
        return seed, None, f"{type(e).__name__}: {e}"


def sweep(study: str, seeds: list[int], *, preset: str = "quick",
          overrides: list[str] | None = None, out: Path | str | None = None,
          executor: Executor | None = None) -> tuple[Path, list[int]]:
    """Run ``study`` once per seed into ``out/seed-K``; returns (sweep dir, failed seeds).

    The config is validated before anything is written.
    """
    import pandas as pd

    from mflab.runs.io import read_metrics
    from mflab.studies import registry

    build_config(registry.get(study).Config, preset, list(overrides or []))
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise RunError(f"seeds must be distinct integers >= 0; got {seeds}.")
    out = Path(out) if out is not None else default_out(f"sweep-{study}")
    if out.exists():
        raise RunError(f"{out} already exists; refusing to overwrite it (choose another --out).")
    out.mkdir(parents=True)
    jobs = [(study, preset, list(overrides or []), s, str(out / f"seed-{s}")) for s in seeds]
    results = (executor or SerialExecutor()).map(_run_seed, jobs)
    done = [Path(p) for _, p, err in results if not err]
    if done:
        metrics = pd.concat([read_metrics(p) for p in done], ignore_index=True)
        tmp = out / "metrics.parquet.tmp"
        metrics.to_parquet(tmp, index=False)
        os.replace(tmp, out / "metrics.parquet")
    lines = [f"# sweep of `{study}` — preset `{preset}`, {len(seeds)} seeds", "",
             "| seed | status | summary |", "|---|---|---|"]
    for seed, _, err in results:
        status = f"failed: `{err}`" if err else "complete"
        link = f"[summary](seed-{seed}/summary.md)" if not err else ""
        lines.append(f"| {seed} | {status} | {link} |")
    lines += ["", "All seeds' metrics: [metrics.parquet](metrics.parquet) (column `seed`)."]
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    return out, [seed for seed, _, err in results if err]
