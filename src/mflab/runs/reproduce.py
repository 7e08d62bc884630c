"""``mflab reproduce``: run every registered study and write one Markdown index."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from mflab.runs.config import build_config
from mflab.runs.context import RunError
from mflab.runs.executor import Executor, SerialExecutor
from mflab.runs.io import read_meta
from mflab.runs.lifecycle import default_out, start


def reproduce(*, preset: str = "quick", out: Path | str | None = None, seed: int = 0,
              progress: bool = True, executor: Executor | None = None,
              studies: list[str] | None = None) -> tuple[Path, list[str]]:
    """Run each registered study (preset ``preset``) into ``out/STUDY`` and write
    ``out/summary.md`` linking their summaries, figures and tables.

    Every config is validated before anything is written. A study that fails is
    reported in the index and does not stop the others. Returns the index path and the
    names of the studies that failed.
    """
    from mflab.studies import registry

    names = list(studies) if studies is not None else registry.names()
    for name in names:
        build_config(registry.get(name).Config, preset)
    out = Path(out) if out is not None else default_out("reproduce")
    if out.exists():
        raise RunError(f"{out} already exists; refusing to overwrite it (choose another --out).")
    out.mkdir(parents=True)
    executor = executor or SerialExecutor()

    def job(name: str):
        try:
            return name, start(name, preset=preset, seed=seed, out=out / name,
                               progress=progress), None
        except Exception as e:  # noqa: BLE001 - one failing study must not hide the others
            traceback.print_exc(file=sys.stderr)
            return name, None, f"{type(e).__name__}: {e}"

    results = executor.map(job, names)
    index = out / "summary.md"
    tmp = index.with_name("summary.md.tmp")
    tmp.write_text(_index_markdown(results, preset, seed))
    os.replace(tmp, index)
    return index, [name for name, _, err in results if err]


def _index_markdown(results, preset: str, seed: int) -> str:
    from mflab.studies import registry

    lines = [f"# mflab reproduce — preset `{preset}`, seed {seed}", ""]
    lines.append("| study | status | wall time (s) | summary |")
    lines.append("|---|---|---|---|")
    for name, path, err in results:
        if err:
            lines.append(f"| {name} | failed | | |")
        else:
            wall = read_meta(path).get("wall_time_s", float("nan"))
            lines.append(f"| {name} | complete | {wall:.1f} | [summary]({name}/summary.md) |")
    for name, path, err in results:
        lines += ["", f"## {name}", "", registry.describe(name), ""]
        if err:
            lines.append(f"Failed: `{err}`")
            continue
        for fig in sorted((path / "figures").glob("*.png")):
            lines.append(f"![{fig.stem}]({name}/figures/{fig.name})")
            lines.append("")
        tables = sorted((path / "tables").glob("*.csv"))
        if tables:
            lines.append("Tables: " + ", ".join(f"[{t.stem}]({name}/tables/{t.name})"
                                               for t in tables))
        lines.append(f"Metrics: [{name}/metrics.parquet]({name}/metrics.parquet)")
    return "\n".join(lines) + "\n"
