"""Figures of the mean-field studies (C1–C3), drawn from a run directory's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mflab.plotting.style import panel_grid, paper_style, savefig
from mflab.runs.io import figures_dir


def plot_risk_and_norm(run_dir: Path, cases: dict, cfg: dict, title: str) -> Path:
    """Risk vs t (log scale) and mean |w| vs t, SGD (mean ± range over seeds) and DD, per case."""
    with paper_style():
        fig, (ax_r, ax_n) = panel_grid(2, ncols=2, size=(3.3, 2.6))
        for i, (label, (sgd, dd)) in enumerate(cases.items()):
            col = f"C{i}"
            name = label.replace("kappa", "κ = ")
            t = sgd["times"]
            for ax, key in ((ax_r, "risk"), (ax_n, "mean_norm")):
                v = sgd[key]
                ax.plot(t[1:], v.mean(0)[1:], "o", ms=2.5, color=col, label=f"SGD, {name}")
                if v.shape[0] > 1:
                    ax.fill_between(t[1:], v.min(0)[1:], v.max(0)[1:], color=col, alpha=0.2)
                ax.plot(dd["times"][1:], dd[key][1:], "-", color=col, label=f"DD, {name}")
        for ax in (ax_r, ax_n):
            ax.set_xscale("log")
            ax.set_xlabel("time t = kε")
        ax_r.set_yscale("log")
        ax_r.set_ylabel("risk")
        ax_n.set_ylabel("mean |w|")
        ax_r.legend(loc="best")
        fig.suptitle(f"{title}: SGD with N = {cfg['N']} vs distributional dynamics")
        return savefig(fig, figures_dir(run_dir) / "risk_norm.png")


def plot_radial_histograms(run_dir: Path, label: str, sgd, dd, cfg: dict,
                           n_panels: int = 4) -> Path:
    """|w| histograms of SGD at ``n_panels`` times (pooled over seeds) over the DD radial
    density (reflected Gaussian KDE of the DD radii with the histogram's bin width as
    bandwidth: Silverman's rule over-smooths the atom of units stuck near w = 0)."""
    from mflab.meanfield.dd import radial_density

    ts = sgd["times"]
    targets = ts[-1] * np.logspace(-(n_panels - 1), 0, n_panels)  # one panel per decade
    idx = np.unique([int(np.argmin(np.abs(np.log(ts[1:] / t)))) + 1 for t in targets])
    with paper_style():
        fig, axes = panel_grid(len(idx), ncols=len(idx), size=(2.4, 2.1))
        for ax, r in zip(axes, idx, strict=True):
            t = sgd["times"][r]
            j = int(np.argmin(np.abs(dd["times"] - t)))  # the DD record nearest in time
            radii = sgd["reduced"][:, r, :, 0].ravel()
            hi = max(radii.max(), np.abs(dd["particles"][j]).max()) * 1.1
            ax.hist(radii, bins=40, range=(0, hi), density=True, color="C0", alpha=0.5,
                    label="SGD")
            grid = np.linspace(0, hi, 300)
            dens = radial_density(np.abs(dd["particles"][j]), grid, bandwidth=hi / 40)
            ax.plot(grid, dens, "k-", label="DD")
            same = abs(dd["times"][j] - t) <= 0.01 * t
            ax.set_title(f"t = {t:.3g}" + ("" if same else f" (DD: {dd['times'][j]:.3g})"))
            ax.set_xlabel("|w|")
        axes[0].set_ylabel("density")
        axes[-1].legend(loc="best")
        fig.suptitle(f"{label.replace('kappa', 'κ = ')}: distribution of |w_i|")
        return savefig(fig, figures_dir(run_dir) / f"hist_{label}.png")


def plot_reduced_scatter(run_dir: Path, cases: dict) -> Path:
    """Final units in the (r1, r2) plane (informative vs uninformative norm of w), one panel
    per case: SGD units (seed 0) as dots, DD particles as crosses, sized by |a|."""
    with paper_style():
        fig, axes = panel_grid(len(cases), ncols=len(cases), size=(2.8, 2.6))
        for ax, (label, (sgd, dd)) in zip(axes, cases.items(), strict=True):
            red = sgd["reduced"][0, -1]  # (N, 4): a, b, r1, r2
            ax.scatter(red[:, 2], red[:, 3], s=3, alpha=0.4, color="C0", label="SGD units")
            p = dd["particles"][-1]
            ax.scatter(p[:, 2], p[:, 3], s=14, marker="x", color="k", label="DD particles")
            ax.set_xlabel(r"$r_1 = |w_{1..s_0}|$")
            ax.set_ylabel(r"$r_2 = |w_{s_0+1..d}|$")
            ax.set_title(f"{label.replace('kappa', 'κ = ')}, t = {sgd['times'][-1]:.3g}")
        axes[-1].legend(loc="best")
        return savefig(fig, figures_dir(run_dir) / "reduced.png")


def plot_convergence(run_dir: Path, table) -> Path:
    """Risk gap SGD–DD vs N (one line per ε) and vs ε (one line per N), log-log, with
    reference slopes ∓1/2."""
    with paper_style():
        fig, (ax_n, ax_e) = panel_grid(2, ncols=2, size=(3.2, 2.7))
        for i, (eps, g) in enumerate(table.groupby("eps")):
            ax_n.errorbar(g.N, g.gap, yerr=g.gap_se, marker="o", ms=3, capsize=2,
                          color=f"C{i}", label=f"ε = {eps:g}")
        for i, (N, g) in enumerate(table.groupby("N")):
            ax_e.errorbar(g.eps, g.gap, yerr=g.gap_se, marker="o", ms=3, capsize=2,
                          color=f"C{i}", label=f"N = {N}")
        Ns = np.array(sorted(table.N.unique()), float)
        e = np.array(sorted(table.eps.unique()), float)
        g0 = table.gap.max()
        ax_n.plot(Ns, g0 * (Ns / Ns[0]) ** -0.5, "k--", lw=0.7, label=r"$N^{-1/2}$")
        ax_e.plot(e, table.gap.min() * (e / e[0]) ** 0.5, "k--", lw=0.7,
                  label=r"$\varepsilon^{1/2}$")
        for ax, xl in ((ax_n, "width N"), (ax_e, "step ε")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xl)
            ax.legend(loc="best", fontsize=6)
        ax_n.set_ylabel(r"$|R_N - R(\rho_t)|$ (mean over t, seeds)")
        return savefig(fig, figures_dir(run_dir) / "convergence.png")
