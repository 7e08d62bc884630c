"""Readers for a run directory (what ``plot`` and ``summarize`` may use).

Layout of a run directory::

    config.json        {"study", "seed", "preset", "overrides", "config": {...resolved...}}
    meta.json          seed, versions, git commit, host, start/end, wall time, timings,
                       warnings, status (running/interrupted/complete/diverged), divergences
    metrics.parquet    long format: study, optimizer, seed, step, metric, value [, extras]
    arrays/NAME.npz    arrays saved by the study
    tables/NAME.csv    result tables
    figures/NAME.png   figures drawn by ``study.plot`` from the files above
    summary.md         ``study.summarize`` plus provenance

While a run is written (in ``.NAME.partial``) it also holds ``.lock`` (its writer),
``checkpoint/`` and ``metrics-parts/``. A missing or unreadable file is reported by the
readers below as a one-line :class:`DamagedRunError` naming it.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mflab.errors import DamagedRunError


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn a failure to read ``path`` into a one-line :class:`DamagedRunError` naming it."""
    try:
        yield
    except FileNotFoundError:
        raise DamagedRunError(f"{path} is missing; the run directory is incomplete or "
                              "damaged.") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        # pyarrow's and json's errors derive from OSError / ValueError
        reason = " ".join(str(e).split())[:200]
        raise DamagedRunError(f"{path} is damaged ({type(e).__name__}: {reason}).") from None


def read_json(run_dir: Path, name: str) -> dict[str, Any]:
    """``run_dir/name`` parsed as JSON (an object)."""
    path = Path(run_dir) / name
    with reading(path):
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def read_config(run_dir: Path) -> dict[str, Any]:
    """The resolved config dict (``config.json["config"]``)."""
    path = Path(run_dir) / "config.json"
    data = read_json(run_dir, "config.json")
    with reading(path):
        return data["config"]


def read_meta(run_dir: Path) -> dict[str, Any]:
    """``meta.json``."""
    return read_json(run_dir, "meta.json")


def read_metrics(run_dir: Path):
    """``metrics.parquet`` as a pandas DataFrame."""
    import pandas as pd

    path = Path(run_dir) / "metrics.parquet"
    with reading(path):
        return pd.read_parquet(path)


def read_arrays(run_dir: Path, name: str) -> dict[str, np.ndarray]:
    """``arrays/NAME.npz`` as a dict of NumPy arrays."""
    path = Path(run_dir) / "arrays" / f"{name}.npz"
    with reading(path), np.load(path) as z:
        return {k: z[k] for k in z.files}


def read_table(run_dir: Path, name: str):
    """``tables/NAME.csv`` as a pandas DataFrame."""
    import pandas as pd

    path = Path(run_dir) / "tables" / f"{name}.csv"
    with reading(path):
        return pd.read_csv(path)


def figures_dir(run_dir: Path) -> Path:
    """``run_dir/figures`` (created if missing)."""
    d = Path(run_dir) / "figures"
    d.mkdir(exist_ok=True)
    return d
