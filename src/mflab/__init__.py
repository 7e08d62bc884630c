"""mflab: mean-field dynamics of two-layer networks and optimisers that escape bad minima.

Conventions (used everywhere in the package):

* **Ensembles.** An optimiser runs a whole ensemble of agents at once: every leaf of
  the parameter pytree carries a leading agent axis of size ``A``. A landscape's
  ``value``/``grad`` act on *one* agent's parameters; optimisers ``vmap`` them.
* **Particles of a network** are arrays of shape ``(N, D)`` (N hidden units).
* **Keys first.** Every random function takes a ``jax.random`` key as its first
  argument; there is no global RNG.
* **Precision.** Importing mflab changes no global JAX setting: every function keeps
  the dtype it is given (float32 by default in JAX). For float64, enable JAX's 64-bit
  mode yourself (``jax.config.update("jax_enable_x64", True)`` or the context manager
  ``with jax.enable_x64(True):``); the ``mflab`` command line and the studies do so.
"""

from mflab import landscapes, optimizers
from mflab.driver import DivergenceError, Trace, run, step_info

__version__ = "0.1.0"

__all__ = ["landscapes", "optimizers", "run", "step_info", "Trace", "DivergenceError",
           "__version__"]
