"""Figures in a common paper style (matplotlib, Agg backend, no display needed)."""

from mflab.plotting.style import panel_grid, paper_style, savefig

__all__ = ["paper_style", "savefig", "panel_grid"]
