"""Fair comparisons of optimisers: one harness for every study and for a user's own.

``compare(problems, methods, batch_sizes, Protocol(budget=...))`` tunes every method
(bracketing every grid, on ≥ 3 seeds, on a validation split), runs the chosen points on
≥ 10 paired seeds at equal budget per ensemble, adds batch-R·m SGD as the control of every
coupled method and the exact-gradient runs as mechanism controls, and reports statistics
over independent units with paired tests (SPEC C5, revised).

* :mod:`~mflab.compare.spec` — :class:`Grid`, :class:`Method`, :class:`Problem`,
  :class:`Target`, :class:`Protocol`;
* :mod:`~mflab.compare.tuning` — the bracketing search;
* :mod:`~mflab.compare.jobs` — one run (picklable, executor-ready);
* :mod:`~mflab.compare.stats` — records, units, samples to target, paired tests;
* :mod:`~mflab.compare.harness` — :func:`compare` and its :class:`Comparison`.
"""

from mflab.compare.harness import Comparison, Entry, compare, entries
from mflab.compare.spec import Grid, Method, Problem, Protocol, ProtocolError, Target
from mflab.compare.stats import crossing, paired_test, record_steps, unit_scores
from mflab.compare.tuning import Tuner

__all__ = ["Comparison", "Entry", "Grid", "Method", "Problem", "Protocol", "ProtocolError",
           "Target", "Tuner", "compare", "crossing", "entries", "paired_test", "record_steps",
           "unit_scores"]
