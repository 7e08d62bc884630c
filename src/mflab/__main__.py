"""``python -m mflab`` runs the ``mflab`` command line."""

from mflab.cli import entry

entry()
