"""Turn any user loss over a pytree of parameters (plus a data set) into a Landscape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from mflab.landscapes.base import Landscape
from mflab.landscapes.sampling import EpochSampler
from mflab.validation import check_int


def from_loss(
    loss: Callable[[Any, Any], jax.Array],
    data: Any,
    batch_size: int | None = None,
    name: str = "loss",
    seed: int = 0,
) -> Landscape:
    """Wrap ``loss(params, batch) -> scalar`` (the mean loss over ``batch``) as a Landscape.

    Φ(θ) = loss(θ, data) over the whole data set. With ``batch_size = m`` the stochastic
    oracle walks epochs: each epoch a fresh permutation of the n examples is cut into
    ⌊n/m⌋ mini-batches, drawn without replacement (:class:`~mflab.landscapes.sampling.EpochSampler`;
    each agent of an ensemble has its own permutations), an unbiased estimate of ∇Φ when
    ``loss`` is a mean. With ``batch_size=None`` the oracle is the exact full-data gradient.

    Step sizes for a *mean* loss: the gradient noise of a batch of m scales like
    1/sqrt(m) and does not grow with n, so a learning rate tuned on one data set carries
    over; a Langevin method's β multiplies a mean loss, so to sample the posterior
    ∝ exp(−n·Φ) use β = n (or β = n/T at temperature T).

    Args:
      loss: ``(params, batch) -> scalar``; ``batch`` is a pytree whose leaves share a
        leading example axis.
      data: the full data set, same structure as a batch.
      batch_size: mini-batch size m (1 ≤ m ≤ n), or ``None`` for full gradients.
      name: label used in tables.
      seed: data-order seed (the epochs' permutations).
    """
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves or any(jnp.ndim(leaf) == 0 for leaf in leaves):
        raise ValueError("data must be a pytree of arrays with a leading example axis; got "
                         f"{jax.tree_util.tree_map(jnp.shape, data)!r}.")
    n = jnp.shape(leaves[0])[0]
    if any(jnp.shape(leaf)[0] != n for leaf in leaves):
        shapes = [jnp.shape(leaf) for leaf in leaves]
        raise ValueError(f"all data leaves need the same leading size; got shapes {shapes}.")

    def value(params):
        return loss(params, data)

    grad = jax.grad(value)
    if batch_size is None:
        return Landscape(name=name, value=value, grad=grad, exact=True)
    batch_size = check_int("batch_size", batch_size, maximum=n)
    sampler = EpochSampler(n, batch_size, seed)

    def draw(key, call, agent):
        idx = sampler.indices(call, agent)
        return jax.tree_util.tree_map(lambda leaf: jnp.take(leaf, idx, axis=0), data)

    return Landscape(name=name, value=value, grad=grad, draw=draw,
                     batch_grad=jax.grad(loss), batch_size=batch_size,
                     info={"n": n, "batches_per_epoch": sampler.batches_per_epoch})
