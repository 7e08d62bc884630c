"""Data models of SPEC Part A: two centred Gaussian classes with labels y = ±1.

Both models draw y = ±1 with probability ½ and x | y ~ N(0, diag(v_y)), so each is
described by its two variance vectors ``class_variances`` (shape ``(2, d)``, row 0
for y = +1, row 1 for y = −1). They know their ground truth R# = E[y²] = 1.

* :class:`IsotropicGaussians` (A1/A2): v_± = (1 ± Δ)² · 1_d.
* :class:`AnisotropicGaussians` (A3): v_± = ((1 ± Δ)² ×s0, 1 ×(d − s0)).

Reference: SPEC A1–A3; report eqs. (36), (39)–(40); Mei, Montanari & Nguyen 2018, §2.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from mflab.validation import check_int, check_interval

LABELS = (1.0, -1.0)


def _check_delta(delta):
    """Δ ∈ [0, 1): the class scales 1 ± Δ must be positive."""
    return check_interval("Delta", delta, 0, 1)


class _TwoGaussians:
    d: int
    r_sharp: float = 1.0  # R# = E[y²] = 1 (labels ±1)

    def class_variances(self) -> np.ndarray:
        raise NotImplementedError

    def sample(self, key: jax.Array, n: int, dtype=None) -> tuple[jax.Array, jax.Array]:
        """n i.i.d. pairs (x, y): x (n, d), y (n,), both of ``dtype`` (default: JAX's
        default float, float64 under ``jax_enable_x64``).

        One draw of (n, d + 1) standard normals (in float32, cast: JAX's float64 PRNG is
        ~10x slower): the label is the sign of the last column (P(y = +1) = ½, independent
        of the others), x the first d columns scaled by the class's standard deviations.
        One PRNG call per batch keeps a per-step oracle cheap.
        """
        dtype = jnp.result_type(float) if dtype is None else dtype
        g = jax.random.normal(key, (n, self.d + 1), jnp.float32)
        y_pos = g[:, -1] > 0
        sd = jnp.asarray(np.sqrt(self.class_variances()), dtype)
        scale = jnp.where(y_pos[:, None], sd[0], sd[1])
        y = jnp.where(y_pos, 1.0, -1.0).astype(dtype)
        return g[:, :-1].astype(dtype) * scale, y


@dataclass(frozen=True)
class IsotropicGaussians(_TwoGaussians):
    """A1/A2 data: y = ±1 w.p. ½, x | y ~ N(0, (1 + yΔ)² I_d).

    Args:
      delta: Δ ∈ [0, 1) (paper: 0.8 for A1, 0.5 for A2).
      d: input dimension d ≥ 1 (paper: 40 for A1, 320 for A2).
    """

    delta: float = 0.8
    d: int = 40

    def __post_init__(self):
        object.__setattr__(self, "delta", _check_delta(self.delta))
        object.__setattr__(self, "d", check_int("d", self.d))

    @property
    def class_scales(self) -> tuple[float, float]:
        """(1 + Δ, 1 − Δ): the standard deviation of each coordinate for y = +1, −1."""
        return (1.0 + self.delta, 1.0 - self.delta)

    def class_variances(self) -> np.ndarray:
        s = np.array(self.class_scales)
        return np.repeat((s**2)[:, None], self.d, axis=1)


@dataclass(frozen=True)
class AnisotropicGaussians(_TwoGaussians):
    """A3 data: y = ±1 w.p. ½, x | y ~ N(0, Σ_y), Σ± = diag((1 ± Δ)² ×s0, 1 ×(d − s0)).

    Args:
      delta: Δ ∈ [0, 1) (paper: 0.5).
      d: input dimension (paper: 320).
      s0: number of informative coordinates, 1 ≤ s0 ≤ d (paper: 60).
    """

    delta: float = 0.5
    d: int = 320
    s0: int = 60

    def __post_init__(self):
        object.__setattr__(self, "delta", _check_delta(self.delta))
        object.__setattr__(self, "d", check_int("d", self.d))
        s0 = check_int("s0", self.s0)
        if s0 > self.d:
            raise ValueError(f"s0 must satisfy 1 <= s0 <= d = {self.d}; got {self.s0!r}.")
        object.__setattr__(self, "s0", s0)

    def class_variances(self) -> np.ndarray:
        v = np.ones((2, self.d))
        v[0, : self.s0] = (1.0 + self.delta) ** 2
        v[1, : self.s0] = (1.0 - self.delta) ** 2
        return v
