"""C6's paired tests of the share in basin A, seed by seed, and the verdict on the report's
claim (§3.2.4) that MF-Hom-SGLD (B10) substantially outperforms all other methods."""

from __future__ import annotations

from mflab.studies.mb.methods import OPTIMIZERS

#: The paired tests' references: GD (is the method better than descent?) and SGLD (than
#: plain Langevin at its own tuned temperature?).
REFERENCES = ("B1", "B5")
#: Further paired tests of the report's claims (§3.2.4): "Nesterov seems to perform slightly
#: better than the MaSS algorithm".
CLAIM_PAIRS = (("B2", "B4"),)
#: Two-sided level at which a paired difference counts as significant (per test).
ALPHA = 0.05


def paired_table(per_seed, references=REFERENCES):
    """Paired tests of the share in basin A, seed by seed (the methods share each seed's
    starts): for every method against each reference present (:data:`REFERENCES`), for
    B10 against every other method (the report's claim) and the :data:`CLAIM_PAIRS`.
    Columns: ``id``, ``vs``, ``pairs``, ``median diff A`` (method − other, median over
    seeds), ``p`` (Wilcoxon signed-rank, two-sided; :func:`mflab.compare.paired_test`)."""
    import pandas as pd

    from mflab.compare import paired_test

    a = per_seed.pivot(index="seed", columns="id", values="basin A")
    order = [s.id for s in OPTIMIZERS if s.id in a.columns]
    pairs = [(i, r) for r in references if r in a.columns for i in order if i != r]
    if "B10" in a.columns:
        pairs += [("B10", o) for o in order if o != "B10" and ("B10", o) not in pairs]
    pairs += [(i, o) for i, o in CLAIM_PAIRS if {i, o} <= set(a.columns)
              and (i, o) not in pairs]
    rows = []
    for i, o in pairs:
        t = paired_test(a[i].to_numpy(), a[o].to_numpy())
        rows.append({"id": i, "vs": o, "pairs": t["pairs"], "median diff A": t["median_diff"],
                     "p": t["p"]})
    return pd.DataFrame(rows, columns=["id", "vs", "pairs", "median diff A", "p"])


def claim_verdict(paired, n_seeds: int) -> str:
    """The verdict on the report's claim that B10 outperforms every other method, from the
    paired tests of B10 against each (:func:`paired_table`) at level :data:`ALPHA`."""
    b10 = paired[paired["id"] == "B10"]
    if not len(b10):
        return "not tested: B10 not run"
    sig = b10["p"] < ALPHA
    above, below = b10[sig & (b10["median diff A"] > 0)], b10[sig & (b10["median diff A"] < 0)]
    if len(below):
        who = ", ".join(f"{r.vs} (p = {r.p:.3g})" for r in below.itertuples())
        return f"not borne out: {who} significantly above B10 over {n_seeds} paired seeds"
    if len(above) == len(b10):
        return f"borne out: B10 significantly above every other method over {n_seeds} seeds"
    return (f"not settled: B10 significantly above {len(above)} of {len(b10)} methods, "
            f"below none, over {n_seeds} paired seeds")
