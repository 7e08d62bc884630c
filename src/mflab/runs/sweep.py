"""``mflab sweep``: one study over many seeds, each seed its own run directory.

The seeds are independent jobs given to an executor (serial, or Dask workers: see
:mod:`mflab.runs.executor`). The sweep directory holds ``seed-K/`` run directories,
``metrics.parquet`` (every seed's metrics, concatenated in seed order), ``sweep.md``
and its ``manifest.json``; it is resumable as a whole (:mod:`mflab.runs.batch`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mflab.errors import RunError
from mflab.runs.batch import Member, member_status, run_batch
from mflab.runs.config import INDEX_MAX, is_seed
from mflab.runs.lifecycle import default_out

#: Most seeds one sweep takes (each seed is a run directory).
MAX_SEEDS = 10_000


def check_seeds(seeds: list[int]) -> list[int]:
    """Seeds of a sweep: 1..MAX_SEEDS distinct integers in [0, 2**31 − 1]."""
    seeds = list(seeds)
    ok = all(is_seed(s) for s in seeds)
    if not seeds or not ok or len(set(seeds)) != len(seeds) or len(seeds) > MAX_SEEDS:
        shown = seeds if len(seeds) <= 8 else [*seeds[:4], "...", *seeds[-2:]]
        raise RunError(f"seeds must be 1 to {MAX_SEEDS} distinct integers in [0, {INDEX_MAX}]; "
                       f"got {shown}.")
    return seeds


def sweep_request(study: str, seeds: list[int], *, preset: str = "quick",
                  overrides: list[str] | None = None) -> dict[str, Any]:
    """The manifest's request of a sweep (seeds checked; configs are checked by the batch)."""
    return {"kind": "sweep", "study": study, "preset": preset,
            "overrides": list(overrides or []), "seeds": check_seeds(seeds)}


def members(request: dict[str, Any], out: Path, *, progress: bool = False,
            max_memory: int | None = None) -> list[Member]:
    """One member per seed, into ``out/seed-K``."""
    return [Member(key=s, study=request["study"], preset=request["preset"],
                   overrides=tuple(request["overrides"]), seed=s, out=str(out / f"seed-{s}"),
                   progress=progress, max_memory=max_memory)
            for s in request["seeds"]]


def write_index(request: dict[str, Any], out: Path, items: list[Member],
                errors: dict[Any, str]) -> Path:
    """``metrics.parquet`` (finished seeds, in seed order) and ``sweep.md``, from the files."""
    import pandas as pd

    from mflab.runs.io import read_metrics

    status = {m.key: member_status(Path(m.out)) for m in items}
    done = [m for m in items if status[m.key] in ("complete", "diverged")]
    if done:  # each member's rows carry its root seed: a study's own `seed` column may be
        # its repetition index (Müller–Brown's 0, 1, …), the same in every member
        metrics = pd.concat([read_metrics(Path(m.out)).assign(sweep_seed=m.key) for m in done],
                            ignore_index=True)
        tmp = out / "metrics.parquet.tmp"
        metrics.to_parquet(tmp, index=False)
        os.replace(tmp, out / "metrics.parquet")
    lines = [f"# sweep of `{request['study']}` — preset `{request['preset']}`, "
             f"{len(items)} seeds", "", "| seed | status | summary |", "|---|---|---|"]
    for m in items:
        st = status[m.key]
        text = f"failed: `{errors[m.key]}`" if m.key in errors else st
        link = f"[summary](seed-{m.key}/summary.md)" if st in ("complete", "diverged") else ""
        lines.append(f"| {m.key} | {text} | {link} |")
    lines += ["", "All seeds' metrics: [metrics.parquet](metrics.parquet) (column `sweep_seed`: "
              "the run's root seed; `seed` is the study's own column, for some studies a "
              "repetition index within the run)."]
    path = out / "sweep.md"
    tmp = path.with_name("sweep.md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def sweep(study: str, seeds: list[int], *, preset: str = "quick",
          overrides: list[str] | None = None, out: Path | str | None = None,
          executor=None, max_memory: int | None = None) -> tuple[Path, list[int]]:
    """Run ``study`` once per seed into ``out/seed-K``; returns (sweep dir, failed seeds).

    Everything is validated before anything is written. An ``out`` holding the same
    request (a killed or finished sweep) is continued, not refused: finished seeds are
    kept, the others resumed or started, the index rebuilt.
    """
    request = sweep_request(study, seeds, preset=preset, overrides=overrides)
    out = Path(out) if out is not None else default_out(f"sweep-{study}")
    index, failed = run_batch(request, out, executor=executor, max_memory=max_memory)
    return index.parent, failed
