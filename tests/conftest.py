"""Shared test setup: float64 for the test session, plots to a non-interactive backend.

mflab changes no global JAX setting on import (tests/test_citizen.py checks it in a fresh
process); the tests were written against float64 arithmetic, so the session opts in here,
as the ``mflab`` command line does.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")

# One persistent XLA compilation cache for the whole session, shared by the xdist workers
# and by every process a test starts (pools, Dask workers, CLI runs): they inherit the
# variable, set here in the first process before JAX is imported. Many tests compile the
# same programs. A fresh folder per session, removed at its end, so no test sees a user's
# cache (nor writes to it); a JAX_COMPILATION_CACHE_DIR already set wins.
# The compile-time threshold is the command line's (mflab.cli.compile_cache), set here
# because importing mflab imports JAX, which reads it then.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _xla_cache = tempfile.mkdtemp(prefix="mflab-tests-xla-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _xla_cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
    atexit.register(shutil.rmtree, _xla_cache, ignore_errors=True)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

# The suite runs as `pytest -n 2` with `--dist loadfile` (pyproject's addopts): each file's
# tests stay on one worker, so a module-scoped fixture (a study's tiny run) is built once,
# not once per worker. Files are handed out in collection order; the costliest go first so
# that the small ones fill the end and both workers finish together (the order is the
# files' summed durations, `pytest --durations=0`, 2026-12-06).
_COSTLIEST_FIRST = ("test_study_meanfield.py", "test_study_optimizers_networks.py",
                    "test_meanfield_dd.py", "test_meanfield_network.py",
                    "test_optimizers_common.py", "test_meanfield_risk.py",
                    "test_study_three_spin_scaling.py", "test_study_mueller_brown.py",
                    "test_docs_examples.py", "test_study_three_spin.py",
                    "test_study_three_spin_optimizers.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_COSTLIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable otherwise
