"""The saved curves of study C5: names and reading them back from a run directory.

The unit of every statistic is one ensemble per seed (:mod:`mflab.compare`); the arrays of
one (problem, m, entry, variant) hold every comparison seed: ``seeds``, ``steps``,
``samples`` (the whole ensemble's), ``wall``, ``diverged`` and the scores ``(seeds,
records, agents)``.
"""

from __future__ import annotations

from pathlib import Path

VARIANTS = ("stochastic", "exact")


def curve_name(problem: str, m: int, entry: str, variant: str) -> str:
    """Name of the arrays of one (problem, m, entry, variant); a control entry
    ``B1@m=300`` is written ``B1-batch300``."""
    return f"curves_{problem}_m{m}_{entry.replace('@m=', '-batch')}_{variant}"


def read_curves(run_dir: Path, problem: str, m: int, entries, variant: str) -> dict[str, dict]:
    """The saved comparison arrays of (problem, m) for ``variant``, per entry."""
    from mflab.runs.io import read_arrays

    out = {}
    for e in entries:
        name = curve_name(problem, m, e, variant)
        if (Path(run_dir) / "arrays" / f"{name}.npz").exists():
            out[e] = read_arrays(run_dir, name)
    return out
