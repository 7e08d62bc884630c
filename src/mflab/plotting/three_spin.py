"""Figures of study C7 (spherical 3-spin), drawn from a run directory's files alone.

* ``three-spin-losses.png`` (report fig. 15) — one row per d: relative loss L/(½E f²)
  against steps and against samples drawn, median over seeds with the interquartile band,
  one colour per method;
* ``three-spin-slices.png`` (report fig. 16) — one row per d: f and the best trained f_n
  on the slice of report eq. 47 with one shared colour scale, the centres' projections
  on the f_n panel (red: c_i > 0, blue: c_i < 0; area ∝ |c_i|).

The loss against n (SPEC D2) is study ``three-spin-scaling``'s
(:mod:`mflab.plotting.three_spin_scaling`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mflab.plotting.style import METHOD_COLORS, figure_legend, paper_style, savefig
from mflab.runs.io import figures_dir, read_arrays, read_config
from mflab.studies import three_spin_train as T

COLORS = METHOD_COLORS


def _exists(run_dir: Path, name: str) -> bool:
    return (Path(run_dir) / "arrays" / f"{name}.npz").exists()


def plot_all(run_dir: Path) -> list[Path]:
    """Draw every C7 figure that the saved files allow; returns the paths."""
    cfg = read_config(run_dir)
    out = figures_dir(run_dir)
    paths = []
    with paper_style():
        if any(_exists(run_dir, f"curves_d{d}_{m}") for d in cfg["dims"] for m in cfg["methods"]):
            paths.append(_losses(run_dir, cfg, out / "three-spin-losses.png"))
        if any(_exists(run_dir, f"slice_d{d}") for d in cfg["dims"]):
            paths.append(_slices(run_dir, cfg, out / "three-spin-slices.png"))
    return paths


def _band(ax, x, loss, color, label):
    q25, q50, q75 = T.quartiles(loss, axis=1)
    keep = x > 0
    ax.plot(x[keep], q50[keep], color=color, label=label)
    ax.fill_between(x[keep], q25[keep], q75[keep], color=color, alpha=0.2, lw=0)


def _losses(run_dir: Path, cfg: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt

    dims = cfg["dims"]
    fig, axes = plt.subplots(len(dims), 2, figsize=(6.4, 2.2 * len(dims)), squeeze=False,
                             constrained_layout=True)
    curves = {(d, m): read_arrays(run_dir, f"curves_d{d}_{m}") for d in dims
              for m in cfg["methods"] if _exists(run_dir, f"curves_d{d}_{m}")}
    dts = {float(c["dt"]) for c in curves.values()}
    for row, d in zip(axes, dims, strict=True):
        for m in cfg["methods"]:
            if (d, m) not in curves:
                continue
            cur = curves[(d, m)]
            rel = cur["loss"] / float(cur["half"])
            label = f"{m} {T.METHODS[m].label}" + (
                f" (dt {float(cur['dt']):g})" if len(dts) > 1 else "")
            _band(row[0], cur["steps"].astype(float), rel, COLORS[m], label)
            _band(row[1], cur["samples"].astype(float), rel, COLORS[m], label)
        for ax, xl in zip(row, ("steps", "samples drawn"), strict=True):
            ax.set(xscale="log", yscale="log", xlabel=xl, ylabel=r"$L/(\frac{1}{2}E f^2)$",
                   title=f"d = {d}, against {xl}")
    figure_legend(fig, axes[0], band="band: 25–75 % over seeds")
    fig.suptitle("C7: relative loss, median over seeds" +
                 (f" (every method at dt {dts.pop():g})" if len(dts) == 1 else ""))
    return savefig(fig, path)


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
