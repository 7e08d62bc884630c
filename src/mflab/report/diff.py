"""``mflab compare RUN_A RUN_B``: two finished runs of one study side by side.

Writes ``OUT/compare.md`` — the config fields that differ, then each headline number of
the study (:meth:`~mflab.studies.base.Study.headline`) for A and B — and
``OUT/overlay.png``: every recorded metric against time (or step), median over seeds, per
series (optimizer and the study's own keys, e.g. κ or N), A solid and B dashed in the
same colour. Both runs are checked before ``OUT`` is created; a bad input is a one-line
:class:`~mflab.errors.RunError` and nothing is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mflab.errors import RunError
from mflab.report.build import finished_run

#: Columns of ``metrics.parquet`` that are not a series key.
_NOT_KEYS = {"study", "seed", "step", "metric", "value", "time", "grad_evals", "sweep_seed"}
#: At most this many metric panels and series per panel in the overlay.
MAX_PANELS, MAX_SERIES = 6, 10


def check_pair(a: Path | str, b: Path | str) -> tuple[dict, dict]:
    """Both runs finished and of the same study; returns their configs."""
    (ca, _), (cb, _) = finished_run(a, "RUN_A"), finished_run(b, "RUN_B")
    if ca["study"] != cb["study"]:
        raise RunError(f"RUN_A is a run of {ca['study']}, RUN_B of {cb['study']}; compare two "
                       "runs of one study.")
    return ca, cb


def config_difference(ca: dict, cb: dict) -> list[tuple[str, str, str]]:
    """(field, value in A, value in B) for every field that differs (seed and preset
    included), in the order of A's config."""
    rows = [(k, json.dumps(ca[k]), json.dumps(cb[k])) for k in ("preset", "seed")
            if ca[k] != cb[k]]
    fa, fb = ca["config"], cb["config"]
    for k in dict.fromkeys([*fa, *fb]):
        if fa.get(k) != fb.get(k):
            rows.append((k, json.dumps(fa.get(k)), json.dumps(fb.get(k))))
    return rows


def compare_runs(a: Path | str, b: Path | str, out: Path | str) -> Path:
    """Write ``out/compare.md`` and ``out/overlay.png`` for runs ``a`` and ``b``; returns
    the Markdown's path. Everything is checked before ``out`` is created."""
    from mflab.runs.preflight import check_new_dir
    from mflab.studies import registry

    a, b = Path(a), Path(b)
    ca, cb = check_pair(a, b)
    out = check_new_dir(out)
    if out.exists():
        raise RunError(f"{out} exists; give a new --out (a comparison is never overwritten).")
    study = registry.get(ca["study"])
    ha, hb = _headline(study, a), _headline(study, b)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.mkdir(parents=True)
    lines = [f"# {ca['study']}: A = `{a}` vs B = `{b}`", "", "## Config difference", ""]
    diff = config_difference(ca, cb)
    if diff:
        lines += ["| field | A | B |", "|---|---|---|"]
        lines += [f"| {k} | `{va}` | `{vb}` |" for k, va, vb in diff]
    else:
        lines.append("The two configs are identical.")
    lines += ["", "## Headline", ""]
    keys = list(dict.fromkeys([*ha, *hb]))
    if keys:
        lines += ["| quantity | A | B |", "|---|---|---|"]
        for k in keys:
            lines.append(f"| {k} | {_cell(ha.get(k))} | {_cell(hb.get(k))} |")
    else:
        lines.append(f"{ca['study']} defines no headline numbers.")
    drawn = _overlay(a, b, tmp / "overlay.png", ca["study"])
    lines += ["", "## Overlay", "",
              "![overlay](overlay.png)" if drawn else "No metric with two records or more."]
    if drawn:
        lines += ["", "Every recorded metric against time (step where the study records no "
                  "time), median over seeds: A solid, B dashed, one colour per series."]
    (tmp / "compare.md").write_text("\n".join(lines) + "\n")
    os.rename(tmp, out)
    return out / "compare.md"


def _headline(study, run_dir: Path) -> dict:
    try:
        return {h.quantity: h for h in study.headline(run_dir)}
    except Exception as e:  # noqa: BLE001 - say why in one line, compare the rest
        raise RunError(f"the headline of {run_dir} cannot be read ({type(e).__name__}: "
                       f"{' '.join(str(e).split())}).") from None


def _cell(h) -> str:
    if h is None:
        return "—"
    return h.value + (f" ({h.spread})" if h.spread else "")


def _overlay(a: Path, b: Path, path: Path, study: str) -> bool:
    """The overlay figure; False (nothing drawn) when no metric has two records."""
    from mflab.plotting.style import panel_grid, paper_style, savefig
    from mflab.runs.io import read_metrics

    ma, mb = read_metrics(a), read_metrics(b)
    xcol = "time" if "time" in ma.columns and "time" in mb.columns else "step"
    metrics = [m for m in dict.fromkeys([*ma.metric.unique(), *mb.metric.unique()])
               if ma[ma.metric == m][xcol].nunique() > 1 or mb[mb.metric == m][xcol].nunique() > 1]
    metrics = metrics[:MAX_PANELS]
    if not metrics:
        return False
    with paper_style():
        fig, axes = panel_grid(len(metrics), ncols=min(3, len(metrics)), size=(3.0, 2.5))
        for ax, metric in zip(axes, metrics, strict=True):
            colors: dict = {}
            for frame, ls, tag in ((ma, "-", "A"), (mb, "--", "B")):
                sub = frame[frame.metric == metric]
                keys = [c for c in sub.columns if c not in _NOT_KEYS
                        and sub[c].notna().any()]
                groups = sub.groupby(keys, sort=True, dropna=False) if keys else [((), sub)]
                for n, (key, g) in enumerate(groups):
                    if n >= MAX_SERIES:
                        break
                    key = key if isinstance(key, tuple) else (key,)
                    name = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True)) or "run"
                    med = g.groupby(xcol).value.median()
                    color = colors.setdefault(name, f"C{len(colors) % 10}")
                    ax.plot(med.index, med.values, ls=ls, color=color, lw=0.9,
                            label=f"{tag}: {name}")
            x = np.concatenate([ma[ma.metric == metric][xcol], mb[mb.metric == metric][xcol]])
            if np.all(x > 0):
                ax.set_xscale("log")
            v = np.concatenate([ma[ma.metric == metric].value, mb[mb.metric == metric].value])
            v = v[np.isfinite(v)]
            if len(v) and np.all(v > 0) and v.max() / v.min() > 30:
                ax.set_yscale("log")
            ax.set_xlabel(xcol)
            ax.set_ylabel(metric)
            ax.set_title(metric)
            ax.legend(loc="best")
        fig.suptitle(f"{study}: A solid, B dashed (median over seeds)")
        savefig(fig, path)
    return True
