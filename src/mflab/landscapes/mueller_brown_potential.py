"""The Müller–Brown potential (Müller & Brown, Theor. Chim. Acta 53, 1979; SPEC C6).

    V(x, y) = Σ_{k=1..4} A_k exp[a_k (x−x0_k)² + b_k (x−x0_k)(y−y0_k) + c_k (y−y0_k)²]

Three minima (A global and narrow, B, C) and two saddles. The gradient is written
by hand: on this potential it beats ``jax.grad`` by a wide margin in the hot loop
(measured in ``benchmarks/``), and a test checks it against ``jax.grad``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from mflab.landscapes.base import Landscape, StationaryPoint

A = (-200.0, -100.0, -170.0, 15.0)
a = (-1.0, -1.0, -6.5, 0.7)
b = (0.0, 0.0, 11.0, 0.6)
c = (-10.0, -10.0, -6.5, 0.7)
x0 = (1.0, 0.0, -0.5, -1.0)
y0 = (0.0, 0.5, 1.5, 1.0)

#: Standard stationary points (SPEC C6 table).
STATIONARY_POINTS = (
    StationaryPoint("A", np.array([-0.558224, 1.441726]), -146.69952, "minimum"),
    StationaryPoint("B", np.array([0.623499, 0.028038]), -108.16672, "minimum"),
    StationaryPoint("C", np.array([-0.050011, 0.466694]), -80.76782, "minimum"),
    StationaryPoint("AC", np.array([-0.822002, 0.624313]), -40.66484, "saddle"),
    StationaryPoint("CB", np.array([0.212487, 0.292988]), -72.24894, "saddle"),
)

#: Box of the SPEC C6 uniform starts.
START_BOX = ((-1.5, 1.2), (-0.2, 2.0))


def _terms(p):
    x, y = p[..., 0], p[..., 1]
    dx = [x - x0k for x0k in x0]
    dy = [y - y0k for y0k in y0]
    e = [
        A[k] * jnp.exp(a[k] * dx[k] ** 2 + b[k] * dx[k] * dy[k] + c[k] * dy[k] ** 2)
        for k in range(4)
    ]
    return dx, dy, e


def value(p: jnp.ndarray) -> jnp.ndarray:
    """V(p) for ``p`` of shape ``(..., 2)``; returns shape ``(...)``."""
    _, _, e = _terms(p)
    return e[0] + e[1] + e[2] + e[3]


def grad(p: jnp.ndarray) -> jnp.ndarray:
    """∇V(p) by hand, ``(..., 2) -> (..., 2)``:
    ∂_x V = Σ_k E_k (2 a_k dx_k + b_k dy_k), ∂_y V = Σ_k E_k (b_k dx_k + 2 c_k dy_k)."""
    dx, dy, e = _terms(p)
    gx = sum(e[k] * (2 * a[k] * dx[k] + b[k] * dy[k]) for k in range(4))
    gy = sum(e[k] * (b[k] * dx[k] + 2 * c[k] * dy[k]) for k in range(4))
    return jnp.stack([gx, gy], axis=-1)


def mueller_brown() -> Landscape:
    """The Müller–Brown landscape with its five stationary points (SPEC C6)."""
    return Landscape(
        name="mueller-brown",
        value=value,
        grad=grad,
        dim=2,
        stationary_points=STATIONARY_POINTS,
        bounds=START_BOX,
    )
