"""Figures of study C7 (spherical 3-spin), drawn from a run directory's files alone.

* ``three-spin-losses.png`` (report fig. 15) — one row per d: relative loss L/(½E f²)
  against steps and against samples drawn, median over seeds with the interquartile band,
  one colour per method;
* ``three-spin-slices.png`` (report fig. 16) — one row per d: f and the best trained f_n
  on the slice of report eq. 47 with one shared colour scale, the centres' projections
  on the f_n panel (red: c_i > 0, blue: c_i < 0; area ∝ |c_i|);
* ``three-spin-scaling.png`` — per d of the loss-vs-n part: loss at the read-out time
  against n (GD, SGD, random-feature optimum; the fitted line over the fit range and a
  slope −1 guide), and loss against mean-field time t for every n.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mflab.plotting.style import METHOD_COLORS, figure_legend, paper_style, savefig
from mflab.runs.io import figures_dir, read_arrays, read_config, read_table
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
        if cfg["scale_dims"] and _exists(run_dir, f"scale_d{cfg['scale_dims'][0]}_GD_n"
                                                  f"{cfg['scale_ns'][0]}"):
            paths.append(_scaling(run_dir, cfg, out / "three-spin-scaling.png"))
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


def _scaling(run_dir: Path, cfg: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt

    scale = read_table(run_dir, "scaling")
    slopes = read_table(run_dir, "slopes")
    modes = T.scale_modes(cfg)
    styles = dict(zip(modes, ("-", "--", ":", "-."), strict=False))
    reds = plt.get_cmap("autumn")
    colors = {m: COLORS["GD"] if m == "GD" else reds(0.6 * i / max(len(modes) - 2, 1))
              for i, m in enumerate(m for m in modes if m != "GD")} | {"GD": COLORS["GD"]}
    dims = cfg["scale_dims"]
    lo, hi = cfg["fit_range"]
    t_end = float(cfg["scale_time"])
    fig, axes = plt.subplots(2, len(dims), figsize=(min(7.0, 5.6 * len(dims)), 6.4),
                             squeeze=False, constrained_layout=True)
    for col, d in enumerate(dims):
        ax = axes[0, col]
        here = scale[scale.d == d]
        at_end = np.isclose(here.time, t_end)
        for mode, dt in modes.items():
            rows, early = here[(here["mode"] == mode) & at_end], here[(here["mode"] == mode)
                                                                       & ~at_end]
            if rows.empty:
                continue
            err = [rows["median loss"] - rows.q25, rows.q75 - rows["median loss"]]
            sl = slopes[(slopes.d == d) & (slopes["mode"] == mode) & np.isclose(slopes.t, t_end)]
            label = (f"{mode[:3] if mode != 'GD' else 'GD'} dt {dt:g}"
                     + (f", slope {sl.slope.iloc[0]:+.2f}" if len(sl) else ""))
            ax.errorbar(rows.n, rows["median loss"], yerr=err, color=colors[mode], marker="o",
                        ms=3, capsize=2, ls=styles[mode], label=label)
            _fit_line(ax, rows.n.to_numpy(), rows["median loss"].to_numpy(), lo, hi,
                      colors[mode])
            if mode == "GD" and not early.empty:
                ax.plot(early.n, early["median loss"], color=colors[mode], lw=0.5, ls=":",
                        marker="o", mfc="none", ms=3, label=f"GD at t = {early.time.iloc[0]:g}")
        rf = here[(here["mode"] == "GD") & at_end]
        if rf["random-feature optimum"].notna().any():
            ax.plot(rf.n, rf["random-feature optimum"], color=COLORS["RF"], ls=":",
                    marker="s", ms=2, label="RF optimum, initial centres")
        ns = np.array(sorted(here.n.unique()), float)
        if ns.size and not rf.empty:
            ref = float(rf["median loss"].max())
            ax.plot(ns, ref * ns[0] / ns, color="k", lw=0.6, ls="--", label="slope −1")
        ax.plot([], [], color="0.4", lw=0.6, alpha=0.7, label="least-squares fit")
        ax.set(xscale="log", yscale="log", xlabel="n", ylabel=r"$L/(\frac{1}{2}E f^2)$",
               title=f"d = {d}, t = {t_end:g}\n(fits over n ∈ [{lo}, {hi}])")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
        ax = axes[1, col]
        cmap = plt.get_cmap("viridis")
        for i, n in enumerate(cfg["scale_ns"]):
            for mode in modes:
                if not _exists(run_dir, f"scale_d{d}_{mode}_n{n}"):
                    continue
                a = read_arrays(run_dir, f"scale_d{d}_{mode}_n{n}")
                q50 = T.quartiles(a["loss"] / float(a["half"]), axis=1)[1]
                keep = a["time"] > 0
                ax.plot(a["time"][keep], q50[keep], ls=styles[mode], lw=0.8,
                        color=cmap(i / max(len(cfg["scale_ns"]) - 1, 1)),
                        label=f"n = {n}" if mode == "GD" else None)
        for mode in modes:
            ax.plot([], [], color="0.4", ls=styles[mode], lw=0.8, label=mode)
        ax.set(xscale="log", yscale="log", xlabel="mean-field time t",
               ylabel=r"$L/(\frac{1}{2}E f^2)$", title=f"d = {d}: median loss against t")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=1)
    return savefig(fig, path)


def _fit_line(ax, ns, med, lo, hi, color):
    inside = (ns >= lo) & (ns <= hi) & np.isfinite(med)
    if inside.sum() < 2:
        return
    p = np.polyfit(np.log(ns[inside]), np.log(med[inside]), 1)
    x = np.array([lo, hi], float)
    ax.plot(x, np.exp(np.polyval(p, np.log(x))), color=color, lw=0.6, alpha=0.7)
