"""Figures of study C4 (MNIST law of large numbers), drawn from a run directory's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mflab.plotting.style import panel_grid, paper_style, savefig
from mflab.runs.io import figures_dir

_LABELS = {"c": "output weight $c_i$", "w_norm": r"$|w_i|$"}


def plot_histograms(run_dir: Path, arrays, cfg, quantity: str) -> Path:
    """One panel per recorded epoch: the histogram (density) of ``quantity`` for each N,
    pooled over seeds, overlaid."""
    Ns = sorted(cfg["Ns"])
    epochs = list(cfg["record_epochs"])
    with paper_style():
        fig, axes = panel_grid(len(epochs), ncols=min(3, len(epochs)), size=(2.3, 2.2))
        colors = [f"C{i}" for i in range(len(Ns))]
        for r, (ax, epoch) in enumerate(zip(axes, epochs, strict=True)):
            pooled = {N: np.concatenate([arrays[(N, s)][quantity][r]
                                         for s in range(cfg["n_seeds"])]) for N in Ns}
            allv = np.concatenate(list(pooled.values()))
            lo, hi = np.quantile(allv, [0.005, 0.995])
            bins = np.linspace(lo, hi, 40)
            for N, col in zip(Ns, colors, strict=True):
                ax.hist(pooled[N], bins=bins, density=True, histtype="step", color=col,
                        label=f"N = {N}")
            ax.set_title(f"epoch {epoch}")
            ax.set_xlabel(_LABELS[quantity])
            ax.set_ylabel("density")
        axes[-1].legend(loc="best")
        fig.suptitle(f"C4 (MNIST): law of the {_LABELS[quantity]} per epoch, one colour per "
                     "width N")
        return savefig(fig, figures_dir(run_dir) / f"hist_{quantity}.png")


def plot_w1(run_dir: Path, w1, acc) -> Path:
    """W1 to the largest width vs N (log-log, one line per epoch), and test accuracy vs N.

    The largest width comes from ``acc`` (every width has a row there; in ``w1`` it has
    rows only with two seeds or more). An axis is log-scaled only if it holds positive data.
    """
    with paper_style():
        fig, axes = panel_grid(3, ncols=3, size=(2.33, 2.6))
        n_max = acc.N.max()
        for ax, q in zip(axes[:2], ("c", "w_norm"), strict=True):
            for i, epoch in enumerate(sorted(w1.epoch.unique())):
                if epoch == 0:
                    continue  # at initialisation every N samples the same law
                sub = w1[(w1.quantity == q) & (w1.epoch == epoch) & (w1.N < n_max)]
                g = sub.groupby("N").w1
                ax.errorbar(g.mean().index, g.mean().values, yerr=g.std(ddof=0).values,
                            marker="o", ms=3, capsize=2, color=f"C{i}", label=f"epoch {epoch}")
                floor = w1[(w1.quantity == q) & (w1.epoch == epoch) & (w1.N == n_max)].w1
                if len(floor):
                    ax.axhline(floor.mean(), color=f"C{i}", ls=":", lw=0.8)
            Ns = np.array(sorted(w1[w1.N < n_max].N.unique()), float)
            if len(Ns):
                ref = w1[(w1.quantity == q) & (w1.N == Ns[0])].w1.mean()
                ax.plot(Ns, ref * (Ns / Ns[0]) ** -0.5, "k--", lw=0.7, label=r"$N^{-1/2}$")
            if len(w1[(w1.quantity == q) & (w1.N == n_max)]):
                ax.plot([], [], color="0.4", ls=":", lw=0.8,
                        label=f"floor: N = {n_max}, seed to seed")
            _log_axes(ax)
            ax.set_xlabel("width N")
            ax.set_ylabel(f"W1 to N = {n_max}")
            ax.set_title(f"law of the {_LABELS[q]}")
            ax.legend(loc="best")
        g = acc.groupby("N").test_accuracy
        axes[2].errorbar(g.mean().index, g.mean().values, yerr=g.std(ddof=0).values,
                         marker="o", ms=3, capsize=2, label="mean ± sd over seeds")
        _log_axes(axes[2], y=False)
        lo, hi = axes[2].get_ylim()
        if hi - lo < ACCURACY_SPAN:  # do not magnify seed noise into a trend
            mid = 0.5 * (lo + hi)
            axes[2].set_ylim(mid - ACCURACY_SPAN / 2, min(1.0, mid + ACCURACY_SPAN / 2))
        axes[2].set_xlabel("width N")
        axes[2].set_ylabel("test accuracy")
        axes[2].set_title("test accuracy")
        axes[2].legend(loc="best")
        fig.suptitle("C4 (MNIST): the units' law settles as the width N grows")
        return savefig(fig, figures_dir(run_dir) / "w1.png")


#: The smallest span of the accuracy axis (two points of accuracy): a narrower one makes
#: differences of a few test images look like a trend.
ACCURACY_SPAN = 0.02


def _log_axes(ax, *, y: bool = True) -> None:
    """Log-scale x (and y) where the plotted data are positive; else keep them linear."""
    lim = ax.dataLim
    if np.isfinite([lim.x0, lim.x1]).all() and lim.x0 > 0:
        ax.set_xscale("log")
    if y and np.isfinite([lim.y0, lim.y1]).all() and lim.y0 > 0:
        ax.set_yscale("log")
