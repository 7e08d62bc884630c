"""Optimisers B1–B11 of SPEC Part B: factories returning pure ``init``/``step`` pairs.

| id  | factory                | module            |
|-----|------------------------|-------------------|
| B1  | :func:`sgd`            | sgd               |
| B2  | :func:`nesterov`       | nesterov          |
| B3  | :func:`restart_nesterov` | nesterov        |
| B4  | :func:`mass`           | mass              |
| B5  | :func:`sgld`           | langevin          |
| B6  | :func:`interacting_sgld` | langevin        |

B1–B5 also come as optax ``GradientTransformation``s (``as_optax_*``).
"""

from mflab.optimizers.base import EmptyInfo, Optimizer
from mflab.optimizers.langevin import SGLDState, interacting_sgld, sgld
from mflab.optimizers.mass import MaSSState, mass, mass_parameters, mass_three_variable
from mflab.optimizers.nesterov import (
    NesterovState,
    RestartInfo,
    RestartNesterovState,
    nesterov,
    restart_nesterov,
)
from mflab.optimizers.optax_adapters import (
    as_optax_mass,
    as_optax_nesterov,
    as_optax_restart_nesterov,
    as_optax_sgd,
    as_optax_sgld,
)
from mflab.optimizers.sgd import SGDState, sgd

__all__ = [
    "Optimizer",
    "EmptyInfo",
    "sgd",
    "SGDState",
    "nesterov",
    "NesterovState",
    "restart_nesterov",
    "RestartNesterovState",
    "RestartInfo",
    "mass",
    "MaSSState",
    "mass_parameters",
    "mass_three_variable",
    "sgld",
    "interacting_sgld",
    "SGLDState",
    "as_optax_sgd",
    "as_optax_nesterov",
    "as_optax_restart_nesterov",
    "as_optax_mass",
    "as_optax_sgld",
]
