"""Training runs on the 3-spin kernel networks (studies C7's slice and D2's scaling).

Every run is one call of :func:`mflab.run` on a :func:`~mflab.spherical.three_spin_landscape`
with a whole set of seeds as the agent axis. Landscapes are built once per (d, n, batch)
(:func:`landscape_for`), so the seeds and runs of one shape share one compiled chunk.

**Mean-field units.** The mean-field flow of SPEC C7 is ċ_i = −n ∂L/∂c_i, ż_i likewise
(Rotskoff & Vanden-Eijnden 2022): a step of size η on L is a step dt = η/n of the flow,
η = n·dt (:func:`mflab.schedules.meanfield_learning_rate`, ξ ≡ 1). B1 SGD and B3
restart-Nesterov take η = n·dt. The optimiser comparison of C7 (fig. 15) runs through
C5's harness (study ``three-spin-optimizers``, :mod:`mflab.studies.optnets.spin`), whose
methods use the same units (η = n·ε).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import numpy as np

from mflab.driver import record_grid
from mflab.schedules import meanfield_learning_rate

#: The factories of the methods trained here, by SPEC id.
FACTORIES = {"B1": "sgd", "B3": "restart_nesterov"}


def mf_rate(n: int, dt: float) -> float:
    """η = n·dt, the learning rate on L that is a step dt of the mean-field flow (SPEC C7):
    :func:`mflab.schedules.meanfield_learning_rate` with ξ ≡ 1, as a number."""
    return float(meanfield_learning_rate(n, dt)(0))


def method_setup(method_id: str, dt: float, *, n: int) -> tuple[Any, dict[str, float], float]:
    """(optimizer, its values, mean-field time per step) of B1 or B3 at time step dt:
    η = n·dt (module docstring)."""
    import mflab.optimizers as O

    if method_id not in FACTORIES:
        raise KeyError(f"unknown method {method_id!r}; known: {', '.join(FACTORIES)}.")
    values = {"eta": mf_rate(n, dt)}
    return getattr(O, FACTORIES[method_id])(**values), values, dt


@functools.cache
def couplings_for(d: int, target_seed: int):
    """The seeded couplings a_pqr of the d-dimensional target (float64 under x64)."""
    from mflab.spherical import three_spin_couplings

    return three_spin_couplings(jax.random.key(target_seed), d)


@functools.cache
def landscape_for(d: int, n: int, alpha: float, batch: int | None, target_seed: int):
    """One landscape object per (d, n, α, batch, target): the compiled chunks key on it."""
    from mflab.spherical import three_spin_landscape

    return three_spin_landscape(couplings_for(d, target_seed), n, alpha, batch)


def initial_params(key: jax.Array, seeds: list[int], n: int, d: int, c0: float):
    """Initial networks of SPEC C7 for the given seed indices, stacked on the agent axis
    (seed j uses ``fold_in(key, j)``, so a seed's network does not depend on the others)."""
    from mflab.spherical import init_kernel_params

    nets = [init_kernel_params(jax.random.fold_in(key, j), n, d, c0) for j in seeds]
    return jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *nets)


class Curves(NamedTuple):
    """What one run keeps: record steps, oracle calls and mean-field time per record, the
    exact loss ``(R, A)`` (NaN after an agent diverged), first diverged step per agent
    (−1: never), and the final parameters (c ``(A, n)``, z ``(A, n, d)``)."""

    steps: np.ndarray
    calls: np.ndarray
    time: np.ndarray
    loss: np.ndarray
    diverged: np.ndarray
    c: np.ndarray
    z: np.ndarray


def train(optimizer, time_per_step: float, landscape, x0, n_steps: int, key: jax.Array,
          n_records: int, progress: bool = False, extra_steps: tuple[int, ...] = ()) -> Curves:
    """Run ``optimizer`` for ``n_steps`` steps from the ensemble ``x0``; record the exact loss
    at ~``n_records`` log-spaced steps (and at ``extra_steps``)."""
    import mflab

    grid = np.union1d(record_grid(n_steps, n_records, log=True),
                      np.asarray(extra_steps, np.int64))
    tr = mflab.run(optimizer, landscape, x0, n_steps, key, record_steps=grid,
                   on_divergence="continue", progress=progress)
    loss = np.asarray(tr.values, dtype=np.float64)
    diverged = np.asarray(tr.diverged)
    for a, step in enumerate(diverged):
        if step >= 0:
            loss[tr.steps >= step, a] = np.nan
    return Curves(steps=np.asarray(tr.steps), calls=np.asarray(tr.grad_evals),
                  time=np.asarray(tr.steps) * time_per_step, loss=loss, diverged=diverged,
                  c=np.asarray(tr.state.x.c), z=np.asarray(tr.state.x.z))
