"""The landscape interface: an objective Φ with its ground truth.

A :class:`Landscape` bundles the value Φ(x), the exact gradient ∇Φ(x), a
stochastic gradient oracle g̃(key, x) (SPEC Part B notation) and what is known
about Φ (stationary points, a box for plots). All callables act on **one
agent's** parameters ``x`` (an array of shape ``(d,)`` or any pytree);
optimisers ``vmap`` them over the ensemble's leading axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import jax
import numpy as np

Params = Any  # an array or pytree of arrays (one agent)
Key = jax.Array


@dataclass(frozen=True)
class StationaryPoint:
    """A known stationary point of a landscape (ground truth for tests and plots)."""

    name: str
    x: np.ndarray
    value: float
    kind: Literal["minimum", "saddle", "maximum"]


def _exact_oracle(grad: Callable[[Params], Params]) -> Callable[[Key, Params], Params]:
    def sample_grad(key: Key, x: Params) -> Params:
        del key
        return grad(x)

    return sample_grad


def _stream_oracle(draw, batch_grad) -> Callable[[Key, Params], Params]:
    """One stochastic gradient from a key alone: the batch at a random position of the
    stream of agent 0 (a uniformly random batch)."""

    def sample_grad(key: Key, x: Params) -> Params:
        call = jax.random.randint(key, (), 0, 2**30)
        return batch_grad(x, draw(key, call, 0))

    return sample_grad


@runtime_checkable
class LandscapeProtocol(Protocol):
    """What the engine reads off a landscape: the members every landscape has.

    :class:`Landscape` is the implementation every mflab landscape uses; an object of your
    own works with :func:`mflab.run` when it has these members (the ones it does not use set
    to ``None``: ``retract``, ``draw``, ``batch_grad``, ``batch_size``, ``fast_path``).
    """

    name: str
    value: Callable[[Params], jax.Array]
    grad: Callable[[Params], Params]
    sample_grad: Callable[[Key, Params], Params]
    exact: bool
    retract: Callable[[Params], Params] | None
    draw: Callable[[Key, jax.Array, jax.Array], Any] | None
    batch_grad: Callable[[Params, Any], Params] | None
    batch_size: int | None
    fast_path: Callable[[Any], Any] | None


#: The members of :class:`LandscapeProtocol` (for error messages).
LANDSCAPE_MEMBERS = tuple(LandscapeProtocol.__annotations__)


def check_landscape(name: str, landscape) -> None:
    """Refuse an object that lacks a member of :class:`LandscapeProtocol`, naming them."""
    missing = [m for m in LANDSCAPE_MEMBERS if not hasattr(landscape, m)]
    if missing:
        raise TypeError(f"{name} must be a landscape (mflab.landscapes.Landscape, or an object "
                        f"with the members of LandscapeProtocol); {type(landscape).__name__} "
                        f"lacks {', '.join(missing)}. Wrap a loss with "
                        "mflab.landscapes.from_loss(loss, data) or Landscape(name, value).")


@dataclass(frozen=True, eq=False)
class Landscape:
    """An objective Φ: parameters → R, with gradient oracles and ground truth (the one
    implementation of :class:`LandscapeProtocol`; only ``name`` and ``value`` are required,
    the engine's other members are derived or ``None``).

    Args:
      name: short identifier (used in tables and file names).
      value: ``x -> Φ(x)`` for one agent (scalar output).
      grad: ``x -> ∇Φ(x)`` for one agent, same structure as ``x``. Defaults to
        ``jax.grad(value)``.
      sample_grad: ``(key, x) -> g̃(x)``, an unbiased stochastic gradient (a
        mini-batch gradient for data-driven losses). Defaults to the exact ``grad``, or,
        when ``draw`` and ``batch_grad`` are given, to ``batch_grad`` on a random batch.
      dim: dimension of ``x`` when it is a flat vector, else ``None``.
      stationary_points: known stationary points (minima first, global first).
      bounds: ``((x_lo, x_hi), (y_lo, y_hi), ...)`` box used for starts and plots.
      exact: whether ``sample_grad`` returns the exact gradient (default: true exactly
        when no stochastic oracle is given). Optimisers call ``grad`` directly, drawing
        no keys, when it is true.
      hessian: optional ``x -> ∇²Φ(x)`` (flat ``x`` only).
      retract: optional ``x -> x`` mapping a point back onto the constraint manifold
        (e.g. renormalising kernel centres to a sphere); optimisers apply it to every
        point they move. ``None`` (default): unconstrained parameters.
      draw: optional data stream ``(key, call, agent) -> batch``: the data of oracle call
        number ``call`` (0, 1, … per agent) of agent ``agent``. Optimisers that count
        their calls (all of mflab's) get their stochastic gradients as
        ``batch_grad(x, draw(key, call, agent))``, so a landscape over a finite data set
        can walk epochs without replacement (:class:`~mflab.landscapes.sampling.EpochSampler`)
        and one with fresh samples can ignore ``call``.
      batch_grad: ``(x, batch) -> gradient of the batch loss`` (with ``draw``).
      batch_size: examples per oracle call (m), so that costs can be compared in samples
        drawn; ``None`` when not meaningful.
      fast_path: optional ``optimizer -> FastPath | None``: a kernel advancing several
        steps of ``optimizer`` at once, equal to its step-by-step form (the driver uses it
        when offered; see :mod:`mflab.fastpath`). Build it from a
        :class:`~mflab.fastpath.KernelRegistry` (kernels by optimiser type) so that users
        can register kernels for their own optimisers.
      info: free-form facts about Φ (JSON-able where possible).
    """

    name: str
    value: Callable[[Params], jax.Array]
    grad: Callable[[Params], Params] | None = None
    sample_grad: Callable[[Key, Params], Params] | None = None
    dim: int | None = None
    stationary_points: tuple[StationaryPoint, ...] = ()
    bounds: tuple[tuple[float, float], ...] | None = None
    exact: bool | None = None
    hessian: Callable[[Params], jax.Array] | None = None
    retract: Callable[[Params], Params] | None = None
    draw: Callable[[Key, jax.Array, jax.Array], Any] | None = None
    batch_grad: Callable[[Params, Any], Params] | None = None
    batch_size: int | None = None
    fast_path: Callable[[Any], Any] | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if (self.draw is None) != (self.batch_grad is None):
            raise ValueError("a Landscape needs both draw and batch_grad, or neither.")
        if self.grad is None:
            object.__setattr__(self, "grad", jax.grad(self.value))
        if self.exact is None:
            object.__setattr__(self, "exact", self.sample_grad is None and self.draw is None)
        if self.sample_grad is None:
            if self.draw is not None:
                object.__setattr__(self, "sample_grad", _stream_oracle(self.draw,
                                                                       self.batch_grad))
            else:
                object.__setattr__(self, "sample_grad", _exact_oracle(self.grad))
        if self.hessian is None and self.dim is not None:
            object.__setattr__(self, "hessian", jax.hessian(self.value))

    @property
    def minima(self) -> tuple[StationaryPoint, ...]:
        """The known minima, global first."""
        return tuple(p for p in self.stationary_points if p.kind == "minimum")

    @property
    def global_minimum(self) -> StationaryPoint | None:
        """The known global minimum (lowest value), if any."""
        mins = self.minima
        return min(mins, key=lambda p: p.value) if mins else None
