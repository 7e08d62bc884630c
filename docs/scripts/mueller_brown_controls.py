"""Paired controls of study C6 across two runs (docs/results/mueller-brown.md).

One command:  python docs/scripts/mueller_brown_controls.py RUN CONTROL_RUN

Both runs must have the same ``--seed`` (so seed s draws the same 1000 starts in both, and a
method id the same noise stream). For every method id present in both, prints the share in
basin A per seed in each run, the median paired difference (control − run) and the
two-sided Wilcoxon signed-rank p (``mflab.compare.paired_test``), with the config values
that differ between the runs. Also prints, per run, B6 − B5 (B5 is B6 without its
interaction, at the same β and starts; its noise stream is its own).
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
    args = ap.parse_args()
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
    for name, s in (("run", a), ("control", b)):
        if {"B5", "B6"} <= set(s.columns):
            t = paired_test(s["B6"].to_numpy(), s["B5"].to_numpy())
            print(f"{name}: B6 − B5 median {t['median_diff']:+.4f}, p = {t['p']:.3g}")


if __name__ == "__main__":
    main()
