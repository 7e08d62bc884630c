"""Command line: ``mflab list | run | plot | resume | reproduce``.

Bad input (unknown study, unknown config key, wrong type, out-of-range value, an
existing output directory) exits with status 2 after one line on stderr, before
anything is written. A run that fails while computing exits 1 and leaves its hidden
partial directory, which ``mflab resume`` continues.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``mflab: error: ...``) and exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``mflab`` argument parser."""
    p = _Parser(prog="mflab", description="Mean-field dynamics and optimisers: studies as runs.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    q = sub.add_parser("list", help="list the registered studies")
    q.add_argument("-v", "--verbose", action="store_true",
                   help="also show each study's config fields and presets")

    q = sub.add_parser("run", help="run one study into a new run directory")
    q.add_argument("study", metavar="STUDY", help="a study name from `mflab list`")
    q.add_argument("--preset", default="quick",
                   help="config preset: quick (minutes, default) or paper (published scale)")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable); tuples comma-separated")
    q.add_argument("--seed", type=_seed, default=0, help="root seed of the run (default 0)")
    q.add_argument("--out", type=Path, default=None,
                   help="run directory to create (default runs/TIMESTAMP-STUDY); never overwritten")
    q.add_argument("--no-progress", action="store_true", help="hide progress bars")

    q = sub.add_parser("plot", help="redraw figures and summary.md from a run directory")
    q.add_argument("run_dir", metavar="RUN_DIR", type=Path)

    q = sub.add_parser("resume", help="continue an interrupted run")
    q.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                   help="the run's final name or its hidden .NAME.partial directory")
    q.add_argument("--no-progress", action="store_true", help="hide progress bars")

    q = sub.add_parser("reproduce", help="run every study and write a Markdown index")
    q.add_argument("--preset", default="quick",
                   help="config preset for every study (default quick)")
    q.add_argument("--seed", type=_seed, default=0, help="root seed (default 0)")
    q.add_argument("--out", type=Path, default=None,
                   help="directory to create (default runs/TIMESTAMP-reproduce)")
    q.add_argument("--no-progress", action="store_true", help="hide progress bars")
    q.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run the studies on Dask workers: local, local:N or a scheduler address")

    q = sub.add_parser("sweep", help="run one study over many seeds (optionally on Dask)")
    q.add_argument("study", metavar="STUDY", help="a study name from `mflab list`")
    q.add_argument("--seeds", type=_seeds, required=True, metavar="SEEDS",
                   help="seeds: a list 0,1,5 or a range 0-7")
    q.add_argument("--preset", default="quick", help="config preset (default quick)")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable)")
    q.add_argument("--out", type=Path, default=None,
                   help="directory to create (default runs/TIMESTAMP-sweep-STUDY)")
    q.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="Dask workers: local, local:N or a scheduler address (default: serial)")
    return p


def _seeds(text: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(t) for t in text.split("-", 1))
            return list(range(lo, hi + 1))
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seeds must look like 0,1,5 or 0-7; got {text!r}") from None


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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mflab`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)  # the command line computes in float64
    if args.command == "list":
        return _list(args.verbose)

    from mflab.runs import ConfigError, RunError
    from mflab.studies.registry import UnknownStudyError

    try:
        if args.command == "run":
            from mflab.runs.lifecycle import prepare

            study, ctx = prepare(args.study, preset=args.preset, overrides=args.overrides,
                                 seed=args.seed, out=args.out, progress=not args.no_progress)
            return _execute(study, ctx)
        if args.command == "resume":
            from mflab.runs.lifecycle import resume

            final = resume(args.run_dir, progress=not args.no_progress)
            print(f"run complete: {final}")
            return 0
        if args.command == "plot":
            from mflab.runs.lifecycle import replot

            for fig in replot(args.run_dir):
                print(fig)
            return 0
        if args.command == "reproduce":
            from mflab.runs.executor import make_executor
            from mflab.runs.reproduce import reproduce

            executor = make_executor(args.dask)
            try:
                index, failed = reproduce(preset=args.preset, out=args.out, seed=args.seed,
                                          progress=not args.no_progress, executor=executor)
            finally:
                executor.close()
            if failed:
                print(f"failed studies: {', '.join(failed)}", file=sys.stderr)
            print(f"summary: {index}")
            return 1 if failed else 0
        if args.command == "sweep":
            from mflab.runs.executor import make_executor
            from mflab.runs.sweep import sweep

            executor = make_executor(args.dask)
            try:
                out, failed = sweep(args.study, args.seeds, preset=args.preset,
                                    overrides=args.overrides, out=args.out, executor=executor)
            finally:
                executor.close()
            if failed:
                print(f"failed seeds: {', '.join(map(str, failed))}", file=sys.stderr)
            print(f"sweep: {out / 'sweep.md'}")
            return 1 if failed else 0
    except (ConfigError, RunError, UnknownStudyError) as e:
        print(f"mflab {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


def _execute(study, ctx) -> int:
    from mflab.runs.lifecycle import execute

    try:
        final = execute(study, ctx)
    except KeyboardInterrupt:
        print(f"interrupted; continue with `mflab resume {ctx.final_dir}`", file=sys.stderr)
        return 130
    except Exception:
        import traceback

        traceback.print_exc()
        print(f"run failed; partial results in {ctx.dir} "
              f"(`mflab resume {ctx.final_dir}` continues it)", file=sys.stderr)
        return 1
    print(f"run complete: {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
