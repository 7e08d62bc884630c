"""Figures of the mean-field studies (C1–C3), drawn from a run directory's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mflab.plotting.style import figure_legend, panel_grid, paper_style, savefig
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
                    ax.fill_between(t[1:], v.min(0)[1:], v.max(0)[1:], color=col, alpha=0.2,
                                    label=f"SGD min–max over {v.shape[0]} seeds, {name}")
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
        fig, axes = panel_grid(len(idx), ncols=2, size=(3.0, 2.0))
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
            ax.set_ylabel("density")
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


def plot_convergence(run_dir: Path, table, slopes_gap, slopes_bias) -> Path:
    """Left: risk gap SGD–DD vs N, one colour per ε; filled markers with error bars = mean
    over seeds of |gap| (per run), open markers = |mean gap| (bias); dotted verticals at the
    crossover N = 1/ε; guides ∝ N^−1/2 and N^−1. Middle: the local slopes between
    consecutive N (at the geometric midpoints) with the theory's −1/2 and the bias rate −1.
    Right: mean |gap| vs ε, one colour per N, with a guide ∝ ε^1/2."""
    with paper_style():
        fig, (ax_n, ax_s, ax_e) = panel_grid(3, ncols=3, size=(2.33, 3.3))
        Ns = np.array(sorted(table.N.unique()), float)
        for i, (eps, g) in enumerate(table.groupby("eps")):
            col = f"C{i}"
            ax_n.errorbar(g.N, g.gap, yerr=g.gap_se, marker="o", ms=3, capsize=2, color=col,
                          label=f"ε = {eps:g}")
            ax_n.plot(g.N, g.bias, "--", marker="o", mfc="none", ms=3, color=col, lw=0.7)
            if Ns[0] <= 1 / eps <= Ns[-1]:
                ax_n.axvline(1 / eps, color=col, ls=":", lw=0.7)
            for sl, style in ((slopes_gap, "-o"), (slopes_bias, "--o")):
                r = sl[sl.eps == eps].sort_values("lo")
                ax_s.plot(np.sqrt(r.lo * r.hi), r.slope, style, ms=3, color=col,
                          mfc=col if style == "-o" else "none", lw=0.8)
        g0 = table.gap.max()
        ax_n.plot(Ns, g0 * (Ns / Ns[0]) ** -0.5, "k-", lw=0.5, label=r"$\propto N^{-1/2}$")
        ax_n.plot(Ns, g0 * (Ns / Ns[0]) ** -1.0, "k-.", lw=0.5, label=r"$\propto N^{-1}$")
        ax_n.plot([], [], "k--", marker="o", mfc="none", ms=3, lw=0.7,
                  label="open: |mean gap| (bias)")
        ax_n.plot([], [], "k:", lw=0.7, label="N = 1/ε (crossover)")
        for v, ls in ((-0.5, "-"), (-1.0, "-."), (0.0, ":")):
            ax_s.axhline(v, color="k", ls=ls, lw=0.5)
        ax_s.set_xscale("log")
        ax_s.set_xlabel("width N (midpoint of each pair)")
        ax_s.set_ylabel("local slope in log–log")
        for i, (N, g) in enumerate(table.groupby("N")):
            ax_e.errorbar(g.eps, g.gap, yerr=g.gap_se, marker="o", ms=3, capsize=2,
                          color=f"C{i}", label=f"N = {N}")
        e = np.array(sorted(table.eps.unique()), float)
        ax_e.plot(e, table.gap.min() * (e / e[0]) ** 0.5, "k-", lw=0.5,
                  label=r"$\propto \varepsilon^{1/2}$")
        for ax, xl in ((ax_n, "width N"), (ax_e, "step ε")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xl)
        ax_n.set_ylabel("risk gap (mean over t)")
        ax_n.set_title("gap against width N")
        ax_s.set_title("local slopes in N")
        ax_e.set_title("gap against step ε")
        ax_s.plot([], [], "k-o", ms=3, lw=0.8, label="mean |gap|")
        ax_s.plot([], [], "k--o", mfc="none", ms=3, lw=0.8, label="|mean gap| (bias)")
        ax_s.plot([], [], "k-", lw=0.5, label="−1/2 (Theorem 2.1)")
        ax_s.plot([], [], "k-.", lw=0.5, label="−1 (bias rate)")
        ax_s.plot([], [], "k:", lw=0.5, label="0 (the ε floor)")
        figure_legend(fig, (ax_n, ax_s, ax_e), ncol=4)
        fig.suptitle("SGD → DD (A1): risk gap |R_N − R(ρ_t)|; colours: ε (left, middle), "
                     "N (right)")
        for ax in (ax_n, ax_s):  # label the widths themselves (log ticks collide)
            ax.minorticks_off()
            ax.set_xticks(Ns, [f"{n:g}" for n in Ns], rotation=45)
        ax_n.set_ylabel(r"risk gap (mean over t)")
        ax_e.set_ylabel("mean |gap|")
        return savefig(fig, figures_dir(run_dir) / "convergence.png")


def plot_radial_minimum(run_dir: Path, mins: dict, dds: dict, cfg: dict) -> Path:
    """Three panels: ψ(r; ρ*) − λ at the global minimiser (per d, with its atoms marked;
    mass at r = ∞ is written in the legend); ψ(r; ρ_T) − λ_T at each DD end point (below 0:
    moving mass there lowers the risk); the DD risk vs t against min R."""
    with paper_style():
        fig, (ax_m, ax_d, ax_r) = panel_grid(3, ncols=3, size=(2.33, 3.0))
        for i, (tag, m) in enumerate(mins.items()):
            r, w = m["radii"], m["weights"]
            fin = np.isfinite(r)
            name = f"d = {cfg['d']}" if tag == "d" else r"$d \to \infty$"
            inf_mass = float(w[~fin].sum())
            shade = ("k", "0.55")[i % 2]  # the starts below take the colour cycle
            ax_m.plot(r[fin], m["psi"][fin] - m["lam"], color=shade,
                      label=f"{name}: R* = {float(m['risk']):.2g}"
                      + (f", mass {inf_mass:.2f} at ∞" if inf_mass > 0 else ""))
            on = fin & (w > 0)
            ax_m.plot(r[on], np.zeros(on.sum()), "v", color=shade, ms=4)
        ax_m.axhline(0, color="k", lw=0.5)
        ax_m.set_title("global minimiser ρ* (▼: its support)")
        ax_m.set_ylabel(r"$\psi(r;\rho) - \lambda$")
        best = float(mins["d"]["risk"])
        for i, (desc, a) in enumerate(dds.items()):
            g = a["grid"]
            fin = np.isfinite(g)
            ax_d.plot(g[fin], a["psi"][fin] - a["lam"], color=f"C{i}", label=desc)
            ax_r.plot(a["times"][1:], a["risk"][1:], color=f"C{i}", label=desc)
        ax_d.axhline(0, color="k", lw=0.5)
        ax_d.set_title(r"DD end points $\rho_T$")
        ax_d.set_ylabel(r"$\psi(r;\rho_T) - \lambda_T$")
        ax_r.axhline(best, color="k", ls="--", lw=0.7, label="global min R*")
        ax_r.set_xscale("log")
        ax_r.set_yscale("log")
        ax_r.set_xlabel("time t")
        ax_r.set_ylabel("DD risk")
        ax_r.set_title("DD risk against the global minimum")
        for ax in (ax_m, ax_d):
            ax.set_xlabel("radius r")
            ax.set_yscale("symlog", linthresh=1e-3)
        ax_d.set_yticks([-10, -0.1, -1e-3, 0, 1e-3, 0.1, 10],
                        ["−10", "−0.1", "−10⁻³", "0", "10⁻³", "0.1", "10"])
        figure_legend(fig, (ax_m, ax_r), ncol=2)
        ax_r.set_title("DD risk")
        fig.suptitle("Global minimum of the A2 risk over radial laws, and the DD end points")
        return savefig(fig, figures_dir(run_dir) / "radial_minimum.png")
