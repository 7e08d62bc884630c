"""Training runs of study C7 (the 3-spin kernel networks): methods, mean-field units, fits.

Every run is one call of :func:`mflab.run` on a :func:`~mflab.spherical.three_spin_landscape`
with a whole set of seeds as the agent axis. Optimisers are values (their numbers are
pytree leaves) and landscapes are built once per (d, n, batch) (:func:`landscape_for`), so
a tuning grid, the seeds and the comparison runs of one shape share one compiled chunk.

**Mean-field units.** The mean-field flow of SPEC C7 is ċ_i = −n ∂L/∂c_i, ż_i likewise
(Rotskoff & Vanden-Eijnden 2022): a step of size η on L is a step dt = η/n of the flow,
η = n·dt (:func:`mflab.schedules.meanfield_learning_rate`, ξ ≡ 1). Every method is given
in these units, with one tuned knob, the time step dt:

* B1 SGD η = n·dt; B2 Nesterov η = n·dt, γ fixed; B3 restart-Nesterov η = n·dt;
  B4 MaSS η1 = n·dt, η2 = r·η1, γ fixed (mflab's defaults γ = 0.9, r = 0.1);
* B10 MF-Hom-SGLD: in mean-field units the inner chain is
  dY = −[n∇L(Y) + (Y − X)/γ_mf] ds + √(2/β_mf) dW and the outer step
  X ← X − Δ_mf (X − Ȳ)/γ_mf; in the engine's units (L itself) that is τ = δ/ε = n·dt,
  γ = n·γ_mf, β = n·β_mf, Δ = n·Δ_mf (every rate × n, as for η). We take γ_mf = M·dt (the
  pull relaxes Y towards X within one outer step of M inner steps, the HMM premise),
  Δ_mf = γ_mf (X moves to the inner average Ȳ: the largest step that keeps no memory
  of X, stable since Δ/γ < 2), λ = 0 (replicas are independent seeds: unit i of one
  network has no counterpart in another, so a replica mean of units is meaningless) and
  β_mf from a thermal excess loss: near a minimum each unit has d degrees of freedom
  (c_i and z_i on the sphere), so equipartition gives an excess n·d/(2β) = d/(2β_mf);
  we set it to ``excess`` × ½E f². Time: an outer step advances X by M·dt.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import numpy as np

from mflab.driver import record_grid
from mflab.schedules import meanfield_learning_rate


class Method(NamedTuple):
    """One optimiser of the comparison: SPEC id, label, factory name, tuned arguments."""

    id: str
    label: str
    factory: str
    tuned: tuple[str, ...]


METHODS: dict[str, Method] = {m.id: m for m in (
    Method("B1", "SGD", "sgd", ("eta",)),
    Method("B2", "Nesterov", "nesterov", ("eta",)),
    Method("B3", "Nesterov + restart", "restart_nesterov", ("eta",)),
    Method("B4", "MaSS", "mass", ("eta1", "eta2")),
    Method("B10", "MF-Hom-SGLD", "mf_hom_sgld", ("Delta", "delta", "beta", "gamma")),
)}


def mf_rate(n: int, dt: float) -> float:
    """η = n·dt, the learning rate on L that is a step dt of the mean-field flow (SPEC C7):
    :func:`mflab.schedules.meanfield_learning_rate` with ξ ≡ 1, as a number."""
    return float(meanfield_learning_rate(n, dt)(0))


def method_optimizer(method_id: str, static: tuple[tuple[str, Any], ...] = ()):
    """The factory of ``method_id`` with its structural arguments ``static`` (pairs) bound:
    called with the tuned values, it returns an optimiser value (one compiled chunk per
    structure, whatever the values)."""
    import mflab.optimizers as O

    m = METHODS[method_id]
    return functools.partial(getattr(O, m.factory), **dict(static))


def method_setup(method_id: str, dt: float, *, n: int, d: int, second_moment: float,
                 momentum: float, mass_ratio: float, M: int, burn_in: int,
                 excess: float) -> tuple[Any, dict[str, float], float]:
    """(optimizer, its tuned values, mean-field time per step) of one method at time step dt
    (module docstring)."""
    factory, values, tau = _method_values(method_id, dt, n=n, d=d, second_moment=second_moment,
                                          momentum=momentum, mass_ratio=mass_ratio, M=M,
                                          burn_in=burn_in, excess=excess)
    return factory(**values), values, tau


def _method_values(method_id: str, dt: float, *, n: int, d: int, second_moment: float,
                   momentum: float, mass_ratio: float, M: int, burn_in: int, excess: float):
    eta = mf_rate(n, dt)
    if method_id == "B1":
        return method_optimizer("B1"), {"eta": eta}, dt
    if method_id == "B2":
        return method_optimizer("B2", (("gamma", momentum),)), {"eta": eta}, dt
    if method_id == "B3":
        return method_optimizer("B3"), {"eta": eta}, dt
    if method_id == "B4":
        return (method_optimizer("B4", (("gamma", momentum),)),
                {"eta1": eta, "eta2": mass_ratio * eta}, dt)
    if method_id == "B10":
        beta_mf = d / (excess * second_moment)  # d/(2β_mf) = excess · ½E f²
        gamma = mf_rate(n, M * dt)
        opt = method_optimizer("B10", (("eps", 1.0), ("M", M), ("burn_in", burn_in)))
        return opt, {"delta": eta, "gamma": gamma, "Delta": gamma, "beta": n * beta_mf}, M * dt
    raise KeyError(f"unknown method {method_id!r}; known: {', '.join(METHODS)}.")


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


def tuning_score(final_loss: np.ndarray) -> float:
    """Median final loss over the tuning seeds (a diverged seed counts as +inf)."""
    return float(np.median(np.where(np.isfinite(final_loss), final_loss, np.inf)))


def quartiles(values: np.ndarray, axis: int = -1) -> tuple[np.ndarray, ...]:
    """(q25, median, q75) over ``axis``, ignoring NaNs (NaN where all are NaN)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return tuple(np.nanquantile(values, q, axis=axis) for q in (0.25, 0.5, 0.75))

