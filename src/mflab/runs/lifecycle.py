"""Start, execute, resume and re-plot runs; the atomic run-directory protocol.

A run whose final directory is ``NAME`` is written in ``.NAME.partial`` beside it and
renamed to ``NAME`` only when everything (metrics, figures, summary) is written. So:

* a crash or a kill leaves only the hidden partial directory (resumable with
  ``mflab resume NAME``), never a directory under the final name;
* an existing ``NAME`` (or a pending ``.NAME.partial``) is never overwritten;
* one writer at a time: the writer holds ``.NAME.partial/.lock``
  (:mod:`mflab.runs.lock`); a second one is refused naming the live run, and ``resume``
  takes over the lock a crashed run left;
* every input (study name, preset, overrides, seed, output directory, the config's
  memory estimate, the study's data files via ``study.preflight``) is validated before
  anything is created;
* a run in which a method diverged ends with status ``"diverged"`` and
  :class:`~mflab.runs.context.RunDiverged` (a failure), never as ``"complete"``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from mflab.errors import DamagedRunError, RunDiverged, RunError
from mflab.report.build import write_report
from mflab.runs import meta as _meta
from mflab.runs.config import INDEX_MAX, build_config, config_from_dict, is_seed
from mflab.runs.context import RunContext, check_resumable, write_json
from mflab.runs.io import read_json, reading
from mflab.runs.lock import acquire, describe, live_owner
from mflab.runs.preflight import check_memory, check_new_dir

PARTIAL_SUFFIX = ".partial"


def float64():
    """A context in which JAX computes in float64 (``jax.enable_x64(True)``, or its earlier
    name ``jax.experimental.enable_x64()``), leaving the caller's setting as it was."""
    import jax

    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64

    return enable_x64()


def partial_for(final: Path) -> Path:
    """``dir/NAME`` → ``dir/.NAME.partial``."""
    final = Path(final)
    return final.parent / f".{final.name}{PARTIAL_SUFFIX}"


def final_for(partial: Path) -> Path:
    """``dir/.NAME.partial`` → ``dir/NAME``."""
    partial = Path(partial)
    name = partial.name
    if not (name.startswith(".") and name.endswith(PARTIAL_SUFFIX)):
        raise RunError(f"{partial} is not a partial run directory (.NAME{PARTIAL_SUFFIX}).")
    return partial.parent / name[1 : -len(PARTIAL_SUFFIX)]


def default_out(study_name: str, base: Path | str = "runs") -> Path:
    """``base/YYYYmmdd-HHMMSS-STUDY`` (with ``-2``, ``-3``… if that name is taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(base)
    study_name = study_name.replace(":", "-").replace("/", "-")  # a user's module:attribute
    out, i = base / f"{stamp}-{study_name}", 2
    while out.exists() or partial_for(out).exists():
        out, i = base / f"{stamp}-{study_name}-{i}", i + 1
    return out


def check_target(final: Path) -> None:
    """Refuse a target that exists, has a pending partial run (live or interrupted)
    beside it, or cannot be created (:func:`~mflab.runs.preflight.check_new_dir`)."""
    final = Path(final)
    if final.name.startswith(".") or final.name in ("", ".", ".."):
        raise RunError(f"run directory name {final.name!r} must not start with '.'.")
    check_new_dir(final, hidden_suffix=PARTIAL_SUFFIX)
    if final.exists():
        raise RunError(f"{final} already exists; refusing to overwrite it (choose another --out).")
    partial = partial_for(final)
    if partial.exists():
        owner = live_owner(partial)
        if owner is not None:
            raise RunError(f"{final} is being written by a live run ({describe(owner)}); "
                           "choose another --out or wait for it.")
        if never_started(partial):  # a remnant of a run that failed before its config was
            shutil.rmtree(partial)  # written (e.g. a full disk): nothing to keep or resume
            return
        raise RunError(
            f"an interrupted run is pending in {partial}; "
            f"continue it with `mflab resume {final}` or delete it."
        )


#: What a run directory holds before its config is written: nothing a resume could use.
_START_FILES = {".lock", "config.json", "meta.json", "config.json.tmp", "meta.json.tmp"}


def never_started(partial: Path) -> bool:
    """Whether a partial directory is the remnant of a run that failed before it started:
    no readable ``config.json`` and nothing but the files written at the start."""
    names = {p.name for p in Path(partial).iterdir()}
    if not names <= _START_FILES:
        return False
    try:
        read_json(partial, "config.json")
    except (RunError, OSError, ValueError):
        return True
    return False


def check_seed(seed) -> int:
    """A run's root seed: an integer in [0, 2**31 − 1] (``jax.random.PRNGKey``'s range)."""
    if not is_seed(seed):
        raise RunError(f"--seed must be an integer in [0, {INDEX_MAX}]; got {seed!r}.")
    return seed


def prepare(study_name: str, *, preset: str = "quick", overrides: list[str] | None = None,
            seed: int = 0, out: Path | str | None = None, progress: bool = True,
            max_memory: int | None = None):
    """Validate a run request, then create its partial directory and lock it.

    Returns ``(study, ctx)``. Raises :class:`~mflab.runs.config.ConfigError`,
    :class:`RunError` or ``UnknownStudyError`` before writing anything: the config, the
    seed, the memory estimate (against ``max_memory`` bytes or the machine's memory),
    the output path and the study's own inputs (``study.preflight``) are checked first.
    """
    from mflab.studies import registry

    study = registry.get(study_name)
    config = build_config(study.Config, preset, list(overrides or []))
    check_seed(seed)
    check_memory(study_name, config, max_memory)
    final = Path(out) if out is not None else default_out(study_name)
    check_target(final)
    study.preflight(config)
    partial = partial_for(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        partial.mkdir()
    except FileExistsError:
        raise RunError(f"{partial} appeared meanwhile: another run writes {final}.") from None
    lock = None
    try:
        lock = acquire(partial)
        _write_start(partial, study_name, seed, preset, overrides, config)
    except OSError as e:  # e.g. a full disk: remove what was made, say so, keep nothing
        if lock is not None:
            lock.release()
        shutil.rmtree(partial, ignore_errors=True)
        raise RunError(f"cannot write the run directory {partial} ({e.strerror or e}); "
                       "nothing was kept: free space and run the same command again.") from None
    ctx = RunContext(study_name, config, seed, partial, final, progress=progress, lock=lock)
    return study, ctx


def _write_start(partial: Path, study_name: str, seed: int, preset: str, overrides,
                 config) -> None:
    """config.json and meta.json of a new run."""
    write_json(partial / "config.json", {
        "study": study_name, "seed": seed, "preset": preset,
        "overrides": list(overrides or []), "config": config.to_dict(),
    })
    write_json(partial / "meta.json", {
        "study": study_name, "seed": seed, "preset": preset, "status": "running",
        "started": _meta.now_iso(), "finished": None, "wall_time_s": 0.0, "segments": [],
        "versions": _meta.versions(), "git": _meta.git_commit(), "host": _meta.host(),
        "precision": "float64 (jax_enable_x64 on for the run, via jax.enable_x64)",
    })


def execute(study, ctx: RunContext) -> Path:
    """Run (or finish) the study in ``ctx``, then finalise and rename; returns the final dir.

    Studies compute in float64: the run executes inside :func:`float64` (a
    context, so the caller's JAX settings are left as they were); ``meta.json`` says so.

    Raises :class:`~mflab.runs.context.RunDiverged` when a method diverged
    (``ctx.diverged``: the run is finished, with status ``"diverged"``) or when the study
    stopped on a ``FloatingPointError`` such as ``DivergenceError`` (the partial directory
    stays, with status ``"diverged"``). The directory's lock is released in every case.
    """

    t0 = time.perf_counter()
    started = _meta.now_iso()
    _open_segment(ctx, started)
    try:
        with float64():
            if not ctx.run_complete:
                study.run(ctx.config, ctx)
                ctx.mark_complete()
            final = _finalize(study, ctx, t0, started)
    except FloatingPointError as e:  # the study stopped on a divergence: a failed run
        entry = {"method": getattr(e, "method", None), "step": getattr(e, "step", None),
                 "message": " ".join(str(e).split())}
        _update_meta(ctx, t0, started, status="diverged", divergence=entry)
        _release(ctx)
        raise RunDiverged(ctx.dir, [*ctx.divergences, entry]) from e
    except BaseException:
        _update_meta(ctx, t0, started, status="interrupted")
        _release(ctx)
        raise
    _release(ctx, final)
    if ctx.divergences:
        raise RunDiverged(final, ctx.divergences)
    return final


def _release(ctx: RunContext, final: Path | None = None) -> None:
    """Drop the run's lock; a finished (renamed) directory keeps no lock file."""
    if ctx.lock is None:
        return
    if final is not None:
        ctx.lock.moved_to(final)
    ctx.lock.release(remove=final is not None)


def _update_meta(ctx: RunContext, t0: float, started: str, status: str,
                 divergence: dict[str, Any] | None = None) -> dict[str, Any]:
    path = ctx.dir / "meta.json"
    if not path.exists():
        return {}
    try:
        meta = read_json(ctx.dir, "meta.json")
    except RunError:  # damaged: leave it to the user (the error names it elsewhere)
        return {}
    seg = {"started": started, "ended": _meta.now_iso(), "seconds": time.perf_counter() - t0,
           "resumed": ctx.resumed}
    segments = meta.setdefault("segments", [])
    # this run's segment: still open, or closed by an earlier update of the same run (a
    # failure after _finalize's update must not count the segment twice)
    if segments and (segments[-1].get("ended") is None or segments[-1]["started"] == started):
        segments[-1] = seg
    else:
        segments.append(seg)
    meta["wall_time_s"] = sum(s["seconds"] or 0.0 for s in segments)
    meta["status"] = status
    meta.update(ctx.bookkeeping())
    if divergence is not None:
        meta["divergences"] = [*meta["divergences"], divergence]
    if status in ("complete", "diverged"):
        meta["finished"] = _meta.now_iso()
    write_json(path, meta)
    return meta


def _open_segment(ctx: RunContext, started: str) -> None:
    """Record in ``meta.json`` that a segment runs from ``started`` (status ``running``), so a
    run killed where nothing can be caught (kill -9) still shows it. A segment a killed run
    left open is closed first, with the time of the last file that run wrote."""
    path = ctx.dir / "meta.json"
    try:
        meta = read_json(ctx.dir, "meta.json")
    except RunError:  # missing or damaged: leave it to the user (named elsewhere)
        return
    segments = meta.setdefault("segments", [])
    if segments and segments[-1].get("ended") is None:
        segments[-1] = close_killed_segment(ctx.dir, segments[-1])
    segments.append({"started": started, "ended": None, "seconds": None,
                     "resumed": ctx.resumed})
    meta["wall_time_s"] = sum(s["seconds"] or 0.0 for s in segments)
    meta["status"] = "running"
    write_json(path, meta)


def close_killed_segment(run_dir: Path, segment: dict[str, Any]) -> dict[str, Any]:
    """An open segment of a killed run, closed at the last modification of a file of the run
    (checkpoints, metric parts, arrays; not the lock or meta.json) — the latest moment the
    run is known to have worked — and marked ``inferred``."""
    import datetime as dt

    start = dt.datetime.fromisoformat(segment["started"])
    skip = {".lock", "meta.json"}
    times = [p.stat().st_mtime for p in Path(run_dir).rglob("*")
             if p.is_file() and p.name not in skip]
    end = max([start.timestamp(), *times])
    ended = dt.datetime.fromtimestamp(end, start.tzinfo)
    return {**segment, "ended": ended.isoformat(timespec="seconds"),
            "seconds": end - start.timestamp(),
            "inferred": "killed: ended at the run's last file write"}


def _finalize(study, ctx: RunContext, t0: float, started: str) -> Path:
    ctx.consolidate_metrics()
    study.plot(ctx.dir)
    _update_meta(ctx, t0, started, status="diverged" if ctx.divergences else "complete")
    write_summary(study, ctx.dir)
    write_report(ctx.dir)
    # the checkpoint goes first: a kill while deleting then leaves a run that resume redoes
    # from scratch, never one that re-merges a subset of the metric parts
    for sub in ("checkpoint", "metrics-parts"):
        shutil.rmtree(ctx.dir / sub, ignore_errors=True)
    if ctx.final_dir.exists():
        raise RunError(f"{ctx.final_dir} appeared while the run was going; the result stays "
                       f"in {ctx.dir}.")
    os.rename(ctx.dir, ctx.final_dir)
    return ctx.final_dir


def write_summary(study, run_dir: Path) -> Path:
    """``summary.md`` = the study's summary + a provenance section from the saved files."""
    run_dir = Path(run_dir)
    body = study.summarize(run_dir).rstrip()
    text = body + "\n\n" + provenance_markdown(run_dir, already_said=body)
    path = run_dir / "summary.md"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def provenance_markdown(run_dir: Path, already_said: str = "") -> str:
    """A Markdown 'Provenance' section from ``config.json`` and ``meta.json`` (warnings
    whose text already appears in ``already_said`` are not repeated)."""
    cfg = read_json(run_dir, "config.json")
    meta = read_json(run_dir, "meta.json")
    v = meta.get("versions", {})
    git = meta.get("git") or {}
    commit = git.get("commit", "unknown")[:12] + (" (dirty tree)" if git.get("dirty") else "")
    n_res = sum(1 for s in meta.get("segments", []) if s.get("resumed"))
    lines = [
        "## Provenance",
        "",
        f"- study `{cfg['study']}`, preset `{cfg['preset']}`, seed {cfg['seed']}, "
        f"overrides: {', '.join(cfg['overrides']) or 'none'} (resolved config in `config.json`)",
        f"- mflab {v.get('mflab')}, git {commit}; jax {v.get('jax')}, numpy {v.get('numpy')}, "
        f"python {v.get('python')}",
        f"- host {meta['host'].get('node')} ({meta['host'].get('cpu_count')} CPUs, "
        f"devices {meta['host'].get('jax_devices')})",
        f"- started {meta.get('started')}, finished {meta.get('finished')}; "
        f"wall time {meta.get('wall_time_s', 0.0):.1f} s"
        + (f" over {n_res + 1} segments ({n_res} resume{'s' if n_res > 1 else ''})"
           if n_res else ""),
    ]
    said = []
    if meta.get("status") == "diverged":
        from mflab.errors import describe_divergence

        said = [describe_divergence(d) for d in meta.get("divergences", [])]
        lines += [f"- **failed: {text}**" for text in said]
    for w in meta.get("warnings", []):
        if w not in said and w.split(" ", 1)[-1] not in already_said:
            lines.append(f"- warning: {w}")
    return "\n".join(lines) + "\n"


def start(study_name: str, *, executor=None, **kwargs) -> Path:
    """Validate, run and finalise one study; returns the final run directory. ``executor``
    (serial or Dask, :mod:`mflab.runs.executor`) is handed to the study as
    ``ctx.executor`` for its independent jobs."""
    study, ctx = prepare(study_name, **kwargs)
    ctx.executor = executor
    return execute(study, ctx)


def locate(path: Path | str) -> tuple[Path, Path]:
    """(partial, final) directories of a run given by either name."""
    path = Path(path)
    if path.name.startswith(".") and path.name.endswith(PARTIAL_SUFFIX):
        return path, final_for(path)
    return partial_for(path), path


def prepare_resume(path: Path | str, *, progress: bool = True,
                   max_memory: int | None = None):
    """Take over an interrupted run (its lock, its files) given its final name or its
    partial directory; returns ``(study, ctx)`` for :func:`execute`.

    Refused in one line, changing nothing: no such run, a complete one, a run a live
    process is writing (named), a damaged directory (the file named), a config over the
    memory limit, a study whose inputs fail its preflight.
    """
    from mflab.studies import registry

    partial, final = locate(path)
    if not partial.is_dir():
        if final.is_dir():
            raise RunError(f"{final} is already complete; nothing to resume.")
        raise RunError(f"no interrupted run at {path} (looked for {partial}).")
    if final.exists():
        raise RunError(f"{final} exists; refusing to overwrite it with the resumed run.")
    if live_owner(partial) is None and never_started(partial):
        raise RunError(f"{partial} holds a run that failed before it started (no config): "
                       f"nothing to resume; run the same `mflab run ... --out {final}` "
                       "again and it replaces it.")
    lock = acquire(partial, stamp=False)
    try:
        cfg = read_json(partial, "config.json")
        read_json(partial, "meta.json")
        with reading(partial / "config.json"):
            name, seed, values = cfg["study"], cfg["seed"], cfg["config"]
        study = registry.get(name)
        config = config_from_dict(study.Config, values)
        check_memory(name, config, max_memory)
        study.preflight(config)
        check_resumable(partial)
        ctx = RunContext(name, config, seed, partial, final, progress=progress, resumed=True,
                         lock=lock)
    except BaseException:
        lock.release()
        raise
    lock.stamp()
    return study, ctx


def resume(path: Path | str, *, progress: bool = True, max_memory: int | None = None,
           executor=None) -> Path:
    """Continue an interrupted run given its final name or its partial directory
    (``executor``: as for :func:`start`)."""
    study, ctx = prepare_resume(path, progress=progress, max_memory=max_memory)
    ctx.executor = executor
    return execute(study, ctx)


def replot(run_dir: Path | str) -> list[Path]:
    """Redraw the figures and rewrite ``summary.md`` (and, for a finished run,
    ``report.html``) from a run directory's files alone.

    A missing or unreadable file is a one-line :class:`~mflab.runs.io.DamagedRunError`
    naming it; a directory a live run is writing is refused.
    """
    from mflab.studies import registry

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise RunError(f"{run_dir} is not a run directory (no config.json).")
    owner = live_owner(run_dir)
    if owner is not None:
        raise RunError(f"{run_dir} is being written by a live run ({describe(owner)}).")
    cfg = read_json(run_dir, "config.json")
    with reading(run_dir / "config.json"):
        study = registry.get(cfg["study"])
    read_json(run_dir, "meta.json")
    try:
        figures = study.plot(run_dir)
        write_summary(study, run_dir)
        if read_json(run_dir, "meta.json").get("status") in ("complete", "diverged"):
            write_report(run_dir)
    except FileNotFoundError as e:  # a reader outside mflab.runs.io
        raise DamagedRunError(f"{e.filename} is missing; the run directory is incomplete or "
                              "damaged.") from None
    return figures
