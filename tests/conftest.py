"""Shared test setup: float64 for the test session, plots to a non-interactive backend.

mflab changes no global JAX setting on import (tests/test_citizen.py checks it in a fresh
process); the tests were written against float64 arithmetic, so the session opts in here,
as the ``mflab`` command line does.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
