"""The sphere S = S^{d−1}(√d) of SPEC C7: its uniform law μ, tangent spaces, retraction, eq. 47.

Points are arrays of shape ``(..., d)`` with |x| = √d. The uniform law μ is the image of a
standard Gaussian g ∈ R^d under g ↦ √d g/|g| (rotation invariance of the Gaussian); the
first coordinate t = x_1/√d then has density ∝ (1 − t²)^{(d−3)/2} on [−1, 1], i.e.
(t + 1)/2 ~ Beta((d−1)/2, (d−1)/2).

Reference: Rotskoff & Vanden-Eijnden, CPAM 2022 (arXiv:1805.00915), §5; report §3.2.5.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from mflab.validation import check_int


def check_dimension(d) -> int:
    """d ≥ 3: the sphere S^{d−1}(√d) of the 3-spin model (the Bessel order d/2 − 1 ≥ ½)."""
    return check_int("d (dimension)", d, minimum=3)


def uniform_sphere(key: jax.Array, num: int, d: int, dtype=None) -> jax.Array:
    """``num`` independent points of μ, the uniform law on S^{d−1}(√d): x = √d g/|g|.

    g ~ N(0, I_d) is drawn in float32 (JAX's float64 generator is several times slower)
    and cast to ``dtype`` before normalising, so |x| = √d holds to the rounding of
    ``dtype``; the direction carries float32 resolution (≈ 1e-7), far below any Monte
    Carlo error it is used for.

    Args:
      key: a ``jax.random`` key.
      num: number of points (≥ 1).
      d: dimension of the ambient space (≥ 1 here; the 3-spin model needs d ≥ 3).
      dtype: floating dtype of the result (default ``jnp.result_type(float)``).

    Returns:
      ``(num, d)`` array.
    """
    if int(num) < 1:
        raise ValueError(f"num (number of points) must be a positive integer; got {num}.")
    if int(d) < 1:
        raise ValueError(f"d must be a positive integer; got {d}.")
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    return _uniform_sphere(key, int(num), int(d), dtype)


@partial(jax.jit, static_argnums=(1, 2, 3))
def _uniform_sphere(key, num, d, dtype):
    g = jax.random.normal(key, (num, d), jnp.float32).astype(dtype)
    return retract_to_sphere(g)


def retract_to_sphere(z: jax.Array) -> jax.Array:
    """Retraction onto S^{d−1}(√d): z ↦ √d z/|z| along the last axis, shape ``(..., d)``.

    At |z| = √d its Jacobian is the tangent projection P_z = I − z zᵀ/d, so the Euclidean
    gradient of L(√d z/|z|) there is the Riemannian gradient of L on the sphere.
    """
    d = z.shape[-1]
    return z * (jnp.sqrt(jnp.asarray(d, z.dtype)) / jnp.linalg.norm(z, axis=-1, keepdims=True))


def tangent_project(z: jax.Array, g: jax.Array) -> jax.Array:
    """P_z g = g − (z·g) z/|z|²: the component of ``g`` tangent to the sphere at ``z``.

    Both arrays have shape ``(..., d)``; the projection acts row by row.
    """
    return g - jnp.sum(z * g, axis=-1, keepdims=True) / jnp.sum(z * z, axis=-1, keepdims=True) * z


def eq47_slice(theta: jax.Array, phi: jax.Array, d: int) -> jax.Array:
    """The slice of report eq. 47: x(θ, φ) = √d (sin θ cos φ, sin θ sin φ, cos θ, 0, …, 0).

    A 2-sphere of S^{d−1}(√d) through the first three axes, used for the contour plots of
    f and f_n (report fig. 16); θ ∈ [0, π], φ ∈ [0, 2π). ``theta`` and ``phi`` broadcast;
    the result has shape ``broadcast(theta, phi).shape + (d,)``.
    """
    check_dimension(d)
    theta, phi = jnp.broadcast_arrays(jnp.asarray(theta), jnp.asarray(phi))
    dtype = jnp.result_type(theta.dtype, float)
    theta, phi = theta.astype(dtype), phi.astype(dtype)
    first = jnp.stack(
        [jnp.sin(theta) * jnp.cos(phi), jnp.sin(theta) * jnp.sin(phi), jnp.cos(theta)], axis=-1
    )
    rest = jnp.zeros(theta.shape + (d - 3,), dtype)
    return jnp.sqrt(jnp.asarray(d, dtype)) * jnp.concatenate([first, rest], axis=-1)


def eq47_angles(z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(θ, φ) of the projection of points ``z`` (``(..., d)``) on the slice of eq. 47.

    The projection keeps the first three coordinates and rescales them onto the slice:
    θ = arccos(z_3/|z_{1:3}|) ∈ [0, π], φ = atan2(z_2, z_1) mod 2π ∈ [0, 2π). Inverse of
    :func:`eq47_slice` on the slice itself.
    """
    head = z[..., :3]
    r = jnp.linalg.norm(head, axis=-1)
    theta = jnp.arccos(jnp.clip(head[..., 2] / r, -1.0, 1.0))
    phi = jnp.mod(jnp.arctan2(head[..., 1], head[..., 0]), 2 * jnp.pi)
    return theta, phi
