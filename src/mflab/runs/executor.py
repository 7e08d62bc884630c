"""Where independent runs are executed: in this process, in a local pool of processes, or
on a Dask cluster.

``mflab reproduce`` and ``mflab sweep`` submit independent jobs through an object with
``map(fn, items) -> list``. :class:`SerialExecutor` runs them here, one after the
other; :class:`PoolExecutor` in worker processes of this machine (the command line's
default: one per core, so both cores of a laptop work; processes, so each compiles its
own XLA code and no GIL is shared); :class:`DaskExecutor` sends them to the workers of a
``dask.distributed`` scheduler — a local cluster of worker processes on this machine (``local`` or
``local:N``, bound to 127.0.0.1), or any running scheduler (``tcp://host:8786``), so
a sweep scales past one machine. Every job writes its own atomic run directory, so jobs
share no state; with several machines the output folder must be on a shared filesystem.
A run that is itself a Dask task sends its own jobs (C5's tuning and comparison runs, the
solves of a DD error estimate) to the same cluster (:func:`nested_executor`), so
``reproduce --dask`` spreads them too; :meth:`DaskExecutor.busy` tells how busy each
worker was.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from mflab.errors import RunError

#: Seconds to wait for a scheduler before giving up (a wrong address fails fast).
CONNECT_TIMEOUT_S = 5
#: Most worker processes ``local:N`` starts.
MAX_LOCAL_WORKERS = 1024
_SCHEDULER = re.compile(r"(tcp|tls|ws|wss|ucx)://[^\s/:]+:\d{1,5}/?|[A-Za-z0-9.\-]+:\d{1,5}")


class Executor(Protocol):
    """Anything that maps a function over independent jobs and returns the results in order.

    A job the executor itself could not run (e.g. its Dask workers kept dying) comes back
    as the exception instead of a result. ``on_result(i, result)``, where given, is called
    in this process as each job ends (in the order they end), so that a caller can save
    each result at once instead of waiting for the slowest job of the map.
    """

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any],
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]: ...


def check_address(text: str) -> str:
    """A ``--dask`` value: ``local``, ``local:N`` (1 <= N <= 1024) or a scheduler address
    ``tcp://HOST:PORT`` (also ``tls://``, ``ws://``, ``wss://``, ``ucx://``, or
    ``HOST:PORT``). Raises ``ValueError`` with what is allowed."""
    if text == "local":
        return text
    if text.startswith("local:"):
        n = text.split(":", 1)[1]
        if not n.isdigit() or not 1 <= int(n) <= MAX_LOCAL_WORKERS:
            raise ValueError(f"local:N needs an integer 1 <= N <= {MAX_LOCAL_WORKERS}; "
                             f"got {text!r}")
        return text
    if not _SCHEDULER.fullmatch(text) or int(text.rsplit(":", 1)[1].strip("/")) > 65535:
        raise ValueError(f"must be local, local:N or a scheduler address like "
                         f"tcp://HOST:8786; got {text!r}")
    return text


class SerialExecutor:
    """Run jobs one after the other in this process."""

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any],
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        out = []
        for i, item in enumerate(items):
            out.append(fn(item))
            if on_result is not None:
                on_result(i, out[-1])
        return out

    def close(self) -> None:
        pass


class PoolExecutor:
    """Run jobs in ``n`` worker processes of this machine (``spawn``ed: a fresh interpreter
    each, as JAX requires), results in order; a job whose worker died comes back as the
    exception. ``on_result(i, result)`` is called as each job finishes (in completion
    order)."""

    def __init__(self, n: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if not isinstance(n, int) or n < 1:
            raise RunError(f"a process pool needs n >= 1 workers; got {n!r}.")
        self.n = n
        self._pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any],
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        from concurrent.futures import as_completed

        futures = [self._pool.submit(fn, item) for item in items]
        index = {f: i for i, f in enumerate(futures)}
        out: list[Any] = [None] * len(futures)
        try:
            for f in as_completed(futures):
                try:
                    out[index[f]] = f.result()
                except Exception as e:  # noqa: BLE001 - e.g. a killed worker: report, go on
                    out[index[f]] = e
                if on_result is not None:
                    on_result(index[f], out[index[f]])
        except BaseException:  # Ctrl-C / SIGTERM: stop the workers (their runs resume)
            self.close(kill=True)
            raise
        return out

    def close(self, kill: bool = False) -> None:
        if kill:
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.terminate()
        self._pool.shutdown(wait=not kill, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DaskExecutor:
    """Run jobs on a Dask distributed cluster (one job per task, results in order).

    Args:
      address: ``"local"`` / ``"local:N"`` starts a ``LocalCluster`` of N single-threaded
        worker processes (default: one per core) listening on 127.0.0.1 only; anything
        else is a scheduler address passed to ``dask.distributed.Client``, which must
        answer within :data:`CONNECT_TIMEOUT_S` seconds.

    A task whose worker dies is retried by Dask on another worker (up to Dask's
    ``allowed-failures``); the jobs of :mod:`mflab.runs.batch` resume their own partial
    run then. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, address: str = "local"):
        try:
            check_address(address)
        except ValueError as e:
            raise RunError(f"--dask {e}.") from None
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - dask is a declared extra
            raise RunError("Dask is not installed: pip install 'mflab[dask]' to run on a "
                           "cluster.") from None
        self._cluster = None
        if address == "local" or address.startswith("local:"):
            import os

            n = int(address.split(":", 1)[1]) if ":" in address else (os.cpu_count() or 1)
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            self.client = _connect(Client, address)
        import time

        self.client.get_task_stream(start=0, stop=0)  # the scheduler records tasks from now
        self._since = time.time()

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any],
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        """``fn`` over ``items`` as Dask tasks, results in order (a lost task's exception
        in its place); ``on_result(i, result)`` is called as each task ends."""
        return _gather(self.client.map(fn, list(items), pure=False), on_result)

    def busy(self) -> list[dict[str, Any]]:
        """Per worker and task function (``run_member``, ``run_job``, …): the tasks run and
        the seconds spent computing them since this executor connected, from the
        scheduler's task stream — jobs that runs send from inside their own task
        (:class:`WorkerClientExecutor`) included. A task that sends jobs is counted for
        the whole time it waits for them, while its worker runs other tasks."""
        from dask.utils import key_split

        if self.client.status != "running":  # the scheduler is gone: nothing to ask
            return []
        acc: dict[tuple[str, str], list[float]] = {}
        for task in self.client.get_task_stream(start=self._since):
            seconds = sum(s["stop"] - s["start"] for s in task.get("startstops", ())
                          if s.get("action") == "compute")
            row = acc.setdefault((task["worker"], key_split(task["key"])), [0, 0.0])
            row[0] += 1
            row[1] += seconds
        return [{"worker": w, "task": f, "tasks": n, "busy_s": round(t, 3)}
                for (w, f), (n, t) in sorted(acc.items())]

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class WorkerClientExecutor:
    """The jobs of a run that is itself a Dask task (a member of ``reproduce --dask`` or
    ``sweep --dask``), sent to the same cluster from inside that task through
    :func:`dask.distributed.worker_client`: the task's thread secedes from its worker's
    pool while it waits, so that worker runs jobs too. Results in order, a lost job's
    exception in its place, as :class:`DaskExecutor`."""

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any],
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        from dask.distributed import worker_client

        with worker_client() as client:
            return _gather(client.map(fn, list(items), pure=False), on_result)

    def close(self) -> None:
        pass


def map_each(executor, fn: Callable[[Any], Any], items: Iterable[Any],
             on_result: Callable[[int, Any], None]) -> list[Any]:
    """``executor.map(fn, items)`` with ``on_result(i, result)`` called as each job ends,
    for any executor: one whose ``map`` takes no ``on_result`` (a user's own, with only
    ``map(fn, items)``) has it called for every result after the map returns."""
    import inspect

    if "on_result" in inspect.signature(executor.map).parameters:
        return executor.map(fn, items, on_result=on_result)
    out = executor.map(fn, items)
    for i, r in enumerate(out):
        on_result(i, r)
    return out


def save_each(executor, fn: Callable[[Any], Any], items: list[Any],
              save: Callable[[int, Any], None]) -> None:
    """Run ``fn`` on every item through ``executor`` and ``save(i, result)`` each as it
    ends (:func:`map_each`), so that a cut run keeps its finished jobs; a job that failed
    is not saved, the others are, and the first failure is raised once all have ended."""
    failed: list[BaseException] = []

    def keep(i: int, result) -> None:
        if isinstance(result, BaseException):
            failed.append(result)
        else:
            save(i, result)

    map_each(executor or SerialExecutor(), fn, items, keep)
    if failed:
        raise failed[0]


def nested_executor() -> WorkerClientExecutor | None:
    """A :class:`WorkerClientExecutor` when called inside a Dask task, else ``None``."""
    import sys

    if "distributed" not in sys.modules:  # no Dask worker runs in this process
        return None
    try:
        from dask.distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return None
    return WorkerClientExecutor()


def _gather(futures, on_result) -> list[Any]:
    """The futures' results in order, each handed to ``on_result`` as it ends."""
    from dask.distributed import as_completed

    index = {f.key: i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(futures)
    for f in as_completed(futures):
        i = index[f.key]
        try:
            out[i] = f.result()
        except Exception as e:  # noqa: BLE001 - e.g. KilledWorker: report, go on
            out[i] = e
        if on_result is not None:
            on_result(i, out[i])
    return out


def _connect(Client, address: str):
    """``Client(address)`` with a hard deadline of :data:`CONNECT_TIMEOUT_S` whatever answers
    on the port: Dask's own timeout covers the TCP connection, not a peer that accepts it
    and never speaks Dask (an HTTP server waits for a request as Dask's handshake does, and
    both wait forever). The attempt runs in a daemon thread; past the deadline it is left
    behind (it ends with the process) and the run is refused."""
    import threading

    box: dict[str, Any] = {}

    def attempt():
        try:
            box["client"] = Client(address, timeout=0.8 * CONNECT_TIMEOUT_S)
        except BaseException as e:  # noqa: BLE001 - reported below, in the calling thread
            box["error"] = e

    thread = threading.Thread(target=attempt, name="mflab-dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S)
    if "client" in box:
        return box["client"]
    what = (type(box["error"]).__name__ if "error" in box
            else "no Dask handshake; is something else listening there?")
    raise RunError(f"cannot reach the Dask scheduler at {address} within "
                   f"{CONNECT_TIMEOUT_S} s ({what}).")


def make_executor(address: str | None, jobs: int = 1
                  ) -> SerialExecutor | PoolExecutor | DaskExecutor:
    """A :class:`DaskExecutor` on ``address`` if given; else a :class:`PoolExecutor` of
    ``jobs`` processes when ``jobs`` > 1; else a :class:`SerialExecutor`."""
    if address is not None:
        return DaskExecutor(address)
    return PoolExecutor(jobs) if jobs > 1 else SerialExecutor()
