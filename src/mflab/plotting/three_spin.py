"""Figures of study C7 (spherical 3-spin), drawn from a run directory's files alone.

* ``three-spin-slices.png`` (report fig. 16) — one row per d: f and the trained f_n on the
  slice of report eq. 47 with one shared colour scale, the centres' projections on the
  f_n panel (red: c_i > 0, blue: c_i < 0; area ∝ |c_i|).

The optimisers at equal cost (fig. 15) are drawn by study ``three-spin-optimizers`` (C5's
figures); the loss against n (SPEC D2) by :mod:`mflab.plotting.three_spin_scaling`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mflab.plotting.style import paper_style, savefig
from mflab.runs.io import figures_dir, read_arrays, read_config


def _exists(run_dir: Path, name: str) -> bool:
    return (Path(run_dir) / "arrays" / f"{name}.npz").exists()


def plot_all(run_dir: Path) -> list[Path]:
    """Draw every C7 figure that the saved files allow; returns the paths."""
    cfg = read_config(run_dir)
    out = figures_dir(run_dir)
    paths = []
    with paper_style():
        if any(_exists(run_dir, f"slice_d{d}") for d in cfg["dims"]):
            paths.append(_slices(run_dir, cfg, out / "three-spin-slices.png"))
    return paths


def _slices(run_dir: Path, cfg: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt

    dims = [d for d in cfg["dims"] if _exists(run_dir, f"slice_d{d}")]
    fig, axes = plt.subplots(len(dims), 2, figsize=(6.6, 2.3 * len(dims)), squeeze=False,
                             constrained_layout=True)
    for row, d in zip(axes, dims, strict=True):
        s = read_arrays(run_dir, f"slice_d{d}")
        vmax = float(max(np.abs(s["f"]).max(), np.abs(s["fn"]).max()))
        levels = np.linspace(-vmax, vmax, 21)
        phi, theta = np.meshgrid(s["phi"], s["theta"])
        for ax, field, title in ((row[0], s["f"], f"f, d = {d}"),
                                 (row[1], s["fn"], f"$f_n$ ({s['method']}, seed "
                                  f"{int(s['seed'])}), loss {float(s['relative_loss']):.2e}")):
            cs = ax.contourf(phi, theta, field, levels=levels, cmap="RdBu_r")
            ax.set(xlabel=r"$\phi$", ylabel=r"$\theta$", title=title)
            ax.invert_yaxis()
        c = s["c"]
        size = 12 * np.abs(c) / max(np.abs(c).max(), 1e-300)
        row[1].scatter(s["z_phi"], s["z_theta"], s=size, c=np.where(c > 0, "#b2182b", "#2166ac"),
                       edgecolors="k", linewidths=0.2)
        fig.colorbar(cs, ax=list(row), shrink=0.9, format="%.1f", label="value of f, f_n",
                     ticks=np.linspace(-vmax, vmax, 5))
    return savefig(fig, path)
