"""Markdown tables for the studies' summaries (``summary.md``, printed in ``report.html``)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def markdown_table(df: pd.DataFrame, formats: dict[str, str]) -> str:
    """``df`` as a Markdown table: float cells of the columns in ``formats`` formatted with
    their spec (e.g. ``".3e"``), non-finite floats as "—", everything else as ``str``;
    "(none)" for an empty frame."""
    if df.empty:
        return "(none)"
    cols = list(df.columns)
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        cells = ["—" if isinstance(v, float) and not np.isfinite(v) else
                 format(v, formats[k]) if k in formats and isinstance(v, float) else str(v)
                 for k, v in zip(cols, r, strict=True)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
