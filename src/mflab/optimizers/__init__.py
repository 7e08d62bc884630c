"""Optimisers B1–B11 of SPEC Part B: factories returning pure ``init``/``step`` pairs."""

from mflab.optimizers.base import EmptyInfo, Optimizer
from mflab.optimizers.sgd import SGDState, sgd

__all__ = ["Optimizer", "EmptyInfo", "sgd", "SGDState"]
