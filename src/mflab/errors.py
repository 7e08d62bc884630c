"""The exceptions mflab raises on purpose, in one place.

* :class:`DivergenceError` — a run produced NaN/inf; the message names the step, the agent
  (replica) and the quantity.
* :class:`ConfigError` — a study config was refused; one line saying what was given and
  what is allowed.
* :class:`RunError` — a run cannot start, resume or be read; one line for the user.
* :class:`RunDiverged` — a run ended but a method diverged: a failed run.
* :class:`LockHeld` — another live process writes the run directory.
* :class:`UnknownStudyError` — no study of that name (the message lists them).
* :class:`MnistFileError` — an MNIST file is missing, corrupt or could not be downloaded.
* :class:`ProtocolError` — a comparison (:mod:`mflab.compare`) set up against its protocol.

Argument errors of library functions are plain ``ValueError``/``TypeError`` raised by
:mod:`mflab.validation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class DivergenceError(FloatingPointError):
    """A run produced NaN or inf; the message names the step, the agent and the quantity.

    The same facts are attributes (``None`` when unknown): ``step``, ``agent``, ``quantity``
    and ``method`` (the optimiser's name, or the solver, that diverged).
    """

    def __init__(self, message: str, *, step: int | None = None, agent: int | None = None,
                 quantity: str | None = None, method: str | None = None):
        super().__init__(message)
        self.step, self.agent, self.quantity, self.method = step, agent, quantity, method


class ConfigError(ValueError):
    """A config was refused; the message is one line saying what was given and what is allowed."""


class RunError(RuntimeError):
    """A run cannot start, resume or be read; the message is one line for the user."""


class DamagedRunError(RunError):
    """A file of a run directory is missing or unreadable; the message names it."""


class RunDiverged(RuntimeError):
    """A run ended, but a method (or the whole computation) diverged: a failed run.

    Attributes:
      run_dir: where its files are (the final directory when the study finished, the
        partial one when the divergence stopped it).
      divergences: ``[{"method", "step", "message"}, ...]`` as in ``meta.json``.
    """

    def __init__(self, run_dir: Path, divergences: list[dict[str, Any]]):
        self.run_dir = Path(run_dir)
        self.divergences = list(divergences)
        what = describe_divergence(self.divergences[0]) if self.divergences else "diverged"
        more = [d.get("method") or "?" for d in self.divergences[1:]]
        also = f"; also diverged: {', '.join(more)}" if more else ""
        super().__init__(f"run diverged: {what}{also} (files and meta.json in {self.run_dir})")


class LockHeld(RunError):
    """Another live process writes this run directory; the message names it (pid, host)."""


class UnknownStudyError(KeyError):
    """No study of that name; the message lists the registered ones."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it one plain line
        return self.args[0]


class MnistFileError(OSError):
    """An MNIST file is missing, corrupt, truncated or could not be downloaded."""


def describe_divergence(d: dict[str, Any]) -> str:
    """``METHOD diverged at step K: MESSAGE`` (or the message alone) in one line."""
    at = f" at step {d['step']}" if d.get("step") is not None else ""
    if not d.get("method"):  # the whole study stopped: its message says what diverged
        return " ".join(f"{d.get('message', '')}{at}".split())
    return " ".join(f"{d['method']} diverged{at}: {d.get('message', '')}".split())


class ProtocolError(ValueError):
    """A comparison was set up against its protocol (SPEC C5): one line saying what was
    given and what is allowed."""
