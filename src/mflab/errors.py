"""The exceptions mflab raises on purpose, in one place.

* :class:`DivergenceError` — a run produced NaN/inf; the message names the step, the agent
  (replica) and the quantity.
* :class:`ConfigError` — a study config was refused; one line saying what was given and
  what is allowed.
* :class:`RunError` — a run cannot start, resume or be read; one line for the user.

Argument errors of library functions are plain ``ValueError``/``TypeError`` raised by
:mod:`mflab.validation`.
"""

from __future__ import annotations


class DivergenceError(FloatingPointError):
    """A run produced NaN or inf; the message names the step, the agent and the quantity.

    The same facts are attributes (``None`` when unknown): ``step``, ``agent``, ``quantity``.
    """

    def __init__(self, message: str, *, step: int | None = None, agent: int | None = None,
                 quantity: str | None = None):
        super().__init__(message)
        self.step, self.agent, self.quantity = step, agent, quantity


class ConfigError(ValueError):
    """A config was refused; the message is one line saying what was given and what is allowed."""


class RunError(RuntimeError):
    """A run cannot start, resume or be read; the message is one line for the user."""
