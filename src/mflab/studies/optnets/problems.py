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
| S3-d3, -d4, -d5 | C7 | 3-spin target, kernel network of n units | SPEC C7 | exact L/(½E f²) |

(which A2 start is bad and which A3 start stalls: ``docs/results/meanfield.md``, C2 and C3.)
A :class:`Setting` — the problem, its sizes and the batch m — is everything a worker
needs to build the landscape; :func:`build` caches what it builds per setting, so every job
of the same setting that lands on a worker reuses the compiled code.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mflab.compare import Problem, Target
from mflab.studies.optnets.spin import (
    SPIN_DIMS,
    SpinProblem,
    spin_problem_for,
    spin_start_features,
)


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
    *(ProblemSpec(f"S3-d{d}", "s3", 0.0, f"C7: 3-spin kernel network, d = {d} "
                  "(risk = L/(½E f²))") for d in SPIN_DIMS),
)}
PROBLEM_IDS = tuple(PROBLEMS)
#: κ of the initial law w ~ N(0, κ²/d I) of the A1–A3 problems (SPEC C5; C2/C3 starts).
KAPPAS = {"A1": 0.8, "A2-bad": 0.1, "A2-good": 0.4, "A3-trains": 4.0, "A3-stalls": 0.8}
FAMILIES = ("a1", "a2", "a3", "a4", "s3")
#: A4: seed s of a comparison walks the epochs s·EPOCH_STRIDE, s·EPOCH_STRIDE + 1, … of the
#: one data sampler, i.e. its own random data order, without a landscape per seed (which
#: would compile anew).
EPOCH_STRIDE = 1000
#: Root seed of the fixed Monte Carlo sample that screens records (one sample per problem,
#: shared by every method and seed, so screened curves are paired like the runs).
ESTIMATE_SEED = 20_261_207


@dataclass(frozen=True)
class NetworkProblem(Problem):
    """One problem of C5 as a :class:`~mflab.compare.Problem` (hashable: every job of it
    that lands on a worker reuses what was built). A4 holds out the last ``n_val`` of its
    training images as the validation split (tuning never sees the test set)."""

    name: str
    N: int
    d: int
    kappa: float
    s0: int = 0
    c0: float = 1.0
    digit: int = 0
    n_train: int | None = None
    n_val: int = 0
    data_dir: str | None = None
    dtype: str = "float32"
    target: Target | None = None
    record_align: int = 1
    n_estimate: int = 0

    @property
    def spec(self) -> ProblemSpec:
        return PROBLEMS[self.name]

    @property
    def finite(self) -> bool:
        """A finite data set (A4): scored on held-out data, epochs without replacement."""
        return self.spec.family == "a4"

    @property
    def score_name(self) -> str:
        return score_name(self.name)

    @property
    def target_name(self) -> str:
        return "test_accuracy" if self.finite else "risk"

    def landscape(self, m):
        """The network's landscape at batch m; ``None`` (exact gradients): the gradient of
        the exact risk (A1–A3), none for A4."""
        return build(self).landscape(m)

    def init(self, key, agents: int):
        """θ0 of the seed, copied to every agent (a coupled ensemble's replicas start
        together, so the mean unit x̄ is meaningful)."""
        theta0 = build(self).init(key)
        return jnp.broadcast_to(theta0, (agents, *theta0.shape))

    def score(self, x, split: str) -> dict[str, float]:
        return build(self).evaluate(x, split)

    def estimate(self, x, split: str):
        """A1–A3 with ``n_estimate`` > 0: the risk's Monte Carlo estimate on a fixed sample
        of ``n_estimate`` points, in float32, with its standard error
        (:func:`~mflab.meanfield.risk_estimate`); the comparison then scores the exact risk
        only where the target crossing is in doubt. ``None`` otherwise."""
        f = build(self).estimate
        return None if f is None else f(x)

    def split_rows(self, split: str):
        """A4: validation = training rows [n_train − n_val, n_train); test = the 10 000 test
        images (rows 60 000 + i of the whole MNIST); A1–A3: population scores (``None``)."""
        if not self.finite:
            return None
        n = self.n_train or 60_000
        if split == "validation":
            return np.arange(n - self.n_val, n)
        return 60_000 + np.arange(10_000)

    def observables(self) -> dict:
        return build(self).observables

    def call_offset(self, seed: int, m) -> int:
        """A4: seed s walks the epochs s·EPOCH_STRIDE, … of the one data sampler (its own
        data order without a landscape per seed); 0 for fresh samples."""
        if not self.finite or m is None:
            return 0
        return seed * EPOCH_STRIDE * build(self).batches_per_epoch(m)


def problem_for(config, problem: str, data_dir: str | None = None) -> NetworkProblem:
    """The :class:`NetworkProblem` (:class:`~mflab.studies.optnets.spin.SpinProblem` for
    the C7 networks) of ``problem`` under a C5 config."""
    fam = PROBLEMS[problem].family
    t = target_for(config, problem)
    if fam == "s3":
        return spin_problem_for(config, problem, t)
    if fam == "a4":
        return NetworkProblem(problem, config.N_mnist, 784, config.mnist_kappa,
                              c0=config.mnist_c0, digit=config.digit, n_train=config.n_train,
                              n_val=config.n_val, data_dir=data_dir, dtype=config.dtype,
                              target=t)
    d = {"a1": config.d_a1, "a2": config.d_a2, "a3": config.d_a3}[fam]
    from mflab.meanfield.kernels import BLOCK

    return NetworkProblem(problem, config.N, d, KAPPAS[problem],
                          s0=config.s0 if fam == "a3" else 0, dtype=config.dtype, target=t,
                          record_align=BLOCK, n_estimate=config.estimate_samples)


class Built(NamedTuple):
    """A problem's objects, made once per process: ``landscape(m)``, the cheap in-run
    observables, ``evaluate(theta, split)`` (one network → its scores), ``init`` (key →
    θ0), for finite data ``batches_per_epoch(m)``, and where there is one ``estimate``
    (one network → ``{"risk": (R̂, SE)}``)."""

    landscape: Any
    observables: dict
    evaluate: Any
    init: Any
    batches_per_epoch: Any
    estimate: Any = None


_BUILT: dict = {}
_MNIST: dict[tuple, Any] = {}


def build(problem: NetworkProblem) -> Built:
    """The landscapes, observables and scorers of ``problem`` (cached per process)."""
    if problem not in _BUILT:
        _BUILT[problem] = _build_mnist(problem) if problem.finite else _build(problem)
    return _BUILT[problem]


def _units_and_data(problem: NetworkProblem):
    from mflab.meanfield import (
        UNIT_RELU,
        AnisotropicGaussians,
        IsotropicGaussians,
        sigma_a1,
        sigma_a2,
        unit_a,
    )

    spec = problem.spec
    if spec.family == "a1":
        return unit_a(sigma_a1()), IsotropicGaussians(delta=spec.delta, d=problem.d)
    if spec.family == "a2":
        return unit_a(sigma_a2()), IsotropicGaussians(delta=spec.delta, d=problem.d)
    return UNIT_RELU, AnisotropicGaussians(delta=spec.delta, d=problem.d, s0=problem.s0)


def _cached(fn):
    out: dict = {}

    def get(m):
        if m not in out:
            out[m] = fn(m)
        return out[m]

    return get


def _build(problem: NetworkProblem) -> Built:
    from mflab.driver import jit_with_array_arguments
    from mflab.landscapes import Landscape
    from mflab.meanfield import (
        exact_risk,
        init_particles,
        mean_norm,
        network_landscape,
        risk_estimate,
    )
    from mflab.meanfield.risk import risk_scale

    units, data = _units_and_data(problem)
    risk = jit_with_array_arguments(lambda theta: exact_risk(units, data, theta))
    scale = jit_with_array_arguments(lambda theta: risk_scale(units, data, theta))

    def landscape(m):
        if m is None:  # the mechanism control: the exact risk's gradient
            return Landscape(f"{problem.name}-exact", lambda th: exact_risk(units, data, th))
        return network_landscape(units, data, problem.N, batch_size=m)

    def evaluate(theta, split) -> dict[str, float]:
        theta = jnp.asarray(theta, jnp.float64)  # the exact risk in float64 always
        if not bool(jnp.all(jnp.isfinite(theta))):
            return {"risk": np.inf}
        return {"risk": usable_risk(float(risk(theta)), float(scale(theta)))}

    def init(key):
        return init_particles(key, units, problem.N, problem.d, problem.kappa,
                              dtype=jnp.dtype(problem.dtype))

    estimate = None
    if problem.n_estimate:
        key = jax.random.fold_in(jax.random.key(ESTIMATE_SEED), zlib.crc32(problem.name.encode()))
        xe, ye = data.sample(key, problem.n_estimate, dtype=jnp.float32)
        est = jit_with_array_arguments(lambda theta: risk_estimate(units, theta, xe, ye))

        def estimate(theta) -> dict[str, tuple[float, float]]:
            theta = jnp.asarray(theta, jnp.float32)
            if not bool(jnp.all(jnp.isfinite(theta))):
                return {"risk": (np.inf, 0.0)}
            v, se = est(theta)
            return {"risk": (float(v), float(se))}

    return Built(_cached(landscape), {"mean_norm": mean_norm(units)}, evaluate, init, None,
                 estimate)


def start_features(problem: NetworkProblem, key, n: int):
    """``(predict, θ0, x)``: the network's output map, its start θ0(``key``) and ``n``
    inputs to estimate its tangent curvature on (A1–A3: fresh samples; A4: the first n
    training images, never the validation or test images; S3: fresh uniform points), in
    the problem's dtype."""
    if isinstance(problem, SpinProblem):
        return spin_start_features(problem, key, n)
    if problem.finite:
        from mflab.meanfield import UNIT_SIGMOID

        full, _ = mnist_data(problem.data_dir, problem.digit, problem.n_train, problem.dtype)
        theta0 = build(problem).init(key)
        x = full.x[: min(n, full.n - problem.n_val)]
        return (lambda th, xb: jnp.mean(UNIT_SIGMOID(th, xb), axis=0)), theta0, x
    units, data = _units_and_data(problem)
    theta0 = build(problem).init(key)
    x, _ = data.sample(jax.random.fold_in(key, 1), n, dtype=theta0.dtype)
    return (lambda th, xb: jnp.mean(units(th, xb), axis=0)), theta0, x


def critical_batch_at_start(problem: NetworkProblem, key, n: int) -> dict:
    """Liu & Belkin's critical batch m* of an A1–A3 or S3 network at its start θ0(``key``), from
    ``n`` fresh samples (:func:`mflab.optimizers.critical_batch`: the tangent features
    ∇_θ ŷ(x; θ0); ``m_star`` and ``m_star_held_out`` bracket m* = tr H / λ_max(H))."""
    from mflab.optimizers import critical_batch

    with jax.enable_x64(True):
        cb = critical_batch(*start_features(problem, key, n))
    return {"problem": problem.name, **cb._asdict()}


def tangent_curvature_at_start(problem: NetworkProblem, key, n: int, modes: int) -> dict:
    """Liu & Belkin's constants of the network's loss at its start — the risk E[(y − ŷ)²]
    (loss scale 2), or for S3 L = ½E(f − f_n)² (scale 1) — on the top-j eigenspaces of the
    tangent curvature from ``n`` samples, j = 1 … ``modes``
    (:func:`mflab.optimizers.tangent_curvature`), as lists."""
    from mflab.optimizers import tangent_curvature

    scale = 1.0 if isinstance(problem, SpinProblem) else 2.0
    with jax.enable_x64(True):
        tc = tangent_curvature(*start_features(problem, key, n), modes=modes, loss_scale=scale)
    return {"problem": problem.name, "lam": tc.lam.tolist(), "L1": tc.L1.tolist(),
            "kappa_tilde": tc.kappa_tilde.tolist(), "trace": tc.trace, "samples": tc.samples}


def usable_risk(r: float, scale: float) -> float:
    """The exact risk as a score, +inf where it has lost its digits: R_N ≥ 0 is the sum of
    terms whose magnitudes add up to at most ``scale``
    (:func:`~mflab.meanfield.risk.risk_scale`), computed to ~1e-11 of it; a value below
    1e-6 × ``scale`` (negative ones included) comes from units that blew up, their huge
    terms cancelling — scored like a diverged run, never as a record low (B10 at a large HJ
    coupling scored −1.7e17 in tuning and was chosen, before this check). Every C5 risk is
    above 0.01 with a scale of a few units."""
    return r if r >= 1e-6 * scale else np.inf


def mnist_data(data_dir: str | None, digit: int, n_train: int | None, dtype: str = "float32"):
    """The (train, test) one-vs-rest sets (cached per process)."""
    k = (data_dir, digit, n_train, dtype)
    if k not in _MNIST:
        from mflab.mnist import load_mnist, mnist_sets

        data = load_mnist(data_dir, progress=False)
        _MNIST[k] = mnist_sets(data, digit, n_train=n_train, dtype=np.dtype(dtype))
    return _MNIST[k]


def _build_mnist(problem: NetworkProblem) -> Built:
    from mflab.driver import jit_with_array_arguments
    from mflab.meanfield import (
        UNIT_SIGMOID,
        FiniteData,
        data_risk_accuracy,
        init_particles,
        mean_norm,
        network_landscape,
    )

    full, test = mnist_data(problem.data_dir, problem.digit, problem.n_train, problem.dtype)
    n = full.n - problem.n_val
    train = FiniteData(full.x[:n], full.y[:n], "mnist-train")
    val = FiniteData(full.x[n:], full.y[n:], "mnist-validation")
    metrics = jit_with_array_arguments(
        lambda theta, x, y: data_risk_accuracy(UNIT_SIGMOID, theta, x, y))
    sets = {"validation": val, "test": test}

    def landscape(m):
        if m is None:
            return None
        return network_landscape(UNIT_SIGMOID, train, problem.N, batch_size=m, seed=0)

    def evaluate(theta, split) -> dict[str, float]:
        theta = jnp.asarray(theta)
        if not bool(jnp.all(jnp.isfinite(theta))):
            return {"test_risk": np.inf, "test_accuracy": 0.0}
        r, a = metrics(theta, sets[split].x, sets[split].y)
        return {"test_risk": float(r), "test_accuracy": float(a)}

    def init(key):
        return init_particles(key, UNIT_SIGMOID, problem.N, 784, problem.kappa, c0=problem.c0,
                              c_init="uniform", dtype=jnp.dtype(problem.dtype))

    lands = _cached(landscape)
    return Built(lands, {"mean_norm": mean_norm(UNIT_SIGMOID)}, evaluate, init,
                 lambda m: lands(m).info["batches_per_epoch"])


def score_name(problem: str) -> str:
    """The metric a problem is tuned and compared on: ``risk`` (exact) or ``test_risk``."""
    return "test_risk" if PROBLEMS[problem].family == "a4" else "risk"


def target_for(config, problem: str) -> Target:
    """The target of a problem: ``target_factor`` × the DD stationary risk (A1–A3; for the
    bad A2 start and both A3 starts the risk of the trained stationary point, so reaching it
    means escaping), with the DD's error estimate (the harness refuses one above 10 % of the
    target, SPEC C5); ``target_accuracy`` (A4, a stated level); ``target_s3`` (S3, a stated
    relative loss, exact). ``config`` may be the config or its saved dict."""
    fam = PROBLEMS[problem].family
    if not isinstance(config, dict):
        config = dataclasses.asdict(config)
    if fam == "a4":
        return Target(config["target_accuracy"], 0.0, higher=True, source="stated accuracy")
    if fam == "s3":
        return Target(config["target_s3"], 0.0,
                      source=f"stated relative loss {config['target_s3']:g} (exact)")
    dd, err, k = config[f"dd_risk_{fam}"], config[f"dd_error_{fam}"], config["target_factor"]
    return Target(k * dd, err, source=f"{k:g} × DD stationary risk {dd:g} (error {err:g}, "
                  "docs/results/meanfield.md)")
