"""What a comparison is made of: tuned grids, methods, problems, targets and the protocol.

* A :class:`Grid` is one tuned hyper-parameter: log-spaced values and the limits within
  which the tuner may extend it (SPEC C5: a choice at an edge extends the grid by a decade).
* A :class:`Method` turns a point of its grids into an optimiser (a value of
  :mod:`mflab.optimizers`), and says how many coupled replicas one of its ensembles has and
  how many oracle calls a step costs.
* A :class:`Problem` gives the landscape at batch m (``None``: the exact gradient), the
  ensemble's start, and a scorer on a named data split; the tuner only ever hands it the
  validation split.
* :class:`Protocol` holds the numbers of SPEC C5's protocol (budgets per ensemble, tuning
  and comparison seeds, record density, target checks).

Reference: SPEC C5 (the protocol revised 2026-12-04).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mflab.errors import ProtocolError
from mflab.validation import check_int

#: The splits a scorer is handed: tuning scores on ``validation``, the comparison on ``test``.
SPLITS = ("validation", "test")


@dataclass(frozen=True)
class Grid:
    """One tuned hyper-parameter: positive, log-spaced ``values``, extendable within
    [``lo``, ``hi``] (the stated limit; ``None``: no limit on that side).

    :meth:`extended` adds, beyond an edge, the values that continue the grid's spacing
    for one decade (a grid of ratio √10 gains two, a grid of ratio 10 one). A one-point
    grid has no spacing and is fixed, never extended.
    """

    values: tuple[float, ...]  # stored sorted, to 12 significant digits
    lo: float | None = None
    hi: float | None = None

    def __post_init__(self):
        vals = tuple(sorted({float(f"{float(v):.12g}") for v in self.values}))
        if not vals or any(not (v > 0 and math.isfinite(v)) for v in vals):
            raise ProtocolError(f"a Grid needs positive finite values; got {self.values}.")
        object.__setattr__(self, "values", vals)
        if self.lo is not None and vals[0] < self.lo or self.hi is not None and vals[-1] > self.hi:
            raise ProtocolError(f"grid {vals} lies outside its limits [{self.lo}, {self.hi}].")

    @property
    def ratio(self) -> float | None:
        """The spacing (geometric mean ratio of neighbours); ``None`` for one point."""
        v = self.values
        return None if len(v) < 2 else (v[-1] / v[0]) ** (1.0 / (len(v) - 1))

    def beyond(self, side: str) -> tuple[float, ...]:
        """The new values one decade beyond the ``"low"`` or ``"high"`` edge, within the
        limit (empty when the limit is reached or the grid is fixed)."""
        r = self.ratio
        if r is None:
            return ()
        k = max(1, round(math.log(10.0) / math.log(r)))
        edge = self.values[0] if side == "low" else self.values[-1]
        new = [edge * r ** (-j if side == "low" else j) for j in range(1, k + 1)]
        if side == "low" and self.lo is not None:
            new = [v for v in new if v >= self.lo * (1 - 1e-12)]
        if side == "high" and self.hi is not None:
            new = [v for v in new if v <= self.hi * (1 + 1e-12)]
        return tuple(new)

    def extended(self, side: str) -> Grid:
        """This grid with :meth:`beyond` added."""
        return Grid(self.values + self.beyond(side), self.lo, self.hi)


@dataclass(frozen=True)
class Method:
    """One method of a comparison.

    Args:
      name: short id used in tables (``"B1"``, ``"my-adam"``).
      build: ``(point, problem, m) -> Optimizer``: the optimiser at a grid point (a dict
        hyper-parameter → value), for ``problem`` at batch ``m``. A module-level function
        (or a ``functools.partial`` of one) so that executors can ship it to workers.
      grids: hyper-parameter name → :class:`Grid` (what is tuned).
      replicas: agents of one ensemble (R). R > 1 means the agents interact (B6, B10):
        the ensemble is one statistical unit and draws the whole budget, and the harness
        adds batch-R·m SGD as a control.
      calls_per_step: oracle calls of one step of one agent (B8, B10: the inner steps L).
      label: a longer name for figures.
    """

    name: str
    build: Callable[[Mapping[str, float], Any, int | None], Any]
    grids: Mapping[str, Grid] = field(default_factory=dict)
    replicas: int = 1
    calls_per_step: int = 1
    label: str = ""

    def __post_init__(self):
        check_int("replicas", self.replicas)
        check_int("calls_per_step", self.calls_per_step)
        object.__setattr__(self, "grids", dict(self.grids))
        for k, g in self.grids.items():
            if not isinstance(g, Grid):
                raise ProtocolError(f"grid {k!r} of method {self.name} must be a Grid; "
                                    f"got {type(g).__name__}.")

    def __hash__(self):
        return hash((self.name, self.replicas, self.calls_per_step))

    @property
    def coupled(self) -> bool:
        """Whether one ensemble has interacting replicas (R > 1)."""
        return self.replicas > 1


@dataclass(frozen=True)
class Target:
    """A level a unit's score curve must reach: ``score ≤ value`` (``higher``: ``≥``).

    ``error`` is the uncertainty of ``value`` (e.g. the error estimate of the DD stationary
    risk it is a multiple of); the harness refuses a target whose error exceeds 10 % of it.
    """

    value: float
    error: float = 0.0
    higher: bool = False
    source: str = ""

    def met(self, scores) -> np.ndarray:
        """Where ``scores`` meet the target."""
        s = np.asarray(scores, np.float64)
        return s >= self.value if self.higher else s <= self.value


class Problem:
    """A problem of a comparison: a landscape per batch size, a start, a scorer.

    Subclass it as a frozen dataclass (hashable: workers cache what they build per
    problem) and define:

    * ``name``, ``score_name`` (the score tuned and compared; lower is better unless
      ``higher_is_better``) and ``target`` (a :class:`Target`, or ``None``);
    * :meth:`landscape` ``(m)``: the landscape at batch ``m`` (``None``: exact gradients,
      for the mechanism controls; return ``None`` when there is none);
    * :meth:`init` ``(key, agents)``: the ensemble's start, a pytree with a leading axis
      of ``agents`` (a coupled method's replicas start from the same point where the
      interaction needs a common reference, e.g. a network's units);
    * :meth:`score` ``(x, split)``: scores of one agent's parameters on ``split``, a
      dict including ``score_name``. ``split`` is ``"validation"`` while tuning and
      ``"test"`` in the comparison; a problem without data (an exact risk) ignores it;
    * optionally :meth:`call_offset`, ``target_name``, ``agents`` (the starts one
      ensemble runs, e.g. 1000 Müller–Brown starts) and ``record_align``;
    * optionally :meth:`estimate` ``(x, split)``: a cheap unbiased estimate of the target's
      score with its standard error. Then the comparison scores a record with
      :meth:`score` only where the estimate leaves the target crossing in doubt, and at
      the last record (:func:`mflab.compare.jobs.score_records`);
    * :meth:`split_rows` ``(split)``: the rows of the data set that make up the split
      (an index array), or ``None`` for a problem without finite data. The harness refuses
      a problem whose validation rows meet its test rows.
    """

    name: str
    score_name: str = "value"
    higher_is_better: bool = False
    target: Target | None = None
    #: the score the target is read on (default ``score_name``; A4: test accuracy)
    target_name: str | None = None
    #: agents of one ensemble of an uncoupled method (a coupled method: × its replicas)
    agents: int = 1
    #: record steps ≥ 20·record_align are multiples of it (a fast path's block)
    record_align: int = 1

    def landscape(self, m: int | None):
        raise NotImplementedError

    def init(self, key, agents: int):
        raise NotImplementedError

    def score(self, x, split: str) -> dict[str, float]:
        raise NotImplementedError

    def split_rows(self, split: str):
        return None

    def estimate(self, x, split: str) -> dict[str, tuple[float, float]] | None:
        """A cheap unbiased estimate of the target's score of one agent, with its standard
        error: ``{target_name: (value, se)}`` (default ``None``: every record is scored)."""
        return None

    def observables(self) -> dict:
        """Cheap in-run observables recorded beside the positions (default none)."""
        return {}

    def call_offset(self, seed: int, m: int | None) -> int:
        """Oracle calls to skip at the start of seed ``seed``'s stream (default 0): a
        finite data set's sampler walks its epochs by call index, so an offset gives each
        seed its own data order without a landscape per seed."""
        return 0


def check_problem(problem) -> None:
    """Refuse a problem whose tuning could touch its test set, or whose target is too
    uncertain (SPEC C5: a target's error ≤ 10 % of the target)."""
    for name in ("landscape", "init", "score", "name", "score_name"):
        if not hasattr(problem, name):
            raise ProtocolError(f"a Problem needs {name}; {type(problem).__name__} lacks it.")
    try:
        hash(problem)
    except TypeError:
        raise ProtocolError(f"problem {problem.name} must be hashable (a frozen dataclass).") \
            from None
    val = problem.split_rows("validation") if hasattr(problem, "split_rows") else None
    test = problem.split_rows("test") if hasattr(problem, "split_rows") else None
    if (val is None) != (test is None):
        raise ProtocolError(f"problem {problem.name} gives rows for one split only; give both "
                            "validation and test rows, or neither (population scores).")
    if val is not None:
        common = np.intersect1d(np.asarray(val), np.asarray(test))
        if common.size:
            raise ProtocolError(f"problem {problem.name}: its validation split shares "
                                f"{common.size} rows with its test split; tuning must never "
                                "see the test set (hold out part of the training set).")
    t = problem.target
    if t is not None and not t.error <= 0.1 * abs(t.value):
        raise ProtocolError(f"problem {problem.name}: target {t.value:g} has error {t.error:g}"
                            f" > 10 % of it ({t.source or 'no source'}); choose a target "
                            "known to 10 %.")


@dataclass(frozen=True)
class Protocol:
    """The numbers of a comparison (SPEC C5, revised).

    Args:
      budget: samples (or, for exact oracles, oracle calls) one ensemble draws, whatever
        its replicas: an int, or ``(problem, m) -> int``.
      tuning_seeds: seeds each grid point is scored on (≥ 3; the median is the score).
      seeds: comparison seeds (≥ 10 for a claim; fewer allowed for smoke runs with
        ``allow_few_seeds``), disjoint from the tuning seeds.
      record_ratio: successive records at most this ratio apart in samples (≤ 1.2, so
        that samples-to-target is resolved within 20 % before interpolation).
      first_record: the first record at this fraction of the run (then geometric).
      max_extensions: how many times one grid may be extended by a decade before a choice
        at its edge is flagged instead.
      reference: the method name the paired tests compare against (SGD) and whose
        batch-R·m form is every coupled method's control.
      exact_controls: also run each tuned method with exact gradients (same steps, same
        values) where the problem has an exact landscape (not the batch-R·m controls:
        without samples there is no sample count to control).
      exact_seeds: the exact-gradient runs on the first this many comparison seeds only
        (``None``: all). An exact run is random only through its start (and a method's
        own injected noise), and one exact gradient of a network costs O(N²) — at
        N = 800 ~40x a batch-100 gradient (``benchmarks/bench_exact_gradient.py``).
      ensemble: how an ensemble's replicas give the unit's score: ``"mean"`` of their
        scores.
      pairs: further paired tests, ``(a, b)``: method a against method b at the same batch
        (e.g. MaSS against Nesterov); a pair whose methods are not both compared is
        skipped.
    """

    budget: Any
    tuning_seeds: int = 3
    seeds: int = 10
    record_ratio: float = 1.15
    first_record: float = 1e-3
    max_extensions: int = 2
    reference: str = "B1"
    exact_controls: bool = True
    exact_seeds: int | None = None
    ensemble: str = "mean"
    allow_few_seeds: bool = False
    pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        for pair in self.pairs:
            if (not isinstance(pair, tuple) or len(pair) != 2 or pair[0] == pair[1]
                    or not all(isinstance(x, str) for x in pair)):
                raise ProtocolError(f"pairs must be (method, other method) name pairs; got "
                                    f"{pair!r}.")
        if self.tuning_seeds < 3 and not self.allow_few_seeds:
            raise ProtocolError(f"tuning_seeds must be >= 3 (median score); got "
                                f"{self.tuning_seeds}.")
        if self.seeds < 10 and not self.allow_few_seeds:
            raise ProtocolError(f"seeds must be >= 10 comparison seeds; got {self.seeds} "
                                "(allow_few_seeds=True for a smoke run).")
        if not 1.0 < self.record_ratio <= 1.2:
            raise ProtocolError(f"record_ratio must be in (1, 1.2]; got {self.record_ratio}.")
        if not 0.0 < self.first_record < 1.0:
            raise ProtocolError(f"first_record must be in (0, 1); got {self.first_record}.")
        if self.ensemble != "mean":
            raise ProtocolError(f"ensemble must be 'mean'; got {self.ensemble!r}.")
        check_int("max_extensions", self.max_extensions, minimum=0)
        if self.exact_seeds is not None:
            check_int("exact_seeds", self.exact_seeds, minimum=1)

    def budget_for(self, problem, m) -> int:
        """The budget of one ensemble of ``problem`` at batch ``m``."""
        b = self.budget(problem, m) if callable(self.budget) else self.budget
        return check_int("budget", b)
