"""Where independent runs are executed: the seam for distributed sweeps.

``mflab reproduce`` (and any future sweep) submits independent jobs through an object
with ``map(fn, items) -> list``. :class:`SerialExecutor` runs them in this process, one
after the other. A distributed executor (e.g. a ``dask.distributed.Client`` wrapper
selected by a future ``--dask SCHEDULER_ADDRESS`` option) only has to provide the same
``map``; every job writes its own atomic run directory, so jobs share no state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol


class Executor(Protocol):
    """Anything that maps a function over independent jobs and returns the results in order."""

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]: ...


class SerialExecutor:
    """Run jobs one after the other in this process."""

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return [fn(item) for item in items]
