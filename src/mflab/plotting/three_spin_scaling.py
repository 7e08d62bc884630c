"""Figure of study D2 (the width-scaling laws of the 3-spin kernel networks), from a run
directory's tables alone.

* ``three-spin-scaling-laws.png`` — left: the excess E L_n(t) − L_∞(t) against n per d
  and t (mean over seeds minus the fitted L_∞, one standard error, the fitted A n^−p, a
  slope −1 guide); right: the converged loss against n per d, with the random-feature
  optimum of the initial centres;
* ``three-spin-sgd-noise.png`` — left: SGD's excess over the exact-gradient flow against
  dt/P (grid of dt × P, a slope-1 guide); right: SGD's and the flow's loss against n with
  P ∝ n.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mflab.plotting.style import figure_legend, paper_style, savefig
from mflab.runs.io import figures_dir, read_table

MARKERS = ("o", "s", "^", "D", "v", "P")


def plot_all(run_dir: Path) -> list[Path]:
    """Draw the D2 figures the run has tables for; returns the paths."""
    return _plot_laws(Path(run_dir)) + _plot_sgd(Path(run_dir))


def _plot_sgd(run_dir: Path) -> list[Path]:
    if not (run_dir / "tables" / "sgd_grid.csv").is_file():
        return []
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    grid = read_table(run_dir, "sgd_grid")
    with paper_style():
        fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.8), constrained_layout=True)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, (P, g) in enumerate(grid.groupby("P", sort=True)):
            pos = g.excess > 0
            left.errorbar(g["dt/P"][pos], g.excess[pos], yerr=g.excess_se[pos], fmt="o",
                          color=colors[i % len(colors)], ms=4, capsize=2,
                          label=f"P = {P} (dt = {', '.join(f'{v:g}' for v in g.dt)})")
        pos = grid[grid.excess > 0]
        if len(pos):
            x = np.geomspace(grid["dt/P"].min(), grid["dt/P"].max(), 10)
            x0, y0 = pos["dt/P"].iloc[-1], pos.excess.iloc[-1]
            left.plot(x, y0 * x / x0, "k--", lw=1, label="slope 1 (first order in dt/P)")
        left.set(xscale="log", yscale="log", xlabel="dt / P",
                 ylabel="E L_SGD − E L_GD  (/ ½E f²)",
                 title=f"n = {int(grid.n.iloc[0])}, same dt, same networks")
        if (run_dir / "tables" / "sgd_widths.csv").is_file():
            w = read_table(run_dir, "sgd_widths")
            right.errorbar(w.n, w.sgd, yerr=w.sgd_se, fmt="o-", ms=4, capsize=2,
                           color=colors[0], label="SGD, P ∝ n")
            right.errorbar(w.n, w.gd, yerr=w.gd_se, fmt="s:", ms=3, capsize=2,
                           color=colors[1], label="exact-gradient flow")
            right.set(xscale="log", yscale="log", xlabel="width n", ylabel="L / (½E f²)",
                      title="dt/P ∝ 1/n")
            right.set_xticks(sorted(w.n), [str(n) for n in sorted(w.n)])
        else:
            right.axis("off")
        for ax in (left, right):
            ax.xaxis.set_minor_formatter(NullFormatter())
        figure_legend(fig, [left, right], ncol=2)
        return [savefig(fig, figures_dir(run_dir) / "three-spin-sgd-noise.png")]


def _plot_laws(run_dir: Path) -> list[Path]:
    tables = run_dir / "tables"
    if not (tables / "flow_fits.csv").is_file() and not (tables / "converged.csv").is_file():
        return []
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    with paper_style():
        fig, (left, right) = plt.subplots(1, 2, figsize=(7, 4.4), constrained_layout=True)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        dims, widths = [], {"flow": set(), "conv": set()}
        if (tables / "flow_fits.csv").is_file():
            flow, fits = read_table(run_dir, "flow"), read_table(run_dir, "flow_fits")
            dims, widths["flow"] = sorted(set(fits.d)), set(flow.n)
            times = sorted(set(fits.t))
            fit_label = "fitted A n^(−p) (over the points' range)"
            fits = fits[fits["range"] == "all"]
            for (d, t), g in flow.groupby(["d", "t"], sort=True):
                fit = fits[(fits.d == d) & (fits.t == t)].iloc[0]
                col, mk = colors[dims.index(d) % len(colors)], MARKERS[times.index(t) % 6]
                excess = g["mean"].to_numpy() - fit.L_inf
                pos = excess > 0
                left.errorbar(g.n[pos], excess[pos], yerr=g.se[pos], fmt=mk, color=col,
                              ms=4, capsize=2, label=f"d = {d}, t = {t:g}: p = {fit.p:.2f} "
                              f"[{fit.p_lo:.2f}, {fit.p_hi:.2f}]")
                if np.isfinite(fit.p):
                    n = np.geomspace(fit.n_min, fit.n_max, 50)
                    left.plot(n, fit.A * n ** (-fit.p), color=col, lw=1, label=fit_label)
                    fit_label = None
            n0 = float(flow.n.min())
            ref = flow[flow.n == n0]["mean"].max() - fits.L_inf.min()
            if ref > 0:
                n = np.geomspace(n0, float(flow.n.max()), 10)
                left.plot(n, ref * n0 / n, "k--", lw=1, label="slope −1 (RVE)")
            left.set(xscale="log", yscale="log", xlabel="width n",
                     ylabel="E L_n(t) − L_∞(t)  (/ ½E f²)", title="fixed mean-field time")
        if (tables / "converged.csv").is_file():
            conv = read_table(run_dir, "converged")
            cdims, widths["conv"] = sorted(set(conv.d)), set(conv.n)
            for d, g in conv.groupby("d", sort=True):
                col = colors[(dims.index(d) if d in dims else len(dims) + cdims.index(d))
                             % len(colors)]
                right.errorbar(g.n, g["mean"], yerr=g.se, fmt="o-", color=col, ms=4,
                               capsize=2, label=f"d = {d}: exact weights, L-BFGS centres")
                right.plot(g.n, g.rf_mean, "s:", color=col, ms=3,
                           label=f"d = {d}: weights alone")
            right.set(xscale="log", yscale="log", xlabel="width n",
                      ylabel="L / (½E f²)", title="trained to (near) convergence")
        else:
            right.axis("off")
        for ax, ns in ((left, widths["flow"]), (right, widths["conv"])):
            if ns:  # label the widths themselves, not log-axis minor ticks
                ax.set_xticks(sorted(ns), [str(n) for n in sorted(ns)])
                ax.xaxis.set_minor_formatter(NullFormatter())
                ax.tick_params(axis="x", labelrotation=45)
        figure_legend(fig, [left, right], ncol=2)
        return [savefig(fig, figures_dir(run_dir) / "three-spin-scaling-laws.png")]
