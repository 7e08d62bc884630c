"""C6's per-seed table, summarised over seeds, and the summary's tuning and paired sections."""

from __future__ import annotations

from pathlib import Path

from mflab.compare.stats import lower_median
from mflab.studies.markdown import markdown_table
from mflab.studies.mb.methods import OPTIMIZERS
from mflab.studies.mb.paired import ALPHA, claim_verdict


def summarize_seeds(per_seed):
    """Median and range over seeds of every per-seed number, one row per optimiser (in
    table order): columns ``X`` (median), ``X min``, ``X max``."""
    import pandas as pd

    num = [c for c in per_seed.columns if c not in ("seed", "id", "method")]
    rows = []
    for (i, label), g in per_seed.groupby(["id", "method"], sort=False):
        row = {"id": i, "method": label, "seeds": len(g)}
        for c in num:
            vals = g[c].astype(float)
            mid = lower_median(vals) if c == "median final V" else vals.median()
            row[c], row[f"{c} min"], row[f"{c} max"] = mid, vals.min(), vals.max()
        rows.append(row)
    if not rows:  # nothing finished (every method diverged or was skipped)
        return pd.DataFrame(columns=["id", "method", "seeds"])
    order = {s.id: k for k, s in enumerate(OPTIMIZERS)}
    return pd.DataFrame(rows).sort_values("id", key=lambda c: c.map(order)).reset_index(drop=True)


def tuning_lines(run_dir: Path, cfg: dict) -> list[str]:
    """The summary's tuning section: every tuned method's choice, its grid and flags."""
    from mflab.runs.io import read_table

    if not (run_dir / "tables" / "tuning.csv").exists() or not cfg.get("tuning_seeds"):
        return ["", "Not tuned: every method at the config's values (β = "
                f"{cfg['beta']:g}, B11 β = {cfg['gibbs_beta']:g}, B7 h = "
                f"{cfg.get('smoothing_h', 0.03):g})."]
    tu = read_table(run_dir, "tuning")
    rows = []
    for (i, name), g in tu.groupby(["id", "parameter"], sort=False):
        g = g.sort_values("value")
        pick = g[g["chosen"]].iloc[0]
        grid = ", ".join(f"{v:g}" + ("*" if c else "") for v, c in zip(g["value"], g["chosen"],
                                                                     strict=True))
        flag = pick["flags"] if isinstance(pick["flags"], str) and pick["flags"] else "bracketed"
        rows.append({"id": i, "parameter": name, "chosen": f"{pick['value']:g}",
                     "share outside A (median)": f"{pick['score']:.3f}",
                     "scored values (* chosen)": grid, "edge": flag})
    import pandas as pd

    return ["", "## Tuning", "",
            f"Each method's tuned parameter was chosen by the median share of the ensemble "
            f"outside basin A (inf on a seed where any agent diverged) over "
            f"{cfg['tuning_seeds']} tuning seeds (their own starts and "
            "noise, disjoint from the comparison seeds), on a log grid extended by a decade "
            f"(up to {cfg['max_extensions']} times per side) while the choice sat at an edge "
            "(`edge`: the side where it still sits; `bracketed`: an interior choice). "
            "GD-like methods keep SPEC's η; B8/B10's γ, Δ and inner chain and B9's ε are "
            "their documented defaults. Table `tables/tuning.csv`.", "",
            markdown_table(pd.DataFrame(rows), {})]


def paired_lines(run_dir: Path, n_seeds: int) -> list[str]:
    """The summary's paired tests: share in A against GD and SGLD, and B10 against all."""
    from mflab.runs.io import read_table

    if not (run_dir / "tables" / "paired.csv").exists():
        return []
    pt = read_table(run_dir, "paired")
    if not len(pt):
        return []
    fmt = pt.assign(**{"median diff A": pt["median diff A"].map(lambda f: f"{f:+.3f}"),
                       "p": pt["p"].map(lambda f: f"{f:.3g}")})
    return ["", "## Paired tests", "",
            "Share in basin A, method against the other seed by seed (the methods share "
            "each seed's starts): median difference over the seeds and the two-sided "
            f"Wilcoxon signed-rank p (with {n_seeds} seeds the smallest possible p is "
            f"{2.0 / 2 ** n_seeds:.3g}). Table `tables/paired.csv`.", "",
            markdown_table(fmt, {}), "",
            f"The report's claim (B10 substantially outperforms all others), at level "
            f"{ALPHA:g} per test: {claim_verdict(pt, n_seeds)}."]
