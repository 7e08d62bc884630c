"""Tuning that brackets (SPEC C5, revised): grid search whose choice is never at an edge
without saying so.

A method's tuned hyper-parameters each have a log-spaced :class:`~mflab.compare.spec.Grid`.
The first round scores the full product of the grids; the score of a point is the
median over the tuning seeds of the ensemble's final validation score (+inf when the run
diverged). While the best point sits at the lowest or highest value of a grid that may
still grow (``max_extensions`` per side, within the grid's limits), that grid is extended
by a decade beyond the edge and the new values are scored along the line through the best
point (the other hyper-parameters held at their best values). An interior best point whose
neighbour on an axis (the next grid value below or above, the other values held) has not
been scored — the best moved to a point off the first product, or onto a line scored for
another point — gets that neighbour scored. The search ends when the best point's
neighbours on every axis are scored and none is better (it is bracketed) or no extension
is left; an axis whose best value is still at an edge is *flagged*.

:class:`Tuner` holds this state for one (problem, batch, method); the harness asks it for
points (:meth:`Tuner.pending`), feeds back their scores and asks again, so that the rounds
of every method run through one executor together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from mflab.compare.spec import Grid


def _key(v: float) -> float:
    """A grid value as a stable key (12 significant digits)."""
    return float(f"{v:.12g}")


class Tuner:
    """The bracketing search of one method (see the module docstring)."""

    def __init__(self, grids: Mapping[str, Grid], max_extensions: int):
        self.grids = dict(grids)
        self.names = tuple(sorted(self.grids))
        self.max_extensions = max_extensions
        self.extensions = {(n, s): 0 for n in self.names for s in ("low", "high")}
        self.scores: dict[tuple, float] = {}
        self.seed_scores: dict[tuple, list[float]] = {}
        self.rounds: dict[tuple, int] = {}
        self.round = 0
        self._queue = [self._point(vals) for vals in _product(
            [self.grids[n].values for n in self.names])]
        if not self.names:  # nothing tuned: the one point is chosen without runs
            self.scores[()] = 0.0
            self.seed_scores[()] = []
            self.rounds[()] = 0

    def _point(self, values) -> tuple[tuple[str, float], ...]:
        return tuple((n, _key(v)) for n, v in zip(self.names, values, strict=True))

    def pending(self) -> list[tuple[tuple[str, float], ...]]:
        """Points to score now (empty when the search is over)."""
        return [p for p in self._queue if p not in self.scores]

    def record(self, point, seed_scores: list[float]) -> None:
        """The ensemble scores of ``point`` on the tuning seeds; its score is their median
        (+inf when more than half diverged)."""
        s = np.asarray(seed_scores, np.float64)
        s = np.where(np.isnan(s), np.inf, s)
        self.seed_scores[point] = [float(v) for v in s]
        self.scores[point] = float(np.median(s))
        self.rounds[point] = self.round

    def best(self):
        """The point with the lowest finite score (the first scored on ties), or ``None``."""
        finite = [(s, i, p) for i, (p, s) in enumerate(self.scores.items()) if math.isfinite(s)]
        return min(finite)[2] if finite else None

    def advance(self) -> bool:
        """After every pending point is scored: queue the extensions the best point needs.
        Returns whether there is more to score."""
        if self.pending():
            return True
        best = self.best()
        if best is None:
            self._queue = []
            return False
        new = []
        b = dict(best)
        for n in self.names:
            side = self._edge(n, b[n])
            if side is None or self.extensions[(n, side)] >= self.max_extensions:
                more = ()
            else:
                more = self.grids[n].beyond(side)
            if more:
                self.extensions[(n, side)] += 1
                self.grids[n] = self.grids[n].extended(side)
            vals = self.grids[n].values
            i = vals.index(_key(b[n]))
            near = [vals[j] for j in (i - 1, i + 1) if 0 <= j < len(vals)]
            # keyed before deduplication: an extension's raw value (0.1·√10) and the same
            # value read back from the extended grid (12 digits) are one point
            for v in dict.fromkeys(_key(x) for x in [*more, *near]):
                p = self._point([v if k == n else b[k] for k in self.names])
                if p not in self.scores and p not in new:
                    new.append(p)
        self.round += 1
        self._queue = new
        return bool(self.pending())

    def _edge(self, name: str, value: float) -> str | None:
        vals = self.grids[name].values
        if len(vals) < 2:
            return None
        if _key(value) == _key(vals[0]):
            return "low"
        if _key(value) == _key(vals[-1]):
            return "high"
        return None

    def flags(self) -> list[str]:
        """The hyper-parameters whose chosen value is still at an edge of its grid, with the
        side (``"eps@high"``); empty when the choice is bracketed on every axis."""
        best = self.best()
        if best is None:
            return ["all points diverged"]
        out = []
        for n, v in best:
            side = self._edge(n, v)
            if side is not None:
                out.append(f"{n}@{side}")
        return out

    def table(self) -> list[dict]:
        """One row per scored point: its values, seed scores, median, round, chosen."""
        if not self.names:
            return []
        best = self.best()
        return [{"point": dict(p), "seed_scores": self.seed_scores[p], "score": s,
                 "round": self.rounds[p], "chosen": p == best}
                for p, s in self.scores.items()]


def _product(axes):
    if not axes:
        return [()]
    out = [()]
    for ax in axes:
        out = [o + (v,) for o in out for v in ax]
    return out
