"""Step sizes as numbers or schedules (optax's ``ScalarOrSchedule``), and the mean-field clock.

Every step size of every optimiser in :mod:`mflab.optimizers` is a ``ScalarOrSchedule``:
a number, or a function ``k -> η_k`` of the step index k = 0, 1, … (a JAX-traceable
function of an int32 scalar, exactly as an ``optax.Schedule``; optax's own schedules work).
mflab's schedules are registered pytrees whose numbers are leaves, so an optimiser built
with a new ε reuses a compiled run; an opaque callable (an optax closure) is structure.

The mean-field time of SPEC Part A is t = kε with step s_k = ε ξ(kε). On the risk R_N of
a network of N units, B1 with learning rate

    η_k = N ε ξ(kε)                                          (SPEC A5)

*is* online SGD (∂R_N/∂θ_i = −(2/N) E[(y − ŷ) ∇σ*(x; θ_i)]): :func:`meanfield_learning_rate`
is that mapping, written once. The ξ schedules of SPEC Part A are :func:`xi_constant` (the
default ξ ≡ 1) and :func:`xi_power`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

import jax
import jax.numpy as jnp
import numpy as np

from mflab.validation import check_int, check_positive

Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = Union[float, Schedule]  # noqa: UP007 - a runtime alias, as in optax


@dataclass(frozen=True)
class Constant:
    """η_k ≡ value (a number as a schedule; hashable)."""

    value: float

    def __call__(self, count):
        return jnp.asarray(self.value)


jax.tree_util.register_dataclass(Constant, data_fields=["value"], meta_fields=[])


def as_schedule(name: str, value: ScalarOrSchedule, *, allow_zero: bool = False) -> Schedule:
    """A step size as a function of the step: a number becomes a constant schedule.

    A number must be finite and > 0 (≥ 0 with ``allow_zero``). A traced number (inside
    ``jit``, e.g. under ``optax.inject_hyperparams``) is taken as is. A callable is
    returned unchanged; it is evaluated at k = 0 to catch an obviously wrong schedule.
    """
    if value is None:
        raise TypeError(f"{name} is required: a step size > 0 or a schedule of the step "
                        "(mflab's optimisers, like optax's, have no default step size).")
    if callable(value):
        v0 = value(jnp.zeros((), jnp.int32))
        if not isinstance(v0, jax.core.Tracer):
            v = np.asarray(v0)
            if v.shape != () or not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
                raise ValueError(f"{name} schedule must give a finite scalar "
                                 f"{'>= 0' if allow_zero else '> 0'} at step 0; got {v!r}.")
        return value
    if isinstance(value, jax.core.Tracer):
        return lambda count: value
    return Constant(check_positive(name, value, allow_zero=allow_zero))


def at_step(schedule: Schedule, count, dtype) -> jax.Array:
    """η_k of ``schedule`` at step ``count`` as a scalar of ``dtype``."""
    return jnp.asarray(schedule(count), dtype)


# ----------------------------------------------------------------- ξ and the mean-field clock


@dataclass(frozen=True)
class XiConstant:
    """ξ(t) ≡ 1 (SPEC Part A default)."""

    def __call__(self, t):
        return jnp.ones_like(t)


@dataclass(frozen=True)
class XiPower:
    """ξ(t) = (1 + t/t0)^(−α): the bounded, Lipschitz form of a t^(−α) schedule."""

    alpha: float = 0.25
    t0: float = 1.0

    def __call__(self, t):
        return (1.0 + t / self.t0) ** (-self.alpha)


jax.tree_util.register_dataclass(XiConstant, data_fields=[], meta_fields=[])
jax.tree_util.register_dataclass(XiPower, data_fields=["alpha", "t0"], meta_fields=[])


def xi_constant() -> XiConstant:
    """ξ(t) ≡ 1 (SPEC Part A default)."""
    return XiConstant()


def xi_power(alpha: float = 0.25, t0: float = 1.0) -> XiPower:
    """ξ(t) = (1 + t/t0)^(−α): the bounded, Lipschitz form of a t^(−α) schedule.

    Defaults α = 1/4 (SPEC Part A "ξ(t) = t^(−1/4) style"), t0 = 1 (so ξ(0) = 1).
    """
    alpha = check_positive("alpha", alpha, allow_zero=True)
    t0 = check_positive("t0", t0)
    return XiPower(alpha, t0)


@dataclass(frozen=True)
class MeanFieldRate:
    """η_k = N ε ξ(kε) (SPEC A5): see :func:`meanfield_learning_rate`."""

    N: int
    eps: float
    xi: Callable = XiConstant()

    def __call__(self, count):
        k = jnp.asarray(count)
        t = k.astype(jnp.result_type(float)) * self.eps
        return self.N * self.eps * self.xi(t)

    def time(self, k):
        """Mean-field time t = kε of step k."""
        return np.asarray(k) * self.eps


# ε and ξ's numbers are leaves (a new ε reuses a compiled run); N is structure
jax.tree_util.register_dataclass(MeanFieldRate, data_fields=["eps", "xi"], meta_fields=["N"])


def meanfield_learning_rate(N: int, eps: float, xi: Callable | None = None) -> MeanFieldRate:
    """The learning rate η_k = N ε ξ(kε) that makes B1 on R_N the online SGD of SPEC Part A.

    With it, ``sgd(meanfield_learning_rate(N, eps, xi))`` on a network landscape
    (:func:`mflab.meanfield.network_landscape`) performs θ_i ← θ_i + 2 ε ξ(kε)(1/m)
    Σ_l (y_l − ŷ(x_l)) ∇σ*(x_l; θ_i), step for step, and step k represents time t = kε
    for every optimiser given the same learning rate (SPEC A5).

    Args:
      N: hidden units of the network.
      eps: ε > 0, the time step.
      xi: schedule ξ(t) (default ξ ≡ 1).

    Reference: SPEC A5; Mei, Montanari & Nguyen, PNAS 2018, eq. (6).
    """
    return MeanFieldRate(check_int("N", N), check_positive("eps", eps),
                         XiConstant() if xi is None else xi)


def check_xi(xi: Callable, eps: float, n_steps: int, n_check: int = 100_001) -> None:
    """Refuse a ξ whose step ε ξ(kε) is negative or not finite on the steps of a run.

    Checked on host at every step when n_steps ≤ n_check, else on n_check evenly spaced
    steps including the first and last.
    """
    k = np.unique(np.linspace(0, max(n_steps - 1, 0), min(n_steps, n_check)).round())
    vals = np.asarray(xi(jnp.asarray(k * eps)))
    bad = ~np.isfinite(vals) | (vals < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"step schedule must give finite xi(t) >= 0; got xi({k[i] * eps!r}) = {vals[i]!r} "
            f"at step {int(k[i])}. Use e.g. xi_power(alpha, t0), finite at t = 0."
        )
