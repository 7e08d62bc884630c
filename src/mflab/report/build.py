"""``report.html`` of a run, a sweep or a reproduction, from the files of its directory.

The page opens with the headline table — each study's :meth:`~mflab.studies.base.Study.
headline` (the two or three numbers that answer its question, their spread, a verdict
against the report's claim where there is one) — then, per run: its figures embedded with
their captions (:attr:`~mflab.studies.base.Study.captions`), its ``summary.md`` rendered
(tables, provenance), the command that reproduces it and links to its files. Everything
is read from the directory, so ``mflab report DIR`` rebuilds it for any finished run.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from mflab.errors import RunError
from mflab.report import page as P

REPORT = "report.html"


@dataclass(frozen=True)
class Item:
    """One run shown in a report: its label (study name, or ``seed K`` of a sweep), its
    directory relative to the report, and its status."""

    label: str
    rel: str
    status: str


def write_report(path: Path | str,
                 batch: tuple[str, str, list[Item]] | None = None) -> Path:
    """Write ``path/report.html`` for a finished run directory, or — given ``batch`` =
    (title, lede HTML, items) — for a sweep or reproduction directory (what
    :func:`mflab.runs.batch.write_batch_report` hands in); returns its path. Raises a
    one-line :class:`RunError` for a directory that is not a finished run (nothing is
    written then)."""
    path = Path(path)
    title, lede, items = batch if batch is not None else _collect(path)
    headline_rows, sections, nav = [], [], []
    for item in items:
        run_dir = path / item.rel if item.rel else path
        anchor = "run-" + re.sub(r"[^a-z0-9]+", "-", item.label.lower()).strip("-")
        nav.append(f'<li><a href="#{anchor}">{P.esc(item.label)}</a> '
                   f"<small>({P.esc(item.status)})</small></li>")
        rows, section = _section(item, run_dir, anchor)
        headline_rows += rows
        sections.append(section)
    if headline_rows:
        headline = P.table(["run", "quantity", "value", "spread", "verdict"],
                           _grouped(headline_rows), cls="headline", raw=True,
                           widths=["11%", "31%", "14%", "20%", "24%"])
    else:
        headline = "<p>No headline numbers: no finished run defines them.</p>"
    nav_html = (f'<nav><h2>Contents</h2><ol>{"".join(nav)}</ol></nav>' if len(items) > 1
                else "")
    text = P.page(title, lede, headline, nav_html, "\n".join(sections))
    out = path / REPORT
    tmp = out.with_name(REPORT + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out


def _grouped(rows: list[list]) -> list[list[str]]:
    """Headline rows as HTML cells, the study named once (``rowspan``) with a link to its
    section."""
    out = []
    for (label, anchor), group in itertools.groupby(rows, key=lambda r: r[0]):
        group = list(group)
        for k, r in enumerate(group):
            cells = [f"<td>{P.esc(v)}</td>" for v in r[1:]]
            if k == 0:
                cells.insert(0, f'<td rowspan="{len(group)}"><a href="#{anchor}">'
                                f"{P.esc(label)}</a></td>")
            out.append(cells)
    return out


def finished_run(path: Path | str, name: str = "") -> tuple[dict, str]:
    """(``config.json``, status) of the finished run directory ``path`` (``name``, e.g.
    RUN_A, prefixes the messages); a one-line :class:`RunError` for anything else."""
    from mflab.runs.io import read_json, read_meta

    path = Path(path)
    who = f"{name} {path}" if name else str(path)
    if not path.is_dir():
        raise RunError(f"{who} is not a directory; give a finished run directory.")
    if not (path / "config.json").is_file() or not (path / "meta.json").is_file():
        raise RunError(f"{who} is not a run directory (no config.json and meta.json); a "
                       "sweep or reproduction holds runs, one per folder.")
    status = read_meta(path).get("status", "interrupted")
    if status not in ("complete", "diverged"):
        raise RunError(f"{who} is not finished (status {status}); `mflab resume {path}` "
                       "finishes it.")
    return read_json(path, "config.json"), status


def _collect(path: Path) -> tuple[str, str, list[Item]]:
    """(title, lede HTML, items) of the run directory ``path``."""
    cfg, status = finished_run(path)
    title = f"mflab run {cfg['study']} — preset {cfg['preset']}, seed {cfg['seed']}"
    return title, f"Command: <code>{P.esc(run_command(cfg))}</code>.", [
        Item(cfg["study"], "", status)]


def run_command(cfg: dict) -> str:
    """The ``mflab run`` command line that reproduces a run (from its ``config.json``)."""
    parts = ["mflab", "run", cfg["study"], "--preset", cfg["preset"], "--seed", str(cfg["seed"])]
    for o in cfg.get("overrides", []):
        parts += ["--set", o]
    return shlex.join(parts)


def _section(item: Item, run_dir: Path, anchor: str) -> tuple[list[list[str]], str]:
    """(headline rows, HTML section) of one run."""
    head = f'<section id="{anchor}"><h2>{P.esc(item.label)}</h2>'
    if item.status not in ("complete", "diverged"):
        return [], head + (f'<p class="status-failed">Not finished ({P.esc(item.status)}); '
                           "`mflab resume` on the directory continues it.</p></section>")
    from mflab.runs.io import read_json, read_meta
    from mflab.studies import registry

    cfg = read_json(run_dir, "config.json")
    meta = read_meta(run_dir)
    prefix = f"{item.rel}/" if item.rel else ""
    parts = [head, f"<p>{P.esc(registry.describe(cfg['study']))}</p>"]
    if item.status == "diverged":
        parts.append('<p class="status-failed">This run diverged (see its provenance).</p>')
    parts.append(f"<p>Command: <code>{P.esc(run_command(cfg))}</code>; wall time "
                 f"{meta.get('wall_time_s', float('nan')):.1f} s.</p>")
    study = registry.get(cfg["study"])
    try:
        headline = study.headline(run_dir)
    except Exception as e:  # noqa: BLE001 - a report is still written, saying why
        headline, failure = [], f"{type(e).__name__}: {' '.join(str(e).split())}"
    else:
        failure = ""
    rows = [[(item.label, anchor), h.quantity, h.value, h.spread, h.verdict]
            for h in headline]
    if rows:
        parts.append(P.table(["quantity", "value", "spread", "verdict"],
                             [r[1:] for r in rows], cls="headline",
                             widths=["34%", "16%", "22%", "28%"]))
    elif failure:
        parts.append(f'<p class="status-failed">Headline unavailable: {P.esc(failure)}</p>')
    for fig in sorted((run_dir / "figures").glob("*.png")):
        parts.append(P.figure(fig, caption_for(study.captions, fig.stem),
                              alt=f"{cfg['study']}: {fig.stem}"))
    if (run_dir / "summary.md").is_file():
        parts.append("<details open><summary>Summary, tables and provenance "
                     f'(<a href="{prefix}summary.md">summary.md</a>)</summary>'
                     + markdown_html((run_dir / "summary.md").read_text(), prefix, run_dir)
                     + "</details>")
    parts.append(_files(run_dir, prefix))
    parts.append("</section>")
    return rows, "\n".join(parts)


def caption_for(captions: dict[str, str], stem: str) -> str:
    """The caption of figure ``stem``: the exact key, else the first matching glob."""
    if stem in captions:
        return captions[stem]
    for pattern, text in captions.items():
        if fnmatch.fnmatchcase(stem, pattern):
            return text
    return ""


def _files(run_dir: Path, prefix: str) -> str:
    links = [f'<a href="{prefix}{name}">{name}</a>'
             for name in ("summary.md", "config.json", "meta.json", "metrics.parquet")
             if (run_dir / name).is_file()]
    links += [f'<a href="{prefix}tables/{t.name}">tables/{t.name}</a>'
              for t in sorted((run_dir / "tables").glob("*.csv"))]
    return f'<p class="files">Files: {", ".join(links)}.</p>'


_HEADING = re.compile(r"<(/?)h([1-6])\b")
_LINK = re.compile(r'(href|src)="(?![a-z][a-z0-9+.-]*:|#|/)([^"]+)"')


def markdown_html(text: str, prefix: str = "", base: Path | None = None) -> str:
    """A run's Markdown rendered for the report: headings moved two levels down (the
    summary's title under the run's section), relative links made relative to the report
    (``prefix``), images of the run (``base``) embedded, tables in scrolling boxes."""
    import markdown

    def relink(m: re.Match) -> str:
        attr, target = m.group(1), m.group(2)
        if attr == "src" and base is not None and (base / target).is_file():
            return f'src="{P.image_data_uri(base / target)}"'
        return f'{attr}="{prefix}{target}"'

    body = markdown.markdown(text, extensions=["tables"], output_format="html")
    body = _HEADING.sub(lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + 2)}", body)
    body = _LINK.sub(relink, body)
    return (body.replace("<table>", '<div class="table-wrap"><table>')
            .replace("</table>", "</table></div>"))
