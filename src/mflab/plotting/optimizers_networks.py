"""Figures of study C5, drawn from a run directory's files alone.

* ``risk_P.png`` — one per problem: rows = x-axis (samples drawn by the whole ensemble,
  steps, wall time of the run), columns = batch size m; the score (exact risk, or its
  Monte Carlo estimate at every record where the run screened records with one, or test
  risk for A4) on a log axis, median over seeds (one unit per seed) with the
  interquartile band, one colour per method (the same in every figure); the batch-R·m SGD
  controls dashed, the exact-gradient runs dotted; the target as a grey dotted line.
* ``overview.png`` — every problem (rows) and m (columns) against samples.
* ``tuning_P.png`` — the tuning score against ε (ε_eff for B2/B4; the best over the other
  tuned values at each ε), the choice circled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mflab.plotting.style import figure_legend, paper_style, savefig

AXES = (("samples", "samples drawn by the ensemble"), ("steps", "steps"),
        ("wall", "wall time of the run (s)"))


def _entries(res, p, m) -> list[str]:
    return list(dict.fromkeys(res[(res.problem == p) & (res.m == m)].entry))


def _draw(ax, run_dir, res, p, m, score: str, xkey: str, target: float | None) -> None:
    from mflab.compare.stats import band, unit_scores
    from mflab.plotting.style import METHOD_COLORS as COLORS
    from mflab.studies.optnets.methods import base_method, label
    from mflab.studies.optnets.tables import read_curves

    entries = _entries(res, p, m)
    for variant, ls in (("stochastic", None), ("exact", ":")):
        for e, c in read_curves(run_dir, p, m, entries, variant).items():
            y = c.get(f"{score}_estimate", c[score])  # screened records: the estimate
            v = unit_scores(np.where(np.isfinite(y), y, np.nan))
            x = np.median(np.asarray(c[xkey], np.float64), axis=0)
            keep = x > 0
            med, lo, hi = (np.nanquantile(v, q, axis=0) for q in (0.5, 0.25, 0.75)) \
                if np.isnan(v).any() else band(v)
            control = "@m=" in e
            style = ls or ("--" if control else "-")
            name = label(e) + (" — exact gradient" if variant == "exact" else "")
            ax.plot(x[keep], med[keep], color=COLORS[base_method(e)], ls=style,
                    lw=0.9 if variant == "exact" else 1.3, label=name)
            if variant == "stochastic" and not control:
                ax.fill_between(x[keep], lo[keep], hi[keep], color=COLORS[base_method(e)],
                                alpha=0.15, lw=0)
    if target is not None:
        ax.axhline(target, color="0.5", ls=":", lw=0.8, label="target")
    _log_axes(ax)


def _log_axes(ax) -> None:
    """Log-log axes; an axis spanning at most two decades also labels 2 and 5 × each
    decade (a wider one only the decades, whose labels would otherwise overlap)."""
    from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        sci = LogFormatterSciNotation(labelOnlyBase=False)

        def minor(v, pos, axis=axis, sci=sci):
            lo, hi = sorted(axis.get_view_interval())
            if not (lo > 0 and hi / lo <= 10 ** 2.05):
                return ""
            mant = v / 10 ** np.floor(np.log10(v) + 1e-9)
            return sci(v, pos) if np.isclose(mant, 2) or np.isclose(mant, 5) else ""

        axis.set_minor_formatter(FuncFormatter(minor))


def plot_all(run_dir: Path) -> list[Path]:
    """Draw every C5 figure into ``run_dir/figures``; returns the paths."""
    from mflab.runs.io import figures_dir, read_config, read_table
    from mflab.studies.optnets.problems import PROBLEMS, score_name, target_for

    cfg = read_config(run_dir)
    out = figures_dir(run_dir)
    tuning = read_table(run_dir, "tuning")
    res = read_table(run_dir, "results")
    paths = []
    ms = cfg["batch_sizes"]

    def target(p):
        return None if PROBLEMS[p].family == "a4" else target_for(cfg, p).value

    def ylabel(p):
        if PROBLEMS[p].family == "a4":
            return "test risk"
        if PROBLEMS[p].family == "s3":
            return "L / (½E f²) (exact)"
        return "risk (exact)" if not cfg.get("estimate_samples") else "risk (MC estimate)"

    with paper_style():
        for p in cfg["problems"]:
            fig, axes = _grid(len(AXES), len(ms))
            for j, m in enumerate(ms):
                for i, (xkey, xlabel) in enumerate(AXES):
                    ax = axes[i][j]
                    _draw(ax, run_dir, res, p, m, score_name(p), xkey, target(p))
                    ax.set_xlabel(xlabel)
                    ax.set_ylabel(ylabel(p))
                    ax.set_title(f"m = {m}")
            _legend(fig, axes)
            fig.suptitle(f"{PROBLEMS[p].label}: median over seeds, band 25–75 %")
            paths.append(savefig(fig, out / f"risk_{p}.png"))
            paths.append(_tuning_figure(out / f"tuning_{p}.png", tuning[tuning.problem == p],
                                        ms, PROBLEMS[p].label))
        fig, axes = _grid(len(cfg["problems"]), len(ms))
        for i, p in enumerate(cfg["problems"]):
            for j, m in enumerate(ms):
                ax = axes[i][j]
                _draw(ax, run_dir, res, p, m, score_name(p), "samples", target(p))
                ax.set_title(f"{p}, m = {m}")
                ax.set_ylabel(ylabel(p))
                ax.set_xlabel("samples drawn by the ensemble")
        _legend(fig, axes)
        spin = all(PROBLEMS[p].family == "s3" for p in cfg["problems"])
        fig.suptitle(f"{'C7' if spin else 'C5'} at equal budget per ensemble: median over "
                     "seeds, band 25–75 %")
        paths.append(savefig(fig, out / "overview.png"))
    return paths


def _grid(rows: int, cols: int):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.5 * rows), squeeze=False,
                             constrained_layout=True)
    return fig, axes


def _legend(fig, axes) -> None:
    """The figure legend of a grid of panels; the 25–75 % bands named where drawn."""
    flat = [ax for row in axes for ax in row]
    figure_legend(fig, flat, band="band: 25–75 % over seeds"
                  if any(ax.collections for ax in flat) else None)


def _tuning_figure(path: Path, t, ms, title: str) -> Path:
    from mflab.plotting.style import METHOD_COLORS as COLORS
    from mflab.studies.optnets.methods import base_method, label

    fig, axes = _grid(1, len(ms))
    for j, m in enumerate(ms):
        ax = axes[0][j]
        sub = t[t.m == m] if len(t) else t
        for entry in (dict.fromkeys(sub.entry) if len(sub) else ()):
            s = sub[sub.entry == entry]
            pts = [json.loads(x) for x in s.point]
            xname = "eps_eff" if "eps_eff" in pts[0] else "eps"
            if xname not in pts[0]:  # B4lb: not tuned, its fixed point in the summary
                continue
            x = np.array([q[xname] for q in pts])
            score = np.where(np.isfinite(s.score.values), s.score.values, np.nan)
            xs = np.unique(x)
            best = [np.nanmin(score[x == v]) if np.isfinite(score[x == v]).any() else np.nan
                    for v in xs]
            color = COLORS[base_method(entry)]
            ax.plot(xs, best, marker="o", ms=3, color=color, label=label(entry),
                    ls="--" if "@m=" in entry else "-")
            ch = s[s.chosen]
            if len(ch):
                ax.plot([json.loads(ch.point.iloc[0])[xname]], ch.score.values[:1], "o", ms=8,
                        mfc="none", color=color)
        _log_axes(ax)
        ax.set_xlabel("ε (ε_eff for B2, B4; S3: ε = dt, η = n·dt)")
        ax.set_ylabel("tuning score (median over seeds)")
        ax.set_title(f"m = {m}")
    _legend(fig, axes)
    fig.suptitle(f"{title}: tuning (circled: chosen; gaps: diverged)")
    return savefig(fig, path)
