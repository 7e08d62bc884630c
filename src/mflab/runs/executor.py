"""Where independent runs are executed: in this process, or on a Dask cluster.

``mflab reproduce`` and ``mflab sweep`` submit independent jobs through an object with
``map(fn, items) -> list``. :class:`SerialExecutor` runs them here, one after the
other; :class:`DaskExecutor` sends them to the workers of a ``dask.distributed``
scheduler — a local cluster of worker processes on this machine (``local`` or
``local:N``, bound to 127.0.0.1), or any running scheduler (``tcp://host:8786``), so
a sweep scales past one machine. Every job writes its own atomic run directory, so jobs
share no state; with several machines the output folder must be on a shared filesystem.
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

    def close(self) -> None:
        pass


class DaskExecutor:
    """Run jobs on a Dask distributed cluster (one job per task, results in order).

    Args:
      address: ``"local"`` / ``"local:N"`` starts a ``LocalCluster`` of N single-threaded
        worker processes (default: one per core) listening on 127.0.0.1 only; anything
        else is a scheduler address passed to ``dask.distributed.Client``.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, address: str = "local"):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as e:  # pragma: no cover - dask is a declared extra
            raise RuntimeError(
                "Dask is not installed: pip install 'mflab[dask]' to run on a cluster."
            ) from e
        self._cluster = None
        if address == "local" or address.startswith("local:"):
            import os

            n = int(address.split(":", 1)[1]) if ":" in address else (os.cpu_count() or 1)
            if n < 1:
                raise ValueError(f"local:N needs N >= 1; got {address!r}.")
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            self.client = Client(address)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        futures = self.client.map(fn, list(items), pure=False)
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_executor(address: str | None) -> SerialExecutor | DaskExecutor:
    """``None`` → :class:`SerialExecutor`; otherwise a :class:`DaskExecutor` on ``address``."""
    return SerialExecutor() if address is None else DaskExecutor(address)
