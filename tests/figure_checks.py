"""The figure test of issue 24, shared by the study tests: redraw a run's figures from its
files and check them from the matplotlib objects (not pixels).

Every figure: a title (its own suptitle or a title on each data panel); every data panel:
x and y labels; every line style drawn on a panel is named by a legend (of the panel or of
the figure) — a labelled line names itself, an unlabelled one must share its style with a
legend entry; every text at least 8 pt at the printed size, one-panel figures at most a
column (3.5 in) wide and the others a page (7 in); and every figure has a caption in its
study's ``captions`` (what ``report.html`` prints under it).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.figure
import matplotlib.lines
import matplotlib.text
import pytest

from mflab.report.build import caption_for
from mflab.studies import registry

#: Smallest font (points) of any text in a figure. Figures are drawn at their printed size:
#: a one-panel figure at most a column wide (:data:`COLUMN_IN`), a multi-panel one at most
#: a page wide (:data:`PAGE_IN`, a two-column ``figure*``), so this is the size a reader
#: of the paper sees.
MIN_FONT_PT = 8.0
COLUMN_IN, PAGE_IN = 3.5, 7.0


def _has_data(ax) -> bool:
    return bool(ax.lines or ax.collections or ax.images or ax.patches or ax.containers)


def _legend_styles(fig, ax) -> set:
    styles = set()
    for leg in [ax.get_legend(), *fig.legends]:
        if leg is None:
            continue
        for h in leg.legend_handles:
            for a in (h, *getattr(h, "get_children", lambda: [])()):
                if isinstance(a, matplotlib.lines.Line2D):
                    styles.add(_style(a))
    return styles


def _style(line) -> tuple:
    ls = line.get_linestyle()
    return "solid" if ls in ("-", "solid") else str(ls)


def check_figure(fig, name: str) -> list[str]:
    """Problems of one figure (empty: it passes)."""
    problems = []
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    panels = [ax for ax in fig.axes if _has_data(ax) and ax.get_label() != "<colorbar>"]
    for k, ax in enumerate(panels):
        where = f"{name} panel {k}"
        if not (ax.get_title() or suptitle):
            problems.append(f"{where}: no title (and the figure has no suptitle)")
        if not ax.get_xlabel() and not _shares_label(ax, panels, "x"):
            problems.append(f"{where}: no x label")
        if not ax.get_ylabel() and not _shares_label(ax, panels, "y"):
            problems.append(f"{where}: no y label")
        lines = [ln for ln in ax.lines if ln.get_visible() and len(ln.get_xdata())
                 and ln.get_linestyle() not in ("None", "none", " ", "")]
        styles = _legend_styles(fig, ax)
        in_labelled = {id(a) for c in ax.containers if not c.get_label().startswith("_")
                       for a in _flat(c)}
        for ln in lines:
            labelled = not ln.get_label().startswith("_") or id(ln) in in_labelled
            if not labelled and _style(ln) not in styles and len(lines) > 1:
                problems.append(f"{where}: a {_style(ln)} line is named by no legend")
    width = fig.get_size_inches()[0]
    limit = COLUMN_IN if len(panels) == 1 else PAGE_IN
    if width > limit + 1e-9:
        problems.append(f"{name}: {width:.2f} in wide, more than {limit} in "
                        f"({'one column' if limit == COLUMN_IN else 'a page'})")
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_text().strip() and text.get_visible() and text.get_fontsize() < MIN_FONT_PT:
            problems.append(f"{name}: text {text.get_text()[:30]!r} at "
                            f"{text.get_fontsize():.1f} pt < {MIN_FONT_PT} pt")
            break
    return problems


def _shares_label(ax, panels, which: str) -> bool:
    """A panel whose axis is shared with a labelled panel of its row (y) or column (x)
    (``label_outer`` keeps the label on the outer panels only)."""
    get = (lambda a: a.get_xlabel()) if which == "x" else (lambda a: a.get_ylabel())
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    return any(get(p) and shared.joined(ax, p) for p in panels if p is not ax)


def _flat(container):
    for a in container:
        if isinstance(a, (tuple, list)):
            yield from a
        elif a is not None:
            yield a


def check_study_figures(study_name: str, run_dir: Path, monkeypatch) -> list[str]:
    """Redraw ``run_dir``'s figures with ``Figure.savefig`` watched; every figure must pass
    :func:`check_figure` and have a caption. Returns the figure names."""

    study = registry.get(study_name)
    seen, problems = [], []
    real = matplotlib.figure.Figure.savefig

    def watched(fig, fname, *args, **kwargs):
        name = Path(fname).stem
        seen.append(name)
        problems.extend(check_figure(fig, name))
        if not caption_for(study.captions, name):
            problems.append(f"{name}: no caption in {study_name}'s captions")
        return real(fig, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", watched)
    paths = study.plot(Path(run_dir))
    monkeypatch.undo()
    assert paths and seen, f"{study_name} drew no figure"
    if problems:
        pytest.fail(f"{study_name} figures: " + "; ".join(problems))
    return seen
