"""Paired controls of study C6 across two runs (docs/results/mueller-brown.md).

One command:  python docs/scripts/mueller_brown_controls.py RUN CONTROL_RUN

Both runs must have the same ``--seed`` (so seed s draws the same 1000 starts in both, and a
method id the same noise stream). For every method id present in both, prints the share in
basin A per seed in each run, the median paired difference (control − run) and the
two-sided Wilcoxon signed-rank p (``mflab.compare.paired_test``), with the config values
that differ between the runs. Also prints, per run, B6 − B5 (B5 is B6 without its
interaction, at the same β and starts; its noise stream is its own). ``--pair C:R`` also
tests the control's method C against the run's method R (e.g. ``--pair B10:B8``: B10 at
λ = 0 against B8, the same algorithm on its own noise stream).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mflab.compare import paired_test
from mflab.runs.io import read_config, read_table


def shares(run: Path):
    t = read_table(run, "basins_per_seed")
    return t.pivot(index="seed", columns="id", values="basin A")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("control", type=Path)
    ap.add_argument("--pair", action="append", default=[], metavar="C:R",
                    help="also test the control's method C against the run's method R")
    args = ap.parse_args()
    pairs = [p.split(":") for p in args.pair]
    if any(len(p) != 2 for p in pairs):
        ap.error(f"--pair takes C:R (a control method and a run method), got {args.pair}")
    seeds = [json.loads((r / "config.json").read_text())["seed"] for r in (args.run,
                                                                          args.control)]
    if seeds[0] != seeds[1]:
        raise SystemExit(f"the runs have different seeds {seeds}: their starts are not paired")
    ca, cb = read_config(args.run), read_config(args.control)
    diff = {k: (ca.get(k), cb.get(k)) for k in sorted(set(ca) | set(cb))
            if ca.get(k) != cb.get(k) and k not in ("optimizers",)}
    print(f"config differences (run, control): {diff}")
    a, b = shares(args.run), shares(args.control)
    for i in [c for c in b.columns if c in a.columns]:
        x, y = a[i].to_numpy(), b[i].to_numpy()
        t = paired_test(y, x)
        print(f"{i}: run {np.median(x):.3f} [{x.min():.3f}, {x.max():.3f}], control "
              f"{np.median(y):.3f} [{y.min():.3f}, {y.max():.3f}]; control − run median "
              f"{t['median_diff']:+.4f}, p = {t['p']:.3g} ({t['pairs']} seeds)")
    for c, r in pairs:
        if c not in b.columns or r not in a.columns:
            raise SystemExit(f"--pair {c}:{r}: the control has {list(b.columns)}, the run "
                             f"{list(a.columns)}")
        t = paired_test(b[c].to_numpy(), a[r].to_numpy())
        print(f"control {c} − run {r}: median {t['median_diff']:+.4f}, p = {t['p']:.3g} "
              f"({t['pairs']} seeds)")
    for name, s in (("run", a), ("control", b)):
        if {"B5", "B6"} <= set(s.columns):
            t = paired_test(s["B6"].to_numpy(), s["B5"].to_numpy())
            print(f"{name}: B6 − B5 median {t['median_diff']:+.4f}, p = {t['p']:.3g}")


if __name__ == "__main__":
    main()
