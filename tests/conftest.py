"""Shared test setup: mflab enables x64 on import; plots go to a non-interactive backend."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import mflab  # noqa: E402,F401  (enables jax x64 before any test builds arrays)
