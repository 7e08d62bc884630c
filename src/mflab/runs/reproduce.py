"""``mflab reproduce``: run every registered study and write one Markdown index.

The reproduction directory holds one run directory per study, ``summary.md`` linking
their summaries, figures and tables, and its ``manifest.json``; it is resumable as a
whole (:mod:`mflab.runs.batch`): the same command with the same ``--out``, or
``mflab resume DIR``, finishes what a kill left.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mflab.runs.batch import Member, member_status, run_batch
from mflab.runs.io import read_meta
from mflab.runs.lifecycle import check_seed, default_out


def reproduce_request(*, preset: str = "quick", seed: int = 0,
                      studies: list[str] | None = None) -> dict[str, Any]:
    """The manifest's request of a reproduction (every registered study by default)."""
    from mflab.studies import registry

    names = list(studies) if studies is not None else registry.names()
    for name in names:
        registry.get(name)
    return {"kind": "reproduce", "preset": preset, "seed": check_seed(seed), "studies": names}


def members(request: dict[str, Any], out: Path, *, progress: bool = True,
            max_memory: int | None = None) -> list[Member]:
    """One member per study, into ``out/STUDY``."""
    return [Member(key=name, study=name, preset=request["preset"], overrides=(),
                   seed=request["seed"], out=str(out / name), progress=progress,
                   max_memory=max_memory)
            for name in request["studies"]]


def reproduce(*, preset: str = "quick", out: Path | str | None = None, seed: int = 0,
              progress: bool = True, executor=None, studies: list[str] | None = None,
              max_memory: int | None = None) -> tuple[Path, list[str]]:
    """Run each registered study (preset ``preset``) into ``out/STUDY`` and write
    ``out/summary.md`` linking their summaries, figures and tables.

    Every config is validated before anything is written. A study that fails is
    reported in the index and does not stop the others; an ``out`` holding the same
    request is continued. Returns the index path and the names of the studies that failed.
    """
    request = reproduce_request(preset=preset, seed=seed, studies=studies)
    out = Path(out) if out is not None else default_out("reproduce")
    return run_batch(request, out, executor=executor, progress=progress,
                     max_memory=max_memory)


def write_index(request: dict[str, Any], out: Path, items: list[Member],
                errors: dict[Any, str]) -> Path:
    """``summary.md``: a table of the studies, then each one's figures and tables."""
    from mflab.studies import registry

    preset, seed = request["preset"], request["seed"]
    status = {m.key: member_status(Path(m.out)) for m in items}
    lines = [f"# mflab reproduce — preset `{preset}`, seed {seed}", ""]
    lines.append("| study | status | wall time (s) | summary |")
    lines.append("|---|---|---|---|")
    for m in items:
        name, st = m.key, status[m.key]
        if st in ("complete", "diverged"):
            wall = read_meta(out / name).get("wall_time_s", float("nan"))
            lines.append(f"| {name} | {st} | {wall:.1f} | [summary]({name}/summary.md) |")
        else:
            lines.append(f"| {name} | failed | | |")
    for m in items:
        name, path = m.key, out / m.key
        lines += ["", f"## {name}", "", registry.describe(name), ""]
        if name in errors:
            lines.append(f"Failed: `{errors[name]}`")
            if status[name] != "diverged":
                continue
            lines.append("")
        elif status[name] not in ("complete", "diverged"):
            lines.append(f"Not finished ({status[name]}).")
            continue
        for fig in sorted((path / "figures").glob("*.png")):
            lines.append(f"![{fig.stem}]({name}/figures/{fig.name})")
            lines.append("")
        tables = sorted((path / "tables").glob("*.csv"))
        if tables:
            lines.append("Tables: " + ", ".join(f"[{t.stem}]({name}/tables/{t.name})"
                                               for t in tables))
        lines.append(f"Metrics: [{name}/metrics.parquet]({name}/metrics.parquet)")
    index = out / "summary.md"
    tmp = index.with_name("summary.md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, index)
    return index
