"""The problems of study C5 (SPEC C5): the networks of Part A as landscapes (SPEC A5).

Each problem is a network of N units on a data model, an initial law and a way to score a
network:

| id | SPEC | data, units | start | score |
|---|---|---|---|---|
| A1 | A1 | isotropic Gaussians, Δ = 0.8, piecewise-linear σ | κ = 0.8 | exact risk |
| A2-bad | A2 | isotropic, Δ = 0.5, non-monotone σ | κ = 0.1 (collapses onto w = 0) | exact risk |
| A2-good | A2 | as A2-bad | κ = 0.4 | exact risk |
| A3-trains | A3 | anisotropic, Δ = 0.5, a·relu(⟨w, x⟩ + b) | κ = 4, a = 1, b = 0 | exact risk |
| A3-stalls | A3 | as A3-trains | κ = 0.8 (plateau) | exact risk |
| A4 | A4 | MNIST digit vs rest, c·sigmoid(⟨w, x⟩) | c ~ U[−c0, c0], κ | test risk |

(which A2 start is bad and which A3 start stalls: ``docs/results/meanfield.md``, C2 and C3.)
A :class:`Setting` — the problem, its sizes and the batch m — is everything a worker
needs to build the landscape; :func:`build` caches what it builds per setting, so every job
of the same setting that lands on a worker reuses the compiled code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np


class ProblemSpec(NamedTuple):
    """One row of the problem table: id, family (a1–a4), Δ of the data, label."""

    id: str
    family: str
    delta: float
    label: str


PROBLEMS: dict[str, ProblemSpec] = {p.id: p for p in (
    ProblemSpec("A1", "a1", 0.8, "A1: isotropic, monotone σ (κ = 0.8)"),
    ProblemSpec("A2-bad", "a2", 0.5, "A2: non-monotone σ, bad start (κ = 0.1)"),
    ProblemSpec("A2-good", "a2", 0.5, "A2: non-monotone σ, good start (κ = 0.4)"),
    ProblemSpec("A3-trains", "a3", 0.5, "A3: anisotropic, ReLU, wide start (κ = 4)"),
    ProblemSpec("A3-stalls", "a3", 0.5, "A3: anisotropic, ReLU, narrow start (κ = 0.8)"),
    ProblemSpec("A4", "a4", 0.0, "A4: MNIST digit vs rest"),
)}
PROBLEM_IDS = tuple(PROBLEMS)
#: κ of the initial law w ~ N(0, κ²/d I) of the A1–A3 problems (SPEC C5; C2/C3 starts).
KAPPAS = {"A1": 0.8, "A2-bad": 0.1, "A2-good": 0.4, "A3-trains": 4.0, "A3-stalls": 0.8}
FAMILIES = ("a1", "a2", "a3", "a4")
#: A4: seed s of a comparison walks the epochs s·EPOCH_STRIDE, s·EPOCH_STRIDE + 1, … of the
#: one data sampler, i.e. its own random data order, without a landscape per seed (which
#: would compile anew).
EPOCH_STRIDE = 1000


@dataclass(frozen=True)
class Setting:
    """What a worker builds for one (problem, m): hashable, the key of the caches."""

    problem: str
    N: int
    d: int
    kappa: float
    m: int
    s0: int = 0
    c0: float = 1.0
    digit: int = 0
    n_train: int | None = None
    data_dir: str | None = None
    dtype: str = "float32"

    @property
    def spec(self) -> ProblemSpec:
        return PROBLEMS[self.problem]

    @property
    def finite(self) -> bool:
        """A finite data set (A4): scored on the test set, epochs without replacement."""
        return self.spec.family == "a4"


def setting_for(config, problem: str, m: int, data_dir: str | None = None) -> Setting:
    """The :class:`Setting` of ``problem`` at batch ``m`` under a C5 config."""
    fam = PROBLEMS[problem].family
    if fam == "a4":
        return Setting(problem, config.N_mnist, 784, config.mnist_kappa, m, c0=config.mnist_c0,
                       digit=config.digit, n_train=config.n_train, data_dir=data_dir,
                       dtype=config.dtype)
    d = {"a1": config.d_a1, "a2": config.d_a2, "a3": config.d_a3}[fam]
    return Setting(problem, config.N, d, KAPPAS[problem], m,
                   s0=config.s0 if fam == "a3" else 0, dtype=config.dtype)


class Built(NamedTuple):
    """A setting's objects, made once per process: the landscape, the cheap in-run
    observables, ``evaluate`` (one network → its scores), ``init`` (key → θ0) and, for
    finite data, the batches per epoch."""

    landscape: Any
    observables: dict
    evaluate: Any
    init: Any
    batches_per_epoch: int


_BUILT: dict[Setting, Built] = {}
_MNIST: dict[tuple, Any] = {}
_SCORERS: dict[Setting, Any] = {}


def _scorer(setting: Setting, make):
    """One jitted scoring function per setting up to the batch size (shared by every m); a
    test set it closes over is passed as an argument, not compiled in."""
    from mflab.driver import jit_with_array_arguments

    k = replace(setting, m=0)
    if k not in _SCORERS:
        _SCORERS[k] = jit_with_array_arguments(make())
    return _SCORERS[k]


def build(setting: Setting) -> Built:
    """The landscape, observables and evaluation of ``setting`` (cached per process)."""
    if setting not in _BUILT:
        _BUILT[setting] = _build(setting)
    return _BUILT[setting]


def _units_and_data(setting: Setting):
    from mflab.meanfield import (
        UNIT_RELU,
        AnisotropicGaussians,
        IsotropicGaussians,
        sigma_a1,
        sigma_a2,
        unit_a,
    )

    spec = setting.spec
    if spec.family == "a1":
        return unit_a(sigma_a1()), IsotropicGaussians(delta=spec.delta, d=setting.d)
    if spec.family == "a2":
        return unit_a(sigma_a2()), IsotropicGaussians(delta=spec.delta, d=setting.d)
    return UNIT_RELU, AnisotropicGaussians(delta=spec.delta, d=setting.d, s0=setting.s0)


def _build(setting: Setting) -> Built:
    from mflab.meanfield import exact_risk, init_particles, mean_norm, network_landscape

    if setting.finite:
        return _build_mnist(setting)
    units, data = _units_and_data(setting)
    land = network_landscape(units, data, setting.N, batch_size=setting.m)
    risk = _scorer(setting, lambda: lambda theta: exact_risk(units, data, theta))

    def evaluate(theta) -> dict[str, float]:
        theta = jnp.asarray(theta, jnp.float64)  # the exact risk in float64 always
        if not bool(jnp.all(jnp.isfinite(theta))):
            return {"risk": np.inf}
        return {"risk": float(risk(theta))}

    def init(key):
        return init_particles(key, units, setting.N, setting.d, setting.kappa,
                              dtype=jnp.dtype(setting.dtype))

    return Built(land, {"mean_norm": mean_norm(units)}, evaluate, init, 0)


def mnist_data(data_dir: str | None, digit: int, n_train: int | None, dtype: str = "float32"):
    """The (train, test) one-vs-rest sets (cached per process)."""
    k = (data_dir, digit, n_train, dtype)
    if k not in _MNIST:
        from mflab.mnist import load_mnist, mnist_sets

        data = load_mnist(data_dir, progress=False)
        _MNIST[k] = mnist_sets(data, digit, n_train=n_train, dtype=np.dtype(dtype))
    return _MNIST[k]


def _build_mnist(setting: Setting) -> Built:
    from mflab.meanfield import (
        UNIT_SIGMOID,
        data_risk_accuracy,
        init_particles,
        mean_norm,
        network_landscape,
    )

    train, test = mnist_data(setting.data_dir, setting.digit, setting.n_train, setting.dtype)
    land = network_landscape(UNIT_SIGMOID, train, setting.N, batch_size=setting.m, seed=0)
    metrics = _scorer(setting, lambda: lambda theta: data_risk_accuracy(UNIT_SIGMOID, theta,
                                                                        test.x, test.y))

    def evaluate(theta) -> dict[str, float]:
        theta = jnp.asarray(theta)
        if not bool(jnp.all(jnp.isfinite(theta))):
            return {"test_risk": np.inf, "test_accuracy": 0.0}
        r, a = metrics(theta)
        return {"test_risk": float(r), "test_accuracy": float(a)}

    def init(key):
        return init_particles(key, UNIT_SIGMOID, setting.N, 784, setting.kappa, c0=setting.c0,
                              c_init="uniform", dtype=jnp.dtype(setting.dtype))

    return Built(land, {"mean_norm": mean_norm(UNIT_SIGMOID)}, evaluate, init,
                 land.info["batches_per_epoch"])


def score_name(problem: str) -> str:
    """The metric a problem is tuned and compared on: ``risk`` (exact) or ``test_risk``."""
    return "test_risk" if PROBLEMS[problem].family == "a4" else "risk"


def reached(problem: str, scores: dict[str, np.ndarray], target: float) -> np.ndarray:
    """Where a record meets the problem's target: risk ≤ target (A1–A3), test accuracy ≥
    target (A4)."""
    if PROBLEMS[problem].family == "a4":
        return np.asarray(scores["test_accuracy"]) >= target
    return np.asarray(scores["risk"]) <= target


def target_for(config, problem: str) -> float:
    """The target of a problem: ``target_factor`` × the DD stationary risk (A1–A3; for the
    bad A2 start and both A3 starts the risk of the trained stationary point, so reaching it
    means escaping), or ``target_accuracy`` (A4)."""
    fam = PROBLEMS[problem].family
    if fam == "a4":
        return config.target_accuracy
    dd = {"a1": config.dd_risk_a1, "a2": config.dd_risk_a2, "a3": config.dd_risk_a3}[fam]
    return config.target_factor * dd
