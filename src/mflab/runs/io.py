"""Readers for a run directory (what ``plot`` and ``summarize`` may use).

Layout of a run directory::

    config.json        {"study", "seed", "preset", "overrides", "config": {...resolved...}}
    meta.json          seed, versions, git commit, host, start/end, wall time, timings, warnings
    metrics.parquet    long format: study, optimizer, seed, step, metric, value [, extras]
    arrays/NAME.npz    arrays saved by the study
    tables/NAME.csv    result tables
    figures/NAME.png   figures drawn by ``study.plot`` from the files above
    summary.md         ``study.summarize`` plus provenance
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def read_json(run_dir: Path, name: str) -> dict[str, Any]:
    """``run_dir/name`` parsed as JSON."""
    return json.loads((Path(run_dir) / name).read_text())


def read_config(run_dir: Path) -> dict[str, Any]:
    """The resolved config dict (``config.json["config"]``)."""
    return read_json(run_dir, "config.json")["config"]


def read_meta(run_dir: Path) -> dict[str, Any]:
    """``meta.json``."""
    return read_json(run_dir, "meta.json")


def read_metrics(run_dir: Path):
    """``metrics.parquet`` as a pandas DataFrame."""
    import pandas as pd

    return pd.read_parquet(Path(run_dir) / "metrics.parquet")


def read_arrays(run_dir: Path, name: str) -> dict[str, np.ndarray]:
    """``arrays/NAME.npz`` as a dict of NumPy arrays."""
    with np.load(Path(run_dir) / "arrays" / f"{name}.npz") as z:
        return {k: z[k] for k in z.files}


def read_table(run_dir: Path, name: str):
    """``tables/NAME.csv`` as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(Path(run_dir) / "tables" / f"{name}.csv")


def figures_dir(run_dir: Path) -> Path:
    """``run_dir/figures`` (created if missing)."""
    d = Path(run_dir) / "figures"
    d.mkdir(exist_ok=True)
    return d
