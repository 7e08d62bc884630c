"""Optimisers B1–B11 of SPEC Part B: factories returning pure ``init``/``step`` pairs.

| id  | factory                | module            |
|-----|------------------------|-------------------|
| B1  | :func:`sgd`            | sgd               |
| B2  | :func:`nesterov`       | nesterov          |
| B3  | :func:`restart_nesterov` | nesterov        |
| B4  | :func:`mass`           | mass              |
| B5  | :func:`sgld`           | langevin          |
| B6  | :func:`interacting_sgld` | langevin        |
| B7  | :func:`gaussian_smoothing` | smoothing       |
| B8  | :func:`hj_smoothing`   | hamilton_jacobi   |
| B9  | :func:`fast_slow`      | multiscale        |
| B10 | :func:`mf_hom_sgld`    | multiscale        |
| B11 | :func:`gibbs_init_descent` | gibbs_init    |

B2, B3, B4 (and the momentum phases of B8 and B11) share one rule,
:mod:`~mflab.optimizers.momentum`. Step sizes are numbers or schedules
(:mod:`mflab.schedules`). B1–B5 also come as optax ``GradientTransformation``s
(``as_optax_*``, built on the same rule; :func:`scale_by_momentum` is the bare direction).

Every factory returns an :class:`Optimizer` *value*: its numeric arguments are pytree leaves,
so :func:`mflab.run` compiles once per structure — a new step size or a fresh call with the
same structural arguments reuses the compiled loop (:mod:`mflab.optimizers.base`).
"""

from mflab.optimizers.base import (
    EmptyInfo,
    FactoryOptimizer,
    Optimizer,
    StepFunctions,
    optimizer_factory,
    static_field,
)
from mflab.optimizers.critical_batch import CriticalBatch, critical_batch
from mflab.optimizers.gibbs_init import GibbsInitState, gibbs_init_descent
from mflab.optimizers.hamilton_jacobi import HJState, hj_smoothing, hj_value_and_grad
from mflab.optimizers.langevin import SGLDState, interacting_sgld, sgld
from mflab.optimizers.liu_belkin import (
    LiuBelkinMaSS,
    TangentCurvature,
    liu_belkin_mass,
    tangent_curvature,
)
from mflab.optimizers.mass import MaSS3State, mass, mass_parameters, mass_three_variable
from mflab.optimizers.momentum import MomentumState, RestartInfo, momentum_direction
from mflab.optimizers.multiscale import FastSlowState, MFHomState, fast_slow, mf_hom_sgld
from mflab.optimizers.nesterov import nesterov, restart_nesterov
from mflab.optimizers.optax_adapters import (
    as_optax_mass,
    as_optax_nesterov,
    as_optax_restart_nesterov,
    as_optax_sgd,
    as_optax_sgld,
    scale_by_momentum,
)
from mflab.optimizers.sgd import SGDState, sgd
from mflab.optimizers.smoothing import SmoothingState, gaussian_smoothing

__all__ = [
    "critical_batch",
    "CriticalBatch",
    "Optimizer",
    "StepFunctions",
    "FactoryOptimizer",
    "optimizer_factory",
    "static_field",
    "EmptyInfo",
    "sgd",
    "SGDState",
    "nesterov",
    "restart_nesterov",
    "MomentumState",
    "RestartInfo",
    "momentum_direction",
    "mass",
    "MaSS3State",
    "mass_parameters",
    "liu_belkin_mass",
    "tangent_curvature",
    "LiuBelkinMaSS",
    "TangentCurvature",
    "mass_three_variable",
    "sgld",
    "interacting_sgld",
    "SGLDState",
    "gaussian_smoothing",
    "SmoothingState",
    "hj_smoothing",
    "hj_value_and_grad",
    "HJState",
    "fast_slow",
    "FastSlowState",
    "mf_hom_sgld",
    "MFHomState",
    "gibbs_init_descent",
    "GibbsInitState",
    "as_optax_sgd",
    "as_optax_nesterov",
    "as_optax_restart_nesterov",
    "as_optax_mass",
    "as_optax_sgld",
    "scale_by_momentum",
]
