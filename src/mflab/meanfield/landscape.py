"""The two-layer network as a landscape (SPEC A5): every Part B optimiser runs on it.

One agent's parameters are the whole network θ = (θ_1, …, θ_N), an ``(N, D)`` array; an
ensemble of R replicas is ``(R, N, D)``. The objective is the risk

    R_N(θ) = E[(y − ŷ(x; θ))²],    ŷ(x; θ) = (1/N) Σ_i σ*(x; θ_i),

and the stochastic oracle draws m samples and returns the gradient of the batch square loss
(:func:`~mflab.meanfield.network.batch_grad`): fresh samples from the data model for A1–A3,
a mini-batch without replacement within each epoch for a finite data set (A4, MNIST;
:class:`~mflab.landscapes.sampling.EpochSampler`). Since ∂R_N/∂θ_i = −(2/N) E[(y − ŷ)
∇σ*(x; θ_i)], B1 with η_k = N ε ξ(kε) (:func:`mflab.schedules.meanfield_learning_rate`)
*is* the online SGD of SPEC Part A, and step k is time t = kε for every optimiser.

Its value is the exact risk where it exists (units of type a and b on the Gaussian data of
A1–A3, :func:`~mflab.meanfield.risk.exact_risk`), a Monte Carlo estimate on a fixed sample
for sigmoid units on Gaussian data, and the full-data risk for a finite data set.

For B1 and for B2/B4 with a fixed γ at small batches the landscape offers the driver a fast
path: the exact blocked kernels of :mod:`~mflab.meanfield.blocked` (equal to the plain
steps to rounding, tested), found by optimiser type in :data:`mflab.meanfield.kernels.
network_kernels`, where a user's optimiser can register its own.

Reference: SPEC A5; Mei, Montanari & Nguyen, PNAS 2018; Sirignano & Spiliopoulos 2020.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from mflab.landscapes.base import Landscape
from mflab.landscapes.sampling import EpochSampler
from mflab.meanfield import network
from mflab.meanfield.activations import UnitType
from mflab.meanfield.kernels import NetworkOracle
from mflab.meanfield.kernels import fast_path as network_fast_path
from mflab.observables import sequential
from mflab.validation import check_int

#: Chunk of examples for full-data risks and gradients (memory ∝ chunk · N).
EVAL_CHUNK = 1000


@dataclass(frozen=True, eq=False)
class FiniteData:
    """A finite data set (x ``(n, d)``, y ``(n,)``, labels ±1) as the data model of a network.

    ``d`` and ``n`` are read off the arrays.
    """

    x: jax.Array
    y: jax.Array
    name: str = "data"

    def __post_init__(self):
        x, y = jnp.asarray(self.x), jnp.asarray(self.y)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(f"FiniteData needs x of shape (n, d) and y of shape (n,); got "
                             f"{x.shape} and {y.shape}.")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    @property
    def d(self) -> int:
        return int(self.x.shape[1])

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


def _chunks(x, y, chunk: int = EVAL_CHUNK):
    """x (n, d), y (n,) cut into zero-padded chunks: (x (C, c, d), y (C, c), mask (C, c))."""
    n = x.shape[0]
    c = min(chunk, n)
    pad = (-n) % c
    return (jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, c, x.shape[1]),
            jnp.pad(y, (0, pad)).reshape(-1, c), (jnp.arange(n + pad) < n).reshape(-1, c))


def chunked_mean(fn, x, y, chunk: int = EVAL_CHUNK):
    """(1/n) Σ_l fn(x_l, y_l) summed chunk by chunk (``fn`` maps a chunk to per-example values,
    or to a tuple of them: one mean each; padding is masked)."""

    def one(args):
        xb, yb, mb = args
        return jax.tree_util.tree_map(lambda v: jnp.sum(jnp.where(mb, v, 0.0)), fn(xb, yb))

    sums = jax.lax.map(one, _chunks(x, y, chunk))
    return jax.tree_util.tree_map(lambda s: jnp.sum(s) / x.shape[0], sums)


def data_risk(units: UnitType, theta, x, y):
    """Mean of (y − ŷ(x; θ))² over a finite set (chunked)."""
    return chunked_mean(lambda xb, yb: (yb.astype(theta.dtype)
                                        - network.predict(units, theta, xb)) ** 2, x, y)


def data_accuracy(units: UnitType, theta, x, y):
    """Fraction of examples with sign ŷ = y (ŷ = 0 counts as −1), chunked."""
    return data_risk_accuracy(units, theta, x, y)[1]


def data_risk_accuracy(units: UnitType, theta, x, y):
    """(:func:`data_risk`, :func:`data_accuracy`) from one pass over the set: the forward
    pass, not the two reductions, is the cost."""
    def per_example(xb, yb):
        yb = yb.astype(theta.dtype)
        yhat = network.predict(units, theta, xb)
        return (yb - yhat) ** 2, (jnp.where(yhat > 0, 1.0, -1.0) == yb).astype(theta.dtype)

    return chunked_mean(per_example, x, y)


def risk_estimate(units: UnitType, theta, x, y):
    """Monte Carlo estimate of R_N(θ) = E[(y − ŷ(x; θ))²] on a sample of a two-class data
    model with P(y = ±1) = ½ (A1–A3), post-stratified by class, and its standard error:

        R̂ = ½ (L̄₊ + L̄₋),    SE² = ¼ (s₊²/n₊ + s₋²/n₋),

    with L̄±, s±² the mean and sample variance of the loss (y − ŷ)² over the n± examples of
    class ±1 (each class needs two). Unbiased given the class counts; the C5 harness screens
    records with it and scores the exact risk only where the target is in doubt
    (:mod:`mflab.compare.jobs`). Returns ``(R̂, SE)`` as arrays of θ's dtype.

    Reference: Cochran, *Sampling Techniques* (3rd ed., 1977), §5A.9 (post-stratification).
    """
    yv = y.astype(theta.dtype)
    loss = (yv - network.predict(units, theta, x.astype(theta.dtype))) ** 2
    pos = yv > 0

    def stratum(mask):
        n = jnp.sum(mask)
        mean = jnp.sum(jnp.where(mask, loss, 0.0)) / n
        var = jnp.sum(jnp.where(mask, (loss - mean) ** 2, 0.0)) / (n - 1)
        return mean, var / n

    (m1, v1), (m2, v2) = stratum(pos), stratum(~pos)
    return 0.5 * (m1 + m2), 0.5 * jnp.sqrt(v1 + v2)


def data_grad(units: UnitType, theta, x, y):
    """∇_θ of the full-data risk (1/n) Σ_l (y_l − ŷ(x_l; θ))², summed chunk by chunk."""
    n = x.shape[0]

    def chunk_grad(args):
        xb, yb, mb = args
        xb = xb.astype(theta.dtype)
        extra, w = units.split(theta)
        val, dz, dex = units.local(w @ xb.T, extra)
        err = (yb.astype(theta.dtype) - jnp.mean(val, axis=0)) * mb  # padding contributes 0
        coef = (-2.0 / (theta.shape[0] * n)) * err
        return units.join(jnp.sum(dex * coef, axis=-1), (dz * coef) @ xb)

    return jnp.sum(jax.lax.map(chunk_grad, _chunks(x, y)), axis=0)


def _fixed_sample(data, n_eval: int, seed: int):
    key = jax.random.fold_in(jax.random.key(seed), 2**20)
    return data.sample(key, n_eval)


def network_landscape(units: UnitType, data, N: int, *, batch_size: int = 1, seed: int = 0,
                      n_eval: int = 20_000) -> Landscape:
    """R_N of a network of ``N`` units on ``data`` as a :class:`~mflab.landscapes.Landscape`.

    Args:
      units: unit type (a, b or c; :mod:`mflab.meanfield.activations`).
      data: a data model with ``sample(key, n)`` (A1–A3: :class:`IsotropicGaussians`,
        :class:`AnisotropicGaussians`; fresh samples per oracle call) or a
        :class:`FiniteData` set (A4; epochs without replacement).
      N: hidden units (the parameters of one agent are ``(N, D)``).
      batch_size: m, samples per oracle call (default 1: online SGD, SPEC Part A).
      seed: data-order seed of a finite data set (the epochs' permutations), and of the
        fixed Monte Carlo sample used as the value of sigmoid units on Gaussian data.
      n_eval: size of that Monte Carlo sample (default 20 000).

    Returns a landscape with ``value`` (the risk, see the module docstring), ``batch_size``,
    a data stream (``draw``, ``batch_grad``), ``grad`` (the full-data gradient for a finite
    set, else ``jax.grad`` of the value) and the fast path of the blocked kernels.
    """
    N = check_int("N", N)
    m = check_int("batch_size", batch_size)
    finite = isinstance(data, FiniteData)
    info = {"N": N, "d": data.d, "unit_kind": units.kind, "batch_size": m}

    def batch_grad(theta, batch):
        return network.batch_grad(units, theta, batch)

    if finite:
        sampler = EpochSampler(data.n, m, seed)
        x_all, y_all = data.x, data.y
        info.update(n=data.n, batches_per_epoch=sampler.batches_per_epoch)

        def draw(key, call, agent):
            idx = sampler.indices(call, agent)
            return x_all[idx], y_all[idx]

        def value(theta):
            return data_risk(units, theta, x_all, y_all)

        def grad(theta):
            return data_grad(units, theta, x_all, y_all)
    else:
        def draw(key, call, agent):
            return data.sample(key, m)

        grad = None
        if units.kind in ("a", "b"):
            from mflab.meanfield.risk import exact_risk

            value = sequential(lambda theta: exact_risk(units, data, theta))
        else:
            xe, ye = _fixed_sample(data, check_int("n_eval", n_eval), seed)
            info["value"] = f"Monte Carlo estimate on {n_eval} fixed samples"

            def value(theta):
                return data_risk(units, theta, xe, ye)

    fast_path = functools.partial(network_fast_path, NetworkOracle(units, draw, m))
    return Landscape(name=f"network-{units.kind}-N{N}", value=value, grad=grad, draw=draw,
                     batch_grad=batch_grad, batch_size=m, fast_path=fast_path, info=info)


# -------------------------------------------------------------------------- observables


def mean_norm(units: UnitType):
    """Observable: mean_i |w_i| of one network."""
    def fn(theta):
        return jnp.mean(jnp.linalg.norm(units.split(theta)[1], axis=1))

    return fn


def reduced_coordinates(units: UnitType, data, theta):
    """Low-dimensional coordinates of each unit: type a → (|w|,); type b → (a, b, r1, r2)
    with r1 = |w_{1..s0}|, r2 = |w_{s0+1..d}| (s0 = d for isotropic data); type c → (c, |w|).
    Shape (N, k)."""
    extra, w = units.split(theta)
    if units.kind == "a":
        return jnp.linalg.norm(w, axis=1, keepdims=True)
    if units.kind == "b":
        s0 = getattr(data, "s0", w.shape[1])
        r1 = jnp.linalg.norm(w[:, :s0], axis=1)
        r2 = jnp.linalg.norm(w[:, s0:], axis=1)
        return jnp.stack([extra[:, 0], extra[:, 1], r1, r2], axis=1)
    return jnp.stack([extra[:, 0], jnp.linalg.norm(w, axis=1)], axis=1)


def network_observables(units: UnitType, data, landscape: Landscape, *, reduced: bool = True,
                        test: FiniteData | None = None) -> dict:
    """The observables a study records for a network (one dict, define it once per run):
    ``risk`` (the landscape's value), ``mean_norm``, ``reduced`` (per-unit coordinates,
    :func:`reduced_coordinates`) and, with a ``test`` set, ``test_risk`` and
    ``test_accuracy``."""
    obs = {"risk": landscape.value, "mean_norm": mean_norm(units)}
    if reduced:
        obs["reduced"] = lambda theta: reduced_coordinates(units, data, theta)
    if test is not None:
        obs["test_risk", "test_accuracy"] = lambda theta: data_risk_accuracy(
            units, theta, test.x, test.y)
    return obs


def histogram_density(values, edges):
    """Histogram normalised to a density of mass 1 over ``edges`` (values outside are dropped
    and reported through the mass of the in-range part). Returns (density, mass_in_range)."""
    values = np.asarray(values).ravel()
    counts, _ = np.histogram(values, bins=edges)
    inside = counts.sum()
    dens = counts / (max(inside, 1) * np.diff(edges))
    return dens, inside / max(values.size, 1)
