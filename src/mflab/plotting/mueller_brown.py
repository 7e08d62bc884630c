"""Figures of study C6 (Müller–Brown), drawn from a run directory's files alone.

* ``trajectories.png`` — one panel per optimiser: contours of V, the known stationary
  points, and the saved sample trajectories (start ○, end ●), seed 0.
* ``final_values.png`` — one panel per optimiser: histogram of the final V over all
  agents (seed 0), with the three minima's values marked.
* ``basins.png`` — stacked bars: median fraction of runs ending in basins A, B, C,
  elsewhere, diverged, with the range over seeds of the fraction in A.
* ``convergence.png`` — median V over agents against gradient evaluations per agent
  (median over seeds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mflab.plotting.style import panel_grid, paper_style, savefig

BASIN_COLORS = {"A": "#1b9e77", "B": "#d95f02", "C": "#7570b3", "elsewhere": "#999999",
                "diverged": "#e7298a"}


def _potential_grid(box, n: int = 300):
    import jax

    from mflab.landscapes import mueller_brown

    x = np.linspace(box[0], box[1], n)
    y = np.linspace(box[2], box[3], n)
    X, Y = np.meshgrid(x, y)
    V = np.asarray(jax.vmap(mueller_brown().value)(np.stack([X.ravel(), Y.ravel()], axis=-1)))
    return X, Y, V.reshape(X.shape)


def _ids(run_dir: Path) -> list[str]:
    from mflab.runs.io import read_table

    return list(read_table(run_dir, "basins")["id"])


def plot_all(run_dir: Path, labels: dict[str, str]) -> list[Path]:
    """Draw every C6 figure into ``run_dir/figures``; returns the paths."""
    from mflab.runs.io import figures_dir, read_arrays, read_config, read_metrics, read_table

    cfg = read_config(run_dir)
    ids = _ids(run_dir)
    out = figures_dir(run_dir)
    if not ids:
        return []
    finals = {}
    for i in ids:
        z = read_arrays(run_dir, f"final_{i}_s0")
        finals[i] = {k: z[k] for k in ("traj", "value", "stationary")}
    names = {i: f"{i} {labels.get(i, i)}" for i in ids}
    with paper_style():
        paths = [
            _trajectories(out / "trajectories.png", cfg["box"], finals, names),
            _final_values(out / "final_values.png", finals, names),
            _basins(out / "basins.png", read_table(run_dir, "basins"), names),
            _convergence(out / "convergence.png", read_metrics(run_dir), names),
        ]
    return paths


def _stationary():
    from mflab.landscapes import mueller_brown

    return mueller_brown().stationary_points


def _trajectories(path, box, finals, names):
    X, Y, V = _potential_grid(box)
    levels = np.linspace(-150, 60, 15)
    fig, axes = panel_grid(len(finals), ncols=3, size=(2.33, 2.0), sharex=True, sharey=True)
    for ax, (i, f) in zip(axes, finals.items(), strict=True):
        ax.contourf(X, Y, np.clip(V, None, 60), levels=levels, cmap="Greys_r", alpha=0.55)
        ax.contour(X, Y, V, levels=levels, colors="k", linewidths=0.3, alpha=0.5)
        traj = f["traj"]  # (R, S, 2)
        colors = [f"C{j % 10}" for j in range(traj.shape[1])]
        for j in range(traj.shape[1]):
            ax.plot(traj[:, j, 0], traj[:, j, 1], color=colors[j], lw=0.9)
            ax.plot(*traj[0, j], "o", ms=3, mfc="white", mec=colors[j], mew=0.8)
            ax.plot(*traj[-1, j], "o", ms=3, color=colors[j])
        for p in _stationary():
            marker = "*" if p.kind == "minimum" else "x"
            ax.plot(*p.x, marker, color="k", ms=6 if marker == "*" else 4, mew=0.8)
            if p.kind == "minimum":
                ax.annotate(p.name, p.x, xytext=(4, 3), textcoords="offset points")
        ax.set_xlim(box[0], box[1])
        ax.set_ylim(box[2], box[3])
        ax.set_title(names[i])
        ax.set_aspect("equal")
    for ax in axes:
        ax.set_xlabel("$x$")
        ax.set_ylabel("$y$")
        ax.label_outer()
    from matplotlib.lines import Line2D

    keys = [Line2D([], [], color="0.35", lw=0.9, label="sample trajectory (one colour each)"),
            Line2D([], [], color="0.35", ls="none", marker="o", ms=3, mfc="white",
                   label="start"),
            Line2D([], [], color="0.35", ls="none", marker="o", ms=3, label="end"),
            Line2D([], [], color="k", ls="none", marker="*", ms=6, label="minima A, B, C"),
            Line2D([], [], color="k", ls="none", marker="x", ms=4, label="saddles")]
    fig.legend(handles=keys, loc="outside lower center", ncol=3)
    fig.suptitle("Müller–Brown: sample trajectories on the contours of V")
    return savefig(fig, path)


def _final_values(path, finals, names):
    mins = [p for p in _stationary() if p.kind == "minimum"]
    allv = np.concatenate([f["value"] for f in finals.values()])
    lo = min(allv.min(), -150.0)
    hi = max(min(np.quantile(allv, 0.99), 100.0), -60.0)
    bins = np.linspace(lo, hi, 60)
    fig, axes = panel_grid(len(finals), ncols=3, size=(2.33, 1.8), sharex=True)
    for ax, (i, f) in zip(axes, finals.items(), strict=True):
        v = np.clip(f["value"], lo, hi)
        ax.hist(v, bins=bins, weights=np.full(len(v), 1 / len(v)), color="C0", alpha=0.8)
        for p in mins:
            ax.axvline(p.value, color=BASIN_COLORS[p.name], ls="--", lw=0.8,
                       label=f"$V_{p.name}$ = {p.value:.1f}")
        ax.set_title(names[i])
        ax.set_xlabel("final $V$")
        ax.set_ylabel("fraction of runs")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    fig.suptitle("Müller–Brown: final values (above the 99th percentile clipped)")
    return savefig(fig, path)


def _basins(path, table, names):
    fig, ax = _single(figsize=(3.5, 3.9))
    x = np.arange(len(table))
    bottom = np.zeros(len(table))
    for b, color in BASIN_COLORS.items():
        frac = table[f"basin {b}"].to_numpy()
        ax.bar(x, frac, bottom=bottom, color=color, width=0.7, label=b)
        bottom += frac
    a = table["basin A"].to_numpy()
    lo, hi = table["basin A min"].to_numpy(), table["basin A max"].to_numpy()
    ax.errorbar(x, a, yerr=[a - lo, hi - a],
                fmt="none", ecolor="k", elinewidth=0.8, capsize=2,
                label=f"A: range over {int(table['seeds'].max())} seeds")
    ax.set_xticks(x, list(table["id"]), rotation=90)
    ax.set_xlabel("method (SPEC Part B id)")
    ax.set_ylabel("fraction of runs")
    ax.set_ylim(0, 1)
    ax.set_title("Basin reached (GD descent from the final point)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=3,
               title="basin")
    return savefig(fig, path)


def _convergence(path, metrics, names):
    from mflab.compare.stats import lower_median
    from mflab.plotting.style import METHOD_COLORS, METHOD_DASHES

    fig, ax = _single(figsize=(3.4, 4.6))
    for i in names:
        m = metrics[(metrics.optimizer == i) & (metrics.metric == "median_value")]
        med = m.groupby("step").agg(value=("value", lower_median),
                                    grad_evals=("grad_evals", "first"))
        g = np.maximum(med["grad_evals"].to_numpy(), 1)
        ax.plot(g, med["value"], color=METHOD_COLORS.get(i, "C0"),
                ls=METHOD_DASHES.get(i, "-"), label=names[i])
    for p in _stationary():
        if p.kind == "minimum":
            ax.axhline(p.value, color="k", ls=":", lw=0.6)
            ax.annotate(p.name, (1, p.value), xycoords=("axes fraction", "data"),
                        xytext=(2, 0), textcoords="offset points", va="center")
    ax.plot([], [], color="k", ls=":", lw=0.6, label="minima A, B, C")
    ax.set_xscale("log")
    ax.set_xlabel("gradient evaluations per agent (start at 1)")
    ax.set_ylabel("median $V$ over agents and seeds")
    ax.set_ylim(-155, 20)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2)
    ax.set_title("Müller–Brown: value vs gradient cost")
    return savefig(fig, path)


def _single(figsize):
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, constrained_layout=True)
