"""Figures of study C5, drawn from a run directory's files alone.

* ``risk_P.png`` — one per problem: rows = x-axis (samples drawn per replica, steps, wall
  time of the run), columns = batch size m; the score (exact risk, or test risk for A4) on
  a log axis, median over units with the interquartile band, one colour per method (the
  same in every figure), the λ = 0 runs of B6/B10 dashed; the target as a dotted line.
* ``overview.png`` — every problem (rows) and m (columns) against samples.
* ``tuning_P.png`` — the tuning score against ε (ε_eff for B2/B4; best secondary value per
  ε), the choice circled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mflab.plotting.style import paper_style, savefig

AXES = (("samples", "samples drawn per replica"), ("steps", "steps"),
        ("wall", "wall time of the run (s)"))


def _curves(run_dir: Path, cfg: dict):
    from mflab.studies.optnets.tables import read_curves as read

    return {(p, m): read(run_dir, p, m, cfg["methods"]) for p in cfg["problems"]
            for m in cfg["batch_sizes"]}


def _draw(ax, curves: dict, score: str, xkey: str, target: float | None) -> None:
    from mflab.studies.optnets.methods import COLORS, base_method, label
    from mflab.studies.optnets.tables import band, units

    for key, c in curves.items():
        v = units(c[score])
        v = np.where(np.isfinite(v), v, np.nan)
        x = np.median(np.asarray(c[xkey], np.float64), axis=0)
        keep = x > 0
        med, lo, hi = (np.nanquantile(v, q, axis=0) for q in (0.5, 0.25, 0.75)) if np.isnan(
            v).any() else band(v)
        color = COLORS[base_method(key)]
        dashed = key != base_method(key)
        ax.plot(x[keep], med[keep], color=color, ls="--" if dashed else "-", label=label(key))
        if not dashed:
            ax.fill_between(x[keep], lo[keep], hi[keep], color=color, alpha=0.15, lw=0)
    if target is not None:
        ax.axhline(target, color="0.5", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")


def plot_all(run_dir: Path) -> list[Path]:
    """Draw every C5 figure into ``run_dir/figures``; returns the paths."""
    from mflab.runs.io import figures_dir, read_config, read_table
    from mflab.studies.optnets.problems import PROBLEMS, score_name

    cfg = read_config(run_dir)
    out = figures_dir(run_dir)
    curves = _curves(run_dir, cfg)
    tuning = read_table(run_dir, "tuning")
    res = read_table(run_dir, "results")
    targets = dict(zip(res.problem, res.target, strict=True))
    paths = []
    ms = cfg["batch_sizes"]
    with paper_style():
        for p in cfg["problems"]:
            a4 = PROBLEMS[p].family == "a4"
            target = None if a4 else targets.get(p)
            fig, axes = _grid(len(AXES), len(ms))
            for j, m in enumerate(ms):
                for i, (xkey, xlabel) in enumerate(AXES):
                    ax = axes[i][j]
                    _draw(ax, curves[(p, m)], score_name(p), xkey, target)
                    ax.set_xlabel(xlabel)
                    ax.set_ylabel(("test risk" if a4 else "risk") + f" (m = {m})")
            _legend(fig, axes)
            fig.suptitle(PROBLEMS[p].label)
            paths.append(savefig(fig, out / f"risk_{p}.png"))
            paths.append(_tuning_figure(out / f"tuning_{p}.png", tuning[tuning.problem == p],
                                        ms, PROBLEMS[p].label))
        fig, axes = _grid(len(cfg["problems"]), len(ms))
        for i, p in enumerate(cfg["problems"]):
            a4 = PROBLEMS[p].family == "a4"
            for j, m in enumerate(ms):
                ax = axes[i][j]
                _draw(ax, curves[(p, m)], score_name(p), "samples",
                      None if a4 else targets.get(p))
                ax.set_title(f"{p}, m = {m}")
                ax.set_ylabel("test risk" if a4 else "risk")
                ax.set_xlabel("samples drawn per replica")
        _legend(fig, axes)
        paths.append(savefig(fig, out / "overview.png"))
    return paths


def _grid(rows: int, cols: int):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False,
                             constrained_layout=True)
    return fig, axes


def _legend(fig, axes) -> None:
    seen = {}
    for row in axes:
        for ax in row:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen), loc="outside lower center",
               ncol=min(5, len(seen)))


def _tuning_figure(path: Path, t, ms, title: str) -> Path:
    from mflab.studies.optnets.methods import COLORS, label

    fig, axes = _grid(1, len(ms))
    for j, m in enumerate(ms):
        ax = axes[0][j]
        sub = t[t.m == m]
        for meth in dict.fromkeys(sub.method):
            s = sub[sub.method == meth]
            best = s.groupby("eps_grid").score.min()
            y = np.where(np.isfinite(best.values), best.values, np.nan)
            ax.plot(best.index.values, y, "o-", ms=3, color=COLORS[meth], label=label(meth))
            ch = s[s.chosen]
            ax.plot(ch.eps_grid, ch.score, "o", ms=8, mfc="none", color=COLORS[meth])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("ε (ε_eff for B2, B4)")
        ax.set_ylabel(f"tuning score (m = {m})")
    _legend(fig, axes)
    fig.suptitle(f"{title}: tuning (seed 0; missing points diverged)")
    return savefig(fig, path)
