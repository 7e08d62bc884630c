"""Command line: ``mflab list | run | plot | report | compare | resume | reproduce | sweep``.

``run``, ``sweep`` and ``reproduce`` end by naming the ``report.html`` they wrote (and
the Markdown index); ``report`` rebuilds it from any finished directory, ``compare`` puts
two runs of one study side by side.

Bad input exits with status 2 after one line on stderr, before anything is written:
an unknown study, config key or preset, a wrong type or out-of-range value, a bad
seed, an output path that exists or cannot be created, a bad ``--dask`` address or an
unreachable scheduler, a config whose memory estimate exceeds the machine (or
``--max-memory``), bad data files, a damaged run directory (the file named), a
directory a live run is writing (the run named). A run that fails while computing
exits 1 and leaves its hidden partial directory, which ``mflab resume`` continues; a
run in which a method diverged exits 1 naming the method and the step.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``mflab: error: ...``) and exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _seed(text: str) -> int:
    from mflab.runs.config import INDEX_MAX, is_seed

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not is_seed(value):
        raise argparse.ArgumentTypeError(f"must be an integer in [0, {INDEX_MAX}]; got {text!r}")
    return value


def _seeds(text: str) -> list[int]:
    """``0,1,5`` or ``0-7``: distinct integers in [0, 2**31 − 1], at most MAX_SEEDS."""
    from mflab.runs.config import INDEX_MAX, is_seed
    from mflab.runs.sweep import MAX_SEEDS

    bad = argparse.ArgumentTypeError(
        f"seeds must look like 0,1,5 or 0-7: at most {MAX_SEEDS} distinct integers in "
        f"[0, {INDEX_MAX}]; got {text!r}")
    try:
        if re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", text):
            lo, hi = (int(t) for t in text.split("-"))
            if not lo <= hi <= INDEX_MAX or hi - lo >= MAX_SEEDS:
                raise bad
            return list(range(lo, hi + 1))
        seeds = [int(t) for t in text.split(",")]
    except ValueError:
        raise bad from None
    if not seeds or len(set(seeds)) != len(seeds) or len(seeds) > MAX_SEEDS or not all(
            is_seed(s) for s in seeds):
        raise bad
    return seeds


def _size(text: str) -> int:
    from mflab.runs.preflight import parse_size

    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _address(text: str) -> str:
    from mflab.runs.executor import check_address

    try:
        return check_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _glue_negative_values(argv: list[str]) -> list[str]:
    """``--seeds -1,2`` → ``--seeds=-1,2`` so that mflab, not argparse, judges the value."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in ("--seed", "--seeds") and i + 1 < len(argv) and argv[i + 1][:1] == "-":
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``mflab`` argument parser."""
    p = _Parser(prog="mflab", description="Mean-field dynamics and optimisers: studies as runs.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    q = sub.add_parser("list", help="list the registered studies")
    q.add_argument("-v", "--verbose", action="store_true",
                   help="also show each study's config fields and presets")

    q = sub.add_parser("run", help="run one study into a new run directory")
    q.add_argument("study", metavar="STUDY",
                   help="a study name from `mflab list`, or your own as module:attribute")
    q.add_argument("--preset", default="quick",
                   help="config preset: quick (minutes, default) or paper (published scale)")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable); tuples comma-separated")
    _config_file(q)
    q.add_argument("--seed", type=_seed, default=0, help="root seed of the run (default 0)")
    q.add_argument("--out", type=Path, default=None,
                   help="run directory to create (default runs/TIMESTAMP-STUDY); never overwritten")
    q.add_argument("--no-progress", action="store_true", help="hide progress bars")
    q.add_argument("--dask", metavar="ADDRESS", default=None, type=_address,
                   help="send the study's independent jobs (if it has any) to Dask workers: "
                        "local, local:N or a scheduler address (default: here, serially)")
    _max_memory(q)
    _cache_flag(q)

    q = sub.add_parser("plot", help="redraw figures and summary.md from a run directory")
    q.add_argument("run_dir", metavar="RUN_DIR", type=Path)

    q = sub.add_parser("report", help="write report.html of a run, sweep or reproduction "
                                      "from its files")
    q.add_argument("run_dir", metavar="DIR", type=Path)

    q = sub.add_parser("compare", help="two runs of one study side by side: config "
                                       "difference, headline numbers, an overlay figure")
    q.add_argument("run_a", metavar="RUN_A", type=Path)
    q.add_argument("run_b", metavar="RUN_B", type=Path)
    q.add_argument("--out", type=Path, default=None,
                   help="directory to create for compare.md and overlay.png (default "
                        "runs/TIMESTAMP-compare)")

    q = sub.add_parser("resume", help="continue an interrupted run, sweep or reproduction")
    q.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                   help="the run's final name or its hidden .NAME.partial directory, or a "
                        "sweep / reproduce directory")
    q.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _jobs_flag(q)
    q.add_argument("--dask", metavar="ADDRESS", default=None, type=_address,
                   help="run a sweep's or reproduction's members, or a run's jobs, on Dask "
                        "workers")
    _max_memory(q)
    _cache_flag(q)

    q = sub.add_parser("reproduce", help="run every study; write report.html and a Markdown "
                                         "index")
    q.add_argument("--preset", default="quick",
                   help="config preset for every study (default quick)")
    q.add_argument("--seed", type=_seed, default=0, help="root seed (default 0)")
    q.add_argument("--out", type=Path, default=None,
                   help="directory to create (default runs/TIMESTAMP-reproduce); the same "
                        "command with an existing one continues it")
    _progress_flags(q)
    _jobs_flag(q)
    q.add_argument("--dask", metavar="ADDRESS", default=None, type=_address,
                   help="run the studies on Dask workers: local, local:N or a scheduler address")
    _max_memory(q)
    _cache_flag(q)

    q = sub.add_parser("sweep", help="run one study over many seeds (optionally on Dask)")
    q.add_argument("study", metavar="STUDY",
                   help="a study name from `mflab list`, or your own as module:attribute")
    q.add_argument("--seeds", type=_seeds, required=True, metavar="SEEDS",
                   help="seeds: a list 0,1,5 or a range 0-7")
    q.add_argument("--preset", default="quick", help="config preset (default quick)")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable)")
    _config_file(q)
    q.add_argument("--out", type=Path, default=None,
                   help="directory to create (default runs/TIMESTAMP-sweep-STUDY); the same "
                        "command with an existing one continues it")
    _progress_flags(q)
    _jobs_flag(q)
    q.add_argument("--dask", metavar="ADDRESS", default=None, type=_address,
                   help="Dask workers: local, local:N or a scheduler address (default: "
                        "a local pool, --jobs)")
    _max_memory(q)
    _cache_flag(q)
    return p


def compile_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache for this command and the worker processes
    it starts (through the environment, before JAX is imported): compiled XLA programs are
    kept in ``$XDG_CACHE_HOME/mflab/xla/jax-V-jaxlib-W`` (default ``~/.cache``), one folder
    per JAX version, so a second run of a study compiles (almost) nothing. Off with
    ``--no-compile-cache`` or ``MFLAB_COMPILE_CACHE=0``; a ``JAX_COMPILATION_CACHE_DIR``
    already set wins. Returns the folder (None when off)."""
    import os
    from importlib.metadata import version

    if os.environ.get("MFLAB_COMPILE_CACHE", "1") == "0":
        return None
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(
            home / "mflab" / "xla" / f"jax-{version('jax')}-jaxlib-{version('jaxlib')}")
    # mflab compiles many small programs (one chunk function per optimiser structure)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
    return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])


def _cache_flag(q: argparse.ArgumentParser) -> None:
    q.add_argument("--no-compile-cache", action="store_true",
                   help="do not keep compiled XLA code between runs (default: kept in "
                        "~/.cache/mflab/xla, one folder per JAX version)")


def _cores() -> int:
    """The cores this process may use (its affinity), at least 1."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _jobs(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"must be an integer 1..1024; got {text!r}")
    return int(text)


def _jobs_flag(q: argparse.ArgumentParser) -> None:
    q.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help="runs at a time, each in its own process (default: one per core; "
                        "1: one after the other in this process); ignored with --dask")


def _progress_flags(q: argparse.ArgumentParser) -> None:
    q.add_argument("--no-progress", action="store_true", help="hide every progress bar")
    q.add_argument("--quiet", action="store_true",
                   help="only the overall line (run i/n, elapsed, remaining), no per-run bars")


def _config_file(q: argparse.ArgumentParser) -> None:
    q.add_argument("--config", metavar="FILE", type=Path, default=None,
                   help="config fields from a TOML or JSON file (the same keys and checks "
                        "as --set; a --set given too wins)")


def _overrides(args) -> list[str]:
    """``--config FILE``'s fields, then the ``--set`` flags (the later wins)."""
    from mflab.runs.config import overrides_from_file

    extra = overrides_from_file(args.config) if args.config is not None else []
    return [*extra, *args.overrides]


def _max_memory(q: argparse.ArgumentParser) -> None:
    q.add_argument("--max-memory", metavar="SIZE", type=_size, default=None,
                   help="refuse a run whose estimated memory exceeds SIZE (e.g. 8G, 512M; "
                        "default: this machine's memory)")


def _list(verbose: bool) -> int:
    from mflab.studies import registry

    width = max(map(len, registry.names()))
    for name in registry.names():
        print(f"{name:<{width}}  {registry.describe(name)}")
        if verbose:
            from mflab.runs.config import describe_fields

            cls = registry.get(name).Config
            print(f"{'':<{width}}  presets: {', '.join(cls.PRESETS)}")
            for fname, tname, default, doc in describe_fields(cls):
                quick = cls.PRESETS.get("quick", {}).get(fname)
                q = f" (quick: {quick})" if quick is not None else ""
                print(f"{'':<{width}}    {fname} [{tname}] = {default}{q}  {doc}")
    return 0


def _missing_extras() -> list[str]:
    """Distributions of the ``studies`` extra that cannot be imported."""
    import importlib.util

    return [m for m in ("matplotlib", "pandas", "pyarrow", "markdown")
            if importlib.util.find_spec(m) is None]


def _terminate_like_interrupt() -> None:
    """SIGTERM (a scheduler's or `kill`'s stop) ends a command as Ctrl-C does: the run's
    segment is closed in meta.json and the same "interrupted; continue with" line printed.
    Installed by the command line only (the main thread), never on import."""
    import signal
    import threading

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


#: The exit status of an interrupted command (Ctrl-C or SIGTERM), as shells report SIGINT.
EXIT_INTERRUPTED = 130


def entry() -> None:
    """The ``mflab`` executable (and ``python -m mflab``): :func:`main`, then exit. An
    interrupted command has already closed its run (meta.json, lock) and said so; it exits
    at once, without the interpreter's teardown, which can crash while XLA's threads still
    hold the computation the interrupt cut short."""
    import os

    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if code == EXIT_INTERRUPTED:
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mflab`` command; returns the exit status."""
    argv = _glue_negative_values(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    if not getattr(args, "no_compile_cache", True):
        compile_cache()
    import jax

    jax.config.update("jax_enable_x64", True)  # the command line computes in float64
    _terminate_like_interrupt()
    if args.command == "list":
        return _list(args.verbose)
    missing = _missing_extras()
    if missing:
        print(f"mflab {args.command}: the command line needs the studies extra "
              f"({', '.join(missing)} not installed): pip install 'mflab[studies]'",
              file=sys.stderr)
        return 1

    from mflab.errors import UnknownStudyError
    from mflab.runs import ConfigError, RunError

    try:
        if args.command == "run":
            from mflab.runs.lifecycle import prepare

            with _executor(args.dask) as executor:
                return _execute(*prepare(args.study, preset=args.preset,
                                         overrides=_overrides(args), seed=args.seed,
                                         out=args.out, max_memory=args.max_memory,
                                         progress=not args.no_progress), executor)
        if args.command == "resume":
            from mflab.runs.batch import batch_request, is_batch
            from mflab.runs.lifecycle import prepare_resume

            if is_batch(args.run_dir):
                return _batch(batch_request(args.run_dir), args.run_dir, args)
            with _executor(args.dask) as executor:
                return _execute(*prepare_resume(args.run_dir, progress=not args.no_progress,
                                                max_memory=args.max_memory), executor)
        if args.command == "plot":
            from mflab.runs.lifecycle import replot

            for fig in replot(args.run_dir):
                print(fig)
            return 0
        if args.command == "report":
            from mflab.report import write_report
            from mflab.runs.batch import is_batch, write_batch_report

            write = write_batch_report if is_batch(args.run_dir) else write_report
            print(f"report: {write(args.run_dir)}")
            return 0
        if args.command == "compare":
            from mflab.report.diff import compare_runs
            from mflab.runs.lifecycle import default_out

            path = compare_runs(args.run_a, args.run_b, args.out or default_out("compare"))
            print(path.read_text(), end="")
            print(f"comparison: {path} (figure: {path.parent / 'overlay.png'})")
            return 0
        if args.command == "reproduce":
            from mflab.runs.lifecycle import default_out
            from mflab.runs.reproduce import reproduce_request

            request = reproduce_request(preset=args.preset, seed=args.seed)
            return _batch(request, args.out or default_out("reproduce"), args)
        if args.command == "sweep":
            from mflab.runs.lifecycle import default_out
            from mflab.runs.sweep import sweep_request

            request = sweep_request(args.study, args.seeds, preset=args.preset,
                                    overrides=_overrides(args))
            return _batch(request, args.out or default_out(f"sweep-{args.study}"), args)
    except (ConfigError, RunError, UnknownStudyError) as e:
        print(f"mflab {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _batch(request: dict, out: Path, args) -> int:
    """Validate a sweep / reproduction (nothing written), connect the executor, run it."""
    from mflab.runs.batch import check_batch, execute_batch
    from mflab.runs.executor import make_executor

    overall = not getattr(args, "no_progress", False)
    n = len(request["studies"] if request["kind"] == "reproduce" else request["seeds"])
    jobs = 1 if args.dask else min(n, args.jobs if args.jobs else _cores())
    # per-run bars only when the runs go one at a time in this process
    members = check_batch(request, Path(out), max_memory=args.max_memory,
                          progress=overall and jobs == 1 and not args.dask
                          and not getattr(args, "quiet", False))
    executor = make_executor(args.dask, jobs)
    try:
        index, failed = execute_batch(request, Path(out), members, executor=executor,
                                      progress=overall)
    except KeyboardInterrupt:
        print(f"interrupted; continue with `mflab resume {out}`", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        executor.close()
    if failed:
        what = "seeds" if request["kind"] == "sweep" else "studies"
        print(f"failed {what}: {', '.join(map(str, failed))} (details in {index}; "
              f"`mflab resume {out}` retries them)", file=sys.stderr)
    kind = "sweep" if request["kind"] == "sweep" else "summary"
    print(f"report: {Path(out) / 'report.html'} ({kind}: {index})")
    if (Path(out) / "workers.csv").is_file():
        print(f"workers' busy time: {Path(out) / 'workers.csv'}")
    return 1 if failed else 0


@contextlib.contextmanager
def _executor(address: str | None):
    """The executor of ``--dask`` (connected before anything is written; an unreachable
    scheduler is a one-line RunError), or ``None``; closed on exit."""
    if address is None:
        yield None
        return
    from mflab.runs.executor import make_executor

    executor = make_executor(address)
    try:
        yield executor
    finally:
        executor.close()


def _execute(study, ctx, executor=None) -> int:
    from mflab.errors import RunDiverged
    from mflab.runs.lifecycle import execute

    ctx.executor = executor
    try:
        final = execute(study, ctx)
    except KeyboardInterrupt:
        print(f"interrupted; continue with `mflab resume {ctx.final_dir}`", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunDiverged as e:
        print(f"mflab: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except Exception:
        import traceback

        traceback.print_exc()
        print(f"run failed; partial results in {ctx.dir} "
              f"(`mflab resume {ctx.final_dir}` continues it)", file=sys.stderr)
        return 1
    print(f"run complete: {final} (report: {final / 'report.html'}, summary: "
          f"{final / 'summary.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
