"""mflab: mean-field dynamics of two-layer networks and optimisers that escape bad minima.

Conventions (used everywhere in the package):

* **Ensembles.** An optimiser runs a whole ensemble of agents at once: every leaf of
  the parameter pytree carries a leading agent axis of size ``A``. A landscape's
  ``value``/``grad`` act on *one* agent's parameters; optimisers ``vmap`` them.
* **Particles of a network** are arrays of shape ``(N, D)`` (N hidden units).
* **Keys first.** Every random function takes a ``jax.random`` key as its first
  argument; there is no global RNG.
* **Precision.** mflab enables JAX's 64-bit mode on import so that float64 and
  float32 arrays can both be used; every function preserves the dtype it is given.
"""

import jax

jax.config.update("jax_enable_x64", True)

from mflab import landscapes, optimizers  # noqa: E402
from mflab.driver import DivergenceError, Trace, run  # noqa: E402

__version__ = "0.1.0"

__all__ = ["landscapes", "optimizers", "run", "Trace", "DivergenceError", "__version__"]
