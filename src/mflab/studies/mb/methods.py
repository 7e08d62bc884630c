"""The optimisers of C6 (SPEC Part B, in table order) and how each is built from the config."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple


class OptimizerSpec(NamedTuple):
    """One row of the comparison: SPEC id, label, factory name (looked up in
    ``mflab.optimizers``, else in its module ``mflab.optimizers.<module>``), the keyword
    arguments (a function of the config) and the config fields tuned for it (each a
    bracketing grid, :data:`TUNED_GRIDS`)."""

    id: str
    label: str
    factory: str
    module: str
    kwargs: Callable[[Any], dict[str, Any]]
    tuned: tuple[str, ...] = ()


#: The optimisers of SPEC Part B, in table order. Learning rate ``eta`` (SPEC C6: 1e-4
#: for GD-like methods) and, for noisy methods, the inverse temperature ``beta`` come
#: from the config; every other hyper-parameter is the factory's documented default.
#: Tuned alike: the parameter that sets how far each method looks beyond its start's
#: basin — β of every noisy method (B11: its Langevin phase's β), the smoothing width h of
#: B7 — is chosen per method on tuning seeds (``tuning_seeds``); descent's η is SPEC's.
OPTIMIZERS: tuple[OptimizerSpec, ...] = (
    OptimizerSpec("B1", "GD", "sgd", "sgd", lambda c: {"eta": c.eta}),
    OptimizerSpec("B2", "Nesterov", "nesterov", "nesterov", lambda c: {"eta": c.eta}),
    OptimizerSpec("B3", "Nesterov + restart", "restart_nesterov", "nesterov",
                  lambda c: {"eta": c.eta}),
    OptimizerSpec("B4", "MaSS", "mass", "mass", lambda c: {"eta1": c.eta}),
    OptimizerSpec("B5", "SGLD", "sgld", "langevin", lambda c: {"eta": c.eta, "beta": c.beta},
                  ("beta",)),
    OptimizerSpec("B6", "Interacting SGLD", "interacting_sgld", "langevin",
                  lambda c: {"eta": c.eta, "beta": c.beta}, ("beta",)),
    OptimizerSpec("B7", "Gaussian smoothing", "gaussian_smoothing", "smoothing",
                  lambda c: {"eta": c.eta, "h": c.smoothing_h,
                             **({"quadrature_nodes": c.smoothing_nodes}
                                if c.smoothing_nodes else {})}, ("smoothing_h",)),
    OptimizerSpec("B8", "HJ smoothing", "hj_smoothing", "hamilton_jacobi",
                  lambda c: {"eta": c.macro_step, "beta": c.beta}, ("beta",)),
    OptimizerSpec("B9", "Fast–slow", "fast_slow", "multiscale",
                  lambda c: {"beta": c.beta, "eps": c.fs_eps, "dt": c.fs_eps * c.eta},
                  ("beta",)),
    OptimizerSpec("B10", "MF-Hom-SGLD", "mf_hom_sgld", "multiscale",
                  lambda c: {"beta": c.beta, "Delta": c.macro_step, "lam": c.mfhom_lam},
                  ("beta",)),
    OptimizerSpec("B11", "Gibbs init + GD", "gibbs_init_descent", "gibbs_init",
                  lambda c: {"eta": c.eta, "beta": c.gibbs_beta, "langevin_eta": c.eta,
                             "langevin_steps": c.budget // 2}, ("gibbs_beta",)),
)
#: Each tuned config field: the config field holding its first grid, and the stated limits
#: within which a choice at an edge extends it by a decade (SPEC C5's tuning protocol).
TUNED_GRIDS = {"beta": ("beta_grid", 1e-3, 10.0), "gibbs_beta": ("beta_grid", 1e-3, 10.0),
               "smoothing_h": ("h_grid", 1e-4, 1.0)}
ALL_IDS = tuple(s.id for s in OPTIMIZERS)


def load_optimizer(spec: OptimizerSpec, config) -> tuple[Any, str | None]:
    """(Optimizer, None), or (None, reason) when the factory is missing or refuses its kwargs."""
    factory = getattr(importlib.import_module("mflab.optimizers"), spec.factory, None)
    if factory is None:
        try:
            module = importlib.import_module(f"mflab.optimizers.{spec.module}")
            factory = getattr(module, spec.factory)
        except (ImportError, AttributeError):
            return None, f"{spec.id} {spec.label}: mflab.optimizers.{spec.factory} not available"
    kwargs = spec.kwargs(config)
    try:
        return factory(**kwargs), None
    except (TypeError, ValueError) as e:
        return None, f"{spec.id} {spec.label}: {spec.factory}(**{kwargs}) refused: {e}"


def steps_for(config, opt) -> int:
    """Steps of one run: ``budget // grads_per_step`` at equal gradient cost per agent
    (``equal_cost``), else ``budget``."""
    return config.budget // opt.grads_per_step if config.equal_cost else config.budget
