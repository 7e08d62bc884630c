"""Progress bars that know where they are: a batch (``mflab reproduce``/``sweep``) shows
one overall line — member i/n, elapsed, estimated remaining — and the bars of the run in
hand nest beneath it, named by study and seed (:func:`bar_options`).

The batch sets the context with :func:`member`; :func:`mflab.run` and the DD solver ask
:func:`bar_options` for their ``desc``, ``position`` and ``leave``. Outside a batch (a
plain ``mflab run`` or library use) nothing changes: a bar is named by its optimiser.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_LABEL: ContextVar[str] = ContextVar("mflab_progress_label", default="")


@contextlib.contextmanager
def member(label: str) -> Iterator[None]:
    """Within this context, bars are prefixed with ``label`` (e.g. ``mf-isotropic seed 0``)
    and drawn on the line below the batch's overall line, cleared when done."""
    token = _LABEL.set(label)
    try:
        yield
    finally:
        _LABEL.reset(token)


def bar_options(name: str) -> dict:
    """``tqdm`` keyword arguments for a bar called ``name`` in the current context."""
    label = _LABEL.get()
    if not label:
        return {"desc": name}
    return {"desc": f"  {label} · {name}", "position": 1, "leave": False}
