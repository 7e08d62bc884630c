"""Studies of SPEC Part C: each writes a run directory and re-plots from it.

See :mod:`mflab.studies.base` for the contract and :mod:`mflab.studies.registry` for
the list (``mflab list``). Study modules are imported lazily by the registry.
"""

from mflab.studies.base import Study
from mflab.studies.registry import describe, get, names

__all__ = ["Study", "get", "names", "describe"]
