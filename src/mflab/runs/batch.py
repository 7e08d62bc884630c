"""Batches of runs — ``mflab sweep`` and ``mflab reproduce`` — resumable as a whole.

A batch directory holds one run directory per *member* (``seed-K/`` of a sweep,
``STUDY/`` of a reproduction) and

* ``manifest.json`` — what was asked (the *request*: kind, studies, preset, overrides,
  seeds), written atomically before any member starts, so the members are known even
  after a crash;
* ``.lock`` — the batch writer's lock (:mod:`mflab.runs.lock`); every member has its own;
* the index (``sweep.md`` + the combined ``metrics.parquet``, or ``summary.md``), rebuilt
  from the members' files at the end of every pass — the same files whatever ran them;
* ``workers.csv`` after a pass on Dask: each worker's busy time per task function
  (:func:`write_workers`).

Running the same request with the same ``--out`` again, or ``mflab resume DIR``,
continues the batch: finished members are skipped, interrupted ones resumed (taking
over the lock their dead writer left), missing ones started, and the index rebuilt —
the same files as an uninterrupted batch. The same holds for one member whose Dask
worker died: the retried task resumes (or restarts) the member's own partial run.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mflab.errors import RunDiverged, RunError, describe_divergence
from mflab.report.build import write_report
from mflab.runs.config import build_config
from mflab.runs.context import write_json
from mflab.runs.io import read_json, read_meta
from mflab.runs.lifecycle import partial_for, resume, start
from mflab.runs.lock import LOCK_NAME, RunLock, acquire, describe, live_owner
from mflab.runs.preflight import check_memory, check_new_dir

MANIFEST = "manifest.json"
#: The module that defines ``members(request, out)`` and ``write_index(...)`` of each kind.
KINDS = {"sweep": "mflab.runs.sweep", "reproduce": "mflab.runs.reproduce"}


@dataclass(frozen=True)
class Member:
    """One run of a batch: what to run and where (picklable, for Dask workers)."""

    key: Any  # the seed of a sweep, the study name of a reproduction
    study: str
    preset: str
    overrides: tuple[str, ...]
    seed: int
    out: str
    progress: bool = False
    max_memory: int | None = None


def _kind(request: dict[str, Any]):
    return importlib.import_module(KINDS[request["kind"]])


def check_members(members: list[Member]) -> None:
    """Validate every member (config, memory estimate, the study's preflight) before
    anything is written; raises ``ConfigError``/``RunError``/``UnknownStudyError``."""
    from mflab.studies import registry

    checked = set()
    for m in members:
        if (m.study, m.overrides) in checked:
            continue
        study = registry.get(m.study)
        config = build_config(study.Config, m.preset, list(m.overrides))
        check_memory(m.study, config, m.max_memory)
        study.preflight(config)
        checked.add((m.study, m.overrides))


def check_out(out: Path, request: dict[str, Any]) -> None:
    """Refuse an output directory that holds something else than this request's batch
    (or cannot be created), changing nothing."""
    if not out.exists():
        check_new_dir(out, hidden_suffix="")
        return
    if not out.is_dir():
        raise RunError(f"{out} exists and is not a directory (choose another --out).")
    if not (out / MANIFEST).exists():
        if {p.name for p in out.iterdir()} <= {LOCK_NAME}:  # made, then killed at once
            return
        raise RunError(f"{out} already exists and is not an mflab {request['kind']} directory "
                       f"(no {MANIFEST}); refusing to write into it (choose another --out).")
    old = read_json(out, MANIFEST).get("request")
    if old != request:
        raise RunError(f"{out} holds another request ({_describe(old)}), not this one "
                       f"({_describe(request)}); choose another --out, or continue it with "
                       f"`mflab resume {out}`.")
    owner = live_owner(out)
    if owner is not None:
        from mflab.runs.lock import describe

        raise RunError(f"{out} is being written by a live {request['kind']} ({describe(owner)}).")


def _describe(request: dict[str, Any] | None) -> str:
    if not isinstance(request, dict):
        return "unreadable"
    return ", ".join(f"{k}={v}" for k, v in request.items())


def open_batch(out: Path, request: dict[str, Any]) -> RunLock:
    """Create (or reopen) the batch directory, lock it and write its manifest first."""
    out.mkdir(parents=True, exist_ok=True)
    lock = acquire(out)
    if not (out / MANIFEST).exists():
        from mflab.runs.meta import now_iso

        write_json(out / MANIFEST, {"request": request, "created": now_iso()})
    return lock


def check_batch(request: dict[str, Any], out: Path, *, progress: bool = False,
                max_memory: int | None = None) -> list[Member]:
    """Validate a batch request and its output directory, writing nothing; returns the
    members. Raises ``ConfigError``/``RunError``/``UnknownStudyError``."""
    members = _kind(request).members(request, Path(out), progress=progress,
                                     max_memory=max_memory)
    check_members(members)
    check_out(Path(out), request)
    return members


def execute_batch(request: dict[str, Any], out: Path, members: list[Member], *,
                  executor=None, progress: bool = False) -> tuple[Path, list]:
    """Run the members not yet finished on ``executor`` (default: serial) and rebuild the
    index from the files; returns (index, failed keys). Validate with :func:`check_batch`.

    ``progress``: one overall line (member i/n, study and seed, elapsed, estimated
    remaining) on a terminal; the members' own bars (``Member.progress``) nest beneath it.
    """
    out = Path(out)
    lock = open_batch(out, request)
    try:
        results = _run_members(request, members, executor, progress)
        write_workers(out, executor)
        errors, lost = {}, []
        for m, res in zip(members, results, strict=True):
            if isinstance(res, BaseException):  # the executor lost the job (workers died)
                errors[m.key] = f"lost: {type(res).__name__}: {' '.join(str(res).split())}"
                lost.append(m)
            elif res[2]:
                errors[m.key] = res[2]
        for m in wait_for_orphans(lost):
            errors[m.key] += f" (its run is still written by {describe(live_owner(_dir(m)))})"
        index = _kind(request).write_index(request, out, members, errors)
        write_batch_report(out, request, members)
    finally:
        lock.release(remove=True)
    return index, [m.key for m in members if m.key in errors]


def _run_members(request: dict[str, Any], members: list[Member], executor,
                 progress: bool) -> list:
    """``run_member`` over the members under the overall progress line; results in the
    members' order (a parallel executor gets the heaviest studies first)."""
    from tqdm.auto import tqdm

    from mflab.progress import member as member_progress
    from mflab.runs.executor import DaskExecutor, PoolExecutor, SerialExecutor
    from mflab.studies import registry

    n, kind = len(members), request["kind"]
    bar = tqdm(total=n, disable=None if progress else True, position=0, unit="run",
               bar_format="{desc} | {n_fmt}/{total_fmt} done | elapsed {elapsed}, "
                          "remaining ~{remaining}")
    with bar:
        if executor is None or isinstance(executor, SerialExecutor):
            results = []
            for i, m in enumerate(members):
                bar.set_description_str(f"{kind} {i + 1}/{n}: {m.study} seed {m.seed}")
                with member_progress(f"{m.study} seed {m.seed}"):
                    results.append(run_member(m))
                bar.update()
            return results
        where = (f"{executor.n} local processes" if isinstance(executor, PoolExecutor)
                 else "Dask workers")
        bar.set_description_str(f"{kind}: {n} runs on {where}")
        # the heaviest first (longest processing time), so that the last member to finish
        # does not run alone while the other workers idle; results back in members' order
        order = sorted(range(n), key=lambda i: -registry.cost(members[i].study))
        queue = [members[i] for i in order]
        if isinstance(executor, (DaskExecutor, PoolExecutor)):
            def done(j, _result):
                m = queue[j]
                bar.set_description_str(f"{kind} on {where}: {m.study} seed {m.seed} finished")
                bar.update()

            results = executor.map(run_member, queue, on_result=done)
        else:
            results = executor.map(run_member, queue)
            bar.update(n)
        out = [None] * n
        for j, i in enumerate(order):
            out[i] = results[j]
        return out


WORKERS = "workers.csv"


def write_workers(out: Path, executor) -> None:
    """``out/workers.csv``: each worker's busy time in this pass, per task function (a Dask
    executor's :meth:`~mflab.runs.executor.DaskExecutor.busy`); removed after a pass run
    elsewhere, so it never describes another pass."""
    import pandas as pd

    path = out / WORKERS
    try:
        rows = executor.busy() if hasattr(executor, "busy") else []
    except Exception:  # noqa: BLE001 - e.g. the scheduler died: a diagnostic, not a result
        rows = []
    if not rows:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(WORKERS + ".tmp")
    pd.DataFrame(rows).to_csv(tmp, index=False)
    tmp.replace(path)


#: Seconds a batch waits for the runs of jobs its executor lost (a dead scheduler's workers
#: go on until they finish or notice it) before it reports them and releases the batch.
ORPHAN_WAIT_S = 600.0


def _dir(m: Member) -> Path:
    """The partial directory of a member's run (where a live writer holds the lock)."""
    return partial_for(Path(m.out))


def wait_for_orphans(lost: list[Member], timeout: float | None = None,
                     poll: float = 0.25) -> list[Member]:
    """Wait until no live process writes the runs of ``lost`` members (jobs whose scheduler
    died while a worker ran them), at most ``timeout`` s (default :data:`ORPHAN_WAIT_S`), so
    that a resume right after finds them finished or free; returns those still written."""
    import time

    deadline = time.monotonic() + (ORPHAN_WAIT_S if timeout is None else timeout)
    pending = [m for m in lost if live_owner(_dir(m)) is not None]
    while pending and time.monotonic() < deadline:
        time.sleep(poll)
        pending = [m for m in pending if live_owner(_dir(m)) is not None]
    return pending


def run_batch(request: dict[str, Any], out: Path, *, executor=None, progress: bool = False,
              max_memory: int | None = None) -> tuple[Path, list]:
    """Validate, then run (or continue) the batch ``request`` into ``out``; returns
    (index, failed keys). See :func:`check_batch` and :func:`execute_batch`."""
    members = check_batch(request, out, progress=progress, max_memory=max_memory)
    return execute_batch(request, out, members, executor=executor, progress=progress)


def batch_request(out: Path | str) -> dict[str, Any]:
    """The request in ``out/manifest.json`` (a damaged manifest: one-line RunError)."""
    out = Path(out)
    request = read_json(out, MANIFEST).get("request")
    if not isinstance(request, dict) or request.get("kind") not in KINDS:
        raise RunError(f"{out / MANIFEST} is damaged (no request of a known kind).")
    return request


def resume_batch(out: Path | str, *, executor=None, progress: bool = False,
                 max_memory: int | None = None) -> tuple[Path, list]:
    """Continue the batch in ``out`` from its manifest (see :func:`run_batch`)."""
    return run_batch(batch_request(out), Path(out), executor=executor, progress=progress,
                     max_memory=max_memory)


def is_batch(path: Path | str) -> bool:
    """Whether ``path`` is a sweep or reproduce directory (it has a manifest)."""
    return (Path(path) / MANIFEST).is_file()


def run_member(m: Member) -> tuple[Any, str | None, str | None]:
    """Run, resume or skip one member; returns (key, run dir or None, error or None).

    Top-level (Dask ships it to workers). Idempotent: a finished member is skipped, an
    interrupted one — also the partial run of a worker that died — is resumed, taking
    over its stale lock; a member that diverged is reported as such, not rerun.
    """
    try:
        return m.key, str(_run_or_resume(m)), None
    except RunDiverged as e:
        return m.key, str(e.run_dir), "diverged: " + "; ".join(
            describe_divergence(d) for d in e.divergences)
    except Exception as e:  # noqa: BLE001 - one failing member must not hide the others
        traceback.print_exc(file=sys.stderr)
        return m.key, None, f"{type(e).__name__}: {' '.join(str(e).split())}"


def _run_or_resume(m: Member) -> Path:
    final = Path(m.out)
    partial = partial_for(final)
    for d in (final, partial):
        if d.is_dir() and (d / "meta.json").is_file():
            meta = read_meta(d)
            if meta.get("status") == "diverged":
                raise RunDiverged(d, meta.get("divergences", []))
    if final.is_dir():
        return final
    from mflab.runs.executor import nested_executor

    executor = nested_executor()  # on a Dask worker: the run's own jobs go to the cluster
    if partial.is_dir():
        if not (partial / "config.json").is_file() and live_owner(partial) is None:
            shutil.rmtree(partial)  # killed before it wrote its config: start afresh
        else:
            return resume(final, progress=m.progress, max_memory=m.max_memory,
                          executor=executor)
    return start(m.study, preset=m.preset, overrides=list(m.overrides), seed=m.seed, out=final,
                 progress=m.progress, max_memory=m.max_memory, executor=executor)


def write_batch_report(out: Path | str, request: dict[str, Any] | None = None,
                       members: list[Member] | None = None) -> Path:
    """``out/report.html`` of a sweep or reproduction: every member's run (its headline,
    figures, summary) under one headline table (:func:`mflab.report.write_report`)."""
    import shlex
    from html import escape

    from mflab.report.build import Item

    out = Path(out)
    request = request if request is not None else batch_request(out)
    members = members if members is not None else _kind(request).members(request, out)
    reproduce = request["kind"] == "reproduce"
    items = [Item(str(m.key) if reproduce else f"seed {m.key}", Path(m.out).name,
                  member_status(Path(m.out))) for m in members]
    if reproduce:
        cmd = ["mflab", "reproduce", "--preset", request["preset"], "--seed",
               str(request["seed"])]
        title = f"mflab reproduce — preset {request['preset']}, seed {request['seed']}"
        index = '<a href="summary.md">summary.md</a>'
    else:
        cmd = ["mflab", "sweep", request["study"], "--preset", request["preset"], "--seeds",
               ",".join(map(str, request["seeds"]))]
        cmd += [a for o in request.get("overrides", []) for a in ("--set", o)]
        title = (f"mflab sweep of {request['study']} — preset {request['preset']}, "
                 f"{len(items)} seeds")
        index = ('<a href="sweep.md">sweep.md</a>; all seeds\' metrics: '
                 '<a href="metrics.parquet">metrics.parquet</a>')
    lede = (f"{len(items)} {'studies' if reproduce else 'runs'}, each in its own run "
            f"directory. Command: <code>{escape(shlex.join(cmd))}</code>. Index: {index}.")
    return write_report(out, batch=(title, lede, items))


def member_status(final: Path) -> str:
    """``complete``, ``diverged``, ``interrupted`` or ``missing``, from the files."""
    final = Path(final)
    for d in (final, partial_for(final)):
        if (d / "meta.json").is_file():
            try:
                status = read_meta(d).get("status", "interrupted")
            except RunError:
                return "damaged"
            return status if d == final or status == "diverged" else "interrupted"
    return "missing"
