"""How an observable is evaluated over an ensemble (used by the driver and the landscapes).

An observable is a function of one agent's parameters; :func:`mflab.run` evaluates it for
every agent with ``vmap``, or agent by agent when it is wrapped in :class:`sequential`.
This module sits below the driver, so a landscape can mark its value without importing the
driver.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

__all__ = ["sequential", "step_info"]


class sequential:  # noqa: N801 - reads as a function wrapper
    """Mark an observable to be evaluated agent by agent (``lax.map``) instead of ``vmap``.

    Use it for observables that branch with ``lax.cond`` on data (``vmap`` would evaluate
    both branches), such as :func:`mflab.meanfield.exact_risk`.
    """

    def __init__(self, fn: Callable):
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __call__(self, x):
        return self.fn(x)


@dataclasses.dataclass(frozen=True)
class step_info:  # noqa: N801 - reads as a function
    """An observable read off the optimiser's per-step ``info`` instead of the parameters.

    ``step_info("restarted", "sum")`` records, at each record, the number of restarts of each
    agent since the previous record (B3's :class:`~mflab.optimizers.RestartInfo`);
    ``"last"`` the value at the last step before the record, ``"mean"`` the mean over those
    steps. ``field`` names a field of the info NamedTuple (or ``None`` for the whole info).
    A run with an info observable takes plain steps (a fast kernel has no per-step info).
    Per-agent fields have shape ``(A, ...)``; a scalar field is recorded for every agent.
    """

    field: str | None
    reduce: str = "last"

    REDUCTIONS = ("last", "sum", "mean")

    def __post_init__(self):
        if self.reduce not in self.REDUCTIONS:
            raise ValueError(f"reduce must be one of {', '.join(map(repr, self.REDUCTIONS))}; "
                             f"got {self.reduce!r}.")

    def read(self, info):
        """The field of one step's info (its ``field`` attribute), checked by name."""
        if self.field is None:
            return info
        if not hasattr(info, self.field):
            fields = getattr(info, "_fields", ())
            raise ValueError(f"this optimiser's step info ({type(info).__name__}) has no field "
                             f"{self.field!r}; its fields: {list(fields) or 'none'}.")
        return getattr(info, self.field)
