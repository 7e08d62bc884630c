"""Turn any user loss over a pytree of parameters (plus a data set) into a Landscape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from mflab.landscapes.base import Landscape


def from_loss(
    loss: Callable[[Any, Any], jax.Array],
    data: Any,
    batch_size: int | None = None,
    name: str = "loss",
) -> Landscape:
    """Wrap ``loss(params, batch) -> scalar`` (the mean loss over ``batch``) as a Landscape.

    Φ(θ) = loss(θ, data) over the whole data set; the stochastic oracle draws a
    mini-batch of ``batch_size`` examples uniformly with replacement (an unbiased
    estimate of ∇Φ when ``loss`` is a mean). With ``batch_size=None`` the oracle is
    the exact full-data gradient.

    Args:
      loss: ``(params, batch) -> scalar``; ``batch`` is a pytree whose leaves share a
        leading example axis.
      data: the full data set, same structure as a batch.
      batch_size: mini-batch size m (``None`` for full gradients).
      name: label used in tables.
    """
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("data must contain at least one array.")
    n = leaves[0].shape[0]
    if any(leaf.shape[0] != n for leaf in leaves):
        shapes = [leaf.shape for leaf in leaves]
        raise ValueError(f"all data leaves need the same leading size; got shapes {shapes}.")
    if batch_size is not None and not (1 <= batch_size):
        raise ValueError(f"batch_size must be a positive integer or None; got {batch_size}.")

    def value(params):
        return loss(params, data)

    grad = jax.grad(value)
    if batch_size is None:
        return Landscape(name=name, value=value, grad=grad, exact=True)

    def sample_grad(key, params):
        idx = jax.random.randint(key, (batch_size,), 0, n)
        batch = jax.tree_util.tree_map(lambda leaf: jnp.take(leaf, idx, axis=0), data)
        return jax.grad(loss)(params, batch)

    return Landscape(name=name, value=value, grad=grad, sample_grad=sample_grad, exact=False)
