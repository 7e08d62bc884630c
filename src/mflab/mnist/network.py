"""The two-layer network of SPEC A4 (unit type (c)) and its mean-field SGD step.

Shapes: N hidden units, d = 784 inputs. Parameters ``MnistParams(c, w)`` with
``c`` ``(N,)`` and ``w`` ``(N, d)`` — unit i is θ_i = (c_i, w_i). Inputs ``x``
``(n, d)``, targets ``y`` ``(n,)`` in {−1, +1}.

    ŷ(x; θ) = (1/N) Σ_i c_i sigmoid(⟨w_i, x⟩)                      (SPEC Part A, type (c))

Mean-field SGD on the square loss, mini-batch B of size m (SPEC Part A; no 1/N):

    r_b   = y_b − ŷ(x_b; θ)
    c_i  ← c_i + 2 s (1/m) Σ_b r_b sigmoid(⟨w_i, x_b⟩)
    w_i  ← w_i + 2 s (1/m) Σ_b r_b c_i sigmoid'(⟨w_i, x_b⟩) x_b

i.e. θ_i ← θ_i + 2 s (1/m) Σ_b r_b ∇_θ σ*(x_b; θ_i) = θ_i − s N ∇_{θ_i} R̂_B(θ), with
R̂_B the batch mean of (y − ŷ)². Reference: Mei, Montanari & Nguyen 2018, eq. (3)
and (6); Sirignano & Spiliopoulos 2020, eq. (1.2) (their network, our scaling).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mflab.optimizers.base import check_positive

C_INITS = ("uniform", "normal")


class MnistParams(NamedTuple):
    """θ = (c, w): output weights ``c`` ``(N,)`` and input weights ``w`` ``(N, d)``."""

    c: jax.Array
    w: jax.Array


def init_params(
    key: jax.Array,
    N: int,
    d: int = 784,
    *,
    kappa: float = 1.0,
    c_init: str = "uniform",
    c_scale: float = 1.0,
    dtype=jnp.float32,
) -> MnistParams:
    """Draw θ_i iid from the initial law ρ_0.

    w_i ~ N(0, κ²/d I_d) (as SPEC A1–A2), so ⟨w_i, x⟩ has variance κ²|x|²/d — for
    MNIST pixels in [0, 1], |x|²/d ≈ 0.1, so the pre-activations start O(κ/3) and the
    sigmoid starts in its linear range. c_i ~ U[−c_scale, c_scale] (``"uniform"``,
    default: the initial law of Sirignano & Spiliopoulos' experiment) or
    N(0, c_scale²) (``"normal"``).

    Args:
      key: PRNG key.
      N: number of hidden units.
      d: input dimension (784).
      kappa: κ, scale of w (default 1).
      c_init: ``"uniform"`` or ``"normal"``.
      c_scale: half-width / standard deviation of c (default 1).
      dtype: parameter dtype (default float32; Gaussian draws are in float32 and cast).
    """
    kappa = check_positive("kappa", kappa, allow_zero=True)
    c_scale = check_positive("c_scale", c_scale, allow_zero=True)
    if c_init not in C_INITS:
        raise ValueError(f"c_init must be one of {C_INITS}; got {c_init!r}.")
    kc, kw = jax.random.split(key)
    w = jax.random.normal(kw, (N, d), jnp.float32) * (kappa / np.sqrt(d))
    if c_init == "uniform":
        c = jax.random.uniform(kc, (N,), jnp.float32, -1.0, 1.0) * c_scale
    else:
        c = jax.random.normal(kc, (N,), jnp.float32) * c_scale
    return MnistParams(c.astype(dtype), w.astype(dtype))


def predict(params: MnistParams, x: jax.Array) -> jax.Array:
    """ŷ(x) = (1/N) Σ_i c_i sigmoid(⟨w_i, x⟩) for a batch ``x`` ``(n, d)`` → ``(n,)``."""
    z = x @ params.w.T
    return jax.nn.sigmoid(z) @ params.c / params.c.shape[0]


def sgd_step(
    params: MnistParams, x: jax.Array, y: jax.Array, s: jax.Array
) -> tuple[MnistParams, jax.Array]:
    """One mean-field SGD step on the mini-batch (x ``(m, d)``, y ``(m,)``) with step s.

    Returns the new parameters and the batch risk (1/m) Σ_b (y_b − ŷ_b)² *before* the
    step. Equations in the module docstring.
    """
    m = x.shape[0]
    N = params.c.shape[0]
    sig = jax.nn.sigmoid(x @ params.w.T)  # (m, N)
    r = y - sig @ params.c / N  # (m,)
    g = (2 * s / m) * r  # (m,)
    dc = g @ sig  # (N,)
    dw = ((g[:, None] * sig * (1 - sig)) * params.c[None, :]).T @ x  # (N, d)
    return MnistParams(params.c + dc, params.w + dw), jnp.mean(r * r)


def evaluate(params: MnistParams, x: jax.Array, y: jax.Array, chunk: int = 1000):
    """Risk (1/n) Σ (y − ŷ)² and accuracy (1/n) Σ 1[sign ŷ = y] on (x, y), in chunks.

    ŷ = 0 counts as the −1 class. ``x`` is split into chunks of ``chunk`` rows so the
    ``(chunk, N)`` pre-activations stay small at N = 10⁴.
    """
    n = x.shape[0]
    pad = (-n) % chunk
    xp = jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, chunk, x.shape[1])
    yhat = jax.lax.map(lambda xb: predict(params, xb), xp).reshape(-1)[:n]
    risk = jnp.mean((y - yhat) ** 2)
    acc = jnp.mean(jnp.where(yhat > 0, 1, -1) == y)
    return risk, acc
