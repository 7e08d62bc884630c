"""The kernel network of SPEC C7: Gaussian kernels centred on the sphere.

    f_n(x) = (1/n) Σ_i c_i φ(x, z_i),   φ(x, z) = exp(−½ α |x − z|²),

with centres z_i ∈ S^{d−1}(√d) (report eqs. 43, 45). On the sphere
|x − z|² = 2d − 2 x·z, so φ = e^{−αd} e^{+α x·z} (erratum 4: the report's eq. 44 has the
wrong sign). One agent's parameters are a :class:`KernelParams` pytree
(``c: (n,)``, ``z: (n, d)``); an ensemble adds a leading agent axis to both leaves.

Reference: Rotskoff & Vanden-Eijnden, CPAM 2022 (arXiv:1805.00915), §5.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from mflab.spherical.sphere import check_dimension, uniform_sphere
from mflab.validation import check_int, check_positive


def check_width(n) -> int:
    """n ≥ 1 kernel units."""
    return check_int("n (number of kernel units)", n)


class KernelParams(NamedTuple):
    """One agent's kernel network: weights ``c`` ``(n,)`` and centres ``z`` ``(n, d)``."""

    c: jax.Array
    z: jax.Array


def default_alpha(d: int) -> float:
    """α = 5/d, the default of SPEC C7 (erratum 8: the report's "α = 5/d = 1" is d = 5 only)."""
    return 5.0 / check_dimension(d)


def gaussian_kernel(x: jax.Array, z: jax.Array, alpha: float) -> jax.Array:
    """φ(x, z) = exp(−½ α |x − z|²) for all pairs: ``x (..., d)``, ``z (n, d)`` → ``(..., n)``.

    |x − z|² is expanded as |x|² + |z|² − 2 x·z (one matrix product) and clipped at 0.
    """
    sq = (
        jnp.sum(x * x, axis=-1)[..., None]
        + jnp.sum(z * z, axis=-1)
        - 2.0 * (x @ z.T)
    )
    return jnp.exp(-0.5 * alpha * jnp.maximum(sq, 0.0))


def kernel_network(params: KernelParams, x: jax.Array, alpha: float) -> jax.Array:
    """f_n(x) = (1/n) Σ_i c_i φ(x, z_i) for points ``x (..., d)`` → ``(...)`` (report eq. 45)."""
    c, z = params
    return gaussian_kernel(x, z, alpha) @ c / c.shape[0]


def init_kernel_params(
    key: jax.Array, n: int, d: int, c0: float, dtype=None
) -> KernelParams:
    """The initial law of SPEC C7: z_i iid uniform on S^{d−1}(√d), c_i iid U[−c0, c0].

    ``c0 = 0`` starts from f_n ≡ 0 (all centres still random). See
    ``docs/three-spin-model.md`` for which c0 trains stably.

    Args:
      key: a ``jax.random`` key (split into one for z, one for c).
      n: number of kernel units (≥ 1).
      d: dimension (≥ 3).
      c0: half-width of the weights' uniform law (≥ 0).
      dtype: floating dtype (default ``jnp.result_type(float)``).
    """
    n, d = check_width(n), check_dimension(d)
    c0 = check_positive("c0", c0, allow_zero=True)
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    return _init(key, n, d, c0, dtype)


@partial(jax.jit, static_argnums=(1, 2, 4))
def _init(key, n, d, c0, dtype):
    kz, kc = jax.random.split(key)
    z = uniform_sphere(kz, n, d, dtype)
    c = jax.random.uniform(kc, (n,), jnp.float32, -1.0, 1.0).astype(dtype) * c0
    return KernelParams(c=c, z=z)

