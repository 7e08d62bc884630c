"""The study interface (SPEC Part C): a named computation that writes a run directory.

A study is a final subclass of :class:`Study` with

* ``name`` — the registry name (``mflab run NAME``), ``description`` — one line;
* ``Config`` — a frozen dataclass deriving from :class:`~mflab.runs.config.StudyConfig`
  whose field defaults are the paper-scale values and whose ``PRESETS`` map
  ``"paper"`` (``{}``) and ``"quick"`` to field overrides;
* ``run(config, ctx)`` — does the work, writing only through the
  :class:`~mflab.runs.context.RunContext` (metrics, arrays, tables, checkpoints); it
  must be resumable: call ``ctx.load_checkpoint`` first and skip what is done;
* ``plot(run_dir)`` — draws ``run_dir/figures/*.png`` from the saved files alone and
  returns their paths;
* ``summarize(run_dir)`` — a Markdown summary (tables, what each figure shows) from the
  saved files alone; the runner writes it to ``summary.md`` and appends provenance;
* optionally ``preflight(config)`` — checks the study's own inputs (data files) before
  the run directory is created; a refusal there is bad input (one line, exit 2);
* ``captions`` — figure name (or glob, e.g. ``"hist_*"``) → a caption that explains every
  line, band and marker; ``report.html`` prints it under the figure;
* ``headline(run_dir)`` — the two or three numbers that answer the study's question, as
  :class:`Headline` rows (value, spread, verdict against the report's claim), from the
  saved files alone; ``report.html`` opens with them.

A method whose every agent diverged is reported with ``ctx.diverged(method, message,
step=...)``: the run then ends as a failure (status ``"diverged"``).

Readers for the saved files are in :mod:`mflab.runs.io`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mflab.runs.config import StudyConfig
from mflab.runs.context import RunContext


@dataclass(frozen=True)
class Headline:
    """One headline number of a run: what it is, its value, its spread (with what the
    spread is: an IQR over seeds, a standard error, an error estimate) and, where the
    report makes a claim about it, the verdict (``""`` where there is none)."""

    quantity: str
    value: str
    spread: str = ""
    verdict: str = ""


class Study(abc.ABC):
    """Abstract base of every study; see the module docstring for the contract."""

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type[StudyConfig]]
    captions: ClassVar[dict[str, str]] = {}

    def headline(self, run_dir: Path) -> list[Headline]:
        """The numbers that answer the study's question (none by default)."""
        return []

    def preflight(self, config: StudyConfig) -> None:
        """Check inputs outside the config (data files, ...) before anything is written;
        raise :class:`~mflab.runs.context.RunError` with one line. Nothing by default."""
        return None

    @abc.abstractmethod
    def run(self, config: StudyConfig, ctx: RunContext) -> None:
        """Compute and save results through ``ctx`` (resumable from its checkpoints)."""

    @abc.abstractmethod
    def plot(self, run_dir: Path) -> list[Path]:
        """Write ``run_dir/figures/*.png`` from the saved files; return their paths."""

    @abc.abstractmethod
    def summarize(self, run_dir: Path) -> str:
        """A Markdown summary of the run from the saved files."""
