"""How an observable is evaluated over an ensemble (used by the driver and the landscapes).

An observable is a function of one agent's parameters; :func:`mflab.run` evaluates it for
every agent with ``vmap``, or agent by agent when it is wrapped in :class:`sequential`.
This module sits below the driver, so a landscape can mark its value without importing the
driver.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

__all__ = ["sequential"]


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
