"""Shared figure style: serif text, thin lines, 300-dpi PNGs, reproducible files.

Use ``with paper_style(): fig = ...; savefig(fig, path)``. The Agg backend is selected
when no backend was chosen, so plotting works headless (CI, clusters).
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import matplotlib

if "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

#: rcParams of every mflab figure.
STYLE = {
    "font.family": "serif",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "legend.frameon": False,
    "image.cmap": "viridis",
}


#: One colour per Part B method (SPEC Part B ids), the same in every mflab figure; C7's
#: deterministic references have their own ("GD": the exact-gradient flow, "SGD": its
#: stochastic counterpart in the n-scaling, "RF": the random-feature optimum).
METHOD_COLORS = {
    "B1": "#000000", "B2": "#1f77b4", "B3": "#17becf", "B4": "#d62728", "B4r": "#e377c2",
    "B4lb": "#7b0d0d", "B5": "#ff7f0e", "B6": "#2ca02c", "B7": "#bcbd22", "B8": "#8c564b",
    "B9": "#7f7f7f",
    "B10": "#9467bd", "B11": "#2e8b57", "GD": "#1f78b4", "SGD": "#e31a1c", "RF": "#777777",
}

#: Dash patterns that let a curve lying exactly on another show both (B3 restarts
#: Nesterov, B4 is MaSS: on a deterministic landscape they can coincide with B1, B2).
METHOD_DASHES = {"B3": (0, (5, 2)), "B4": (0, (1.2, 1.6)), "B4r": (0, (5, 1.5, 1, 1.5)),
                 "B6": (0, (5, 2)), "B8": (0, (1.2, 1.6)), "B10": (0, (7, 2)),
                 "B11": (0, (3, 1.5))}


def figure_legend(fig, axes, *, ncol: int | None = None, band: str | None = None) -> None:
    """One legend under the panels: every labelled entry of ``axes`` (a flat iterable),
    once each in order of appearance, and — given ``band`` — a grey patch naming the
    shaded bands (e.g. ``"band: 25–75 % over seeds"``). ``ncol`` defaults to ≤ 3."""
    seen = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    if band is not None:
        from matplotlib.patches import Patch

        seen[band] = Patch(facecolor="0.5", alpha=0.25)
    fig.legend(list(seen.values()), list(seen), loc="outside lower center",
               ncol=ncol or min(3, len(seen)))


@contextlib.contextmanager
def paper_style():
    """Context in which figures get the mflab paper style."""
    with plt.rc_context(STYLE):
        yield


def panel_grid(n: int, *, ncols: int = 4, size: tuple[float, float] = (2.4, 2.1), **kwargs):
    """A figure with ``n`` panels on a grid (unused cells removed); returns (fig, axes list)."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False, constrained_layout=True, **kwargs)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def savefig(fig, path: Path | str) -> Path:
    """Save a PNG without timestamps in its metadata (same data → same file) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    return path
