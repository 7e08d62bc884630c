"""Hyper-parameters in the state: one compiled run for every value (``optax.inject_hyperparams``
for mflab's ensemble optimisers).

A factory's numeric hyper-parameters (step sizes, β, γ, λ, …) are usually Python numbers baked
into the jitted step, so every new value compiles anew. :func:`tunable` moves the ones you name
into the optimiser state, as JAX scalars; the step rebuilds the optimiser from them inside the
trace. A tuning grid, and the seeds of a comparison, then reuse one compiled chunk of
:func:`mflab.run`::

    opt = tunable(mass, ("eta1", "eta2"), gamma=0.9)           # gamma stays static
    for eta in (1e-3, 3e-3, 1e-2):
        state = opt.init_with(x0, eta1=eta, eta2=0.1 * eta)
        mflab.run(opt, landscape, x0, n, key, state=state)    # compiled once

Structural arguments (inner-loop lengths, ``restart``, ``mode``) must stay static: they change
the shape of the computation. The iterates equal those of ``factory(**values)`` exactly (the
same arithmetic, traced instead of constant).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp

from mflab.optimizers.base import Optimizer


class TunedState(NamedTuple):
    """State of a :func:`tunable` optimiser: the factory's own state and the hyper-parameters
    (name → JAX scalar). ``x``, ``grad_evals`` and ``count`` are the inner state's."""

    inner: Any
    hyper: dict

    @property
    def x(self):
        return self.inner.x

    @property
    def grad_evals(self):
        return self.inner.grad_evals

    @property
    def count(self):
        return self.inner.count


def tunable(factory: Callable[..., Optimizer], names: tuple[str, ...], **static) -> Optimizer:
    """``factory`` with the hyper-parameters ``names`` carried in the state (module docstring).

    Args:
      factory: an optimiser factory of :mod:`mflab.optimizers` (e.g. ``sgd``, ``mass``).
      names: the numeric arguments to carry in the state.
      **static: the other arguments, fixed for every run of the returned optimiser.

    Returns an :class:`~mflab.optimizers.base.Optimizer` whose ``init(x0)`` uses the factory's
    defaults and whose extra method ``init_with(x0, **values)`` (in ``hyperparams``, and as
    :func:`init_with`) starts from given values.
    """
    sig = inspect.signature(factory)
    unknown = [n for n in (*names, *static) if n not in sig.parameters]
    if unknown:
        raise ValueError(f"{factory.__name__} has no argument(s) {unknown}; it takes "
                         f"{list(sig.parameters)}.")
    both = set(names) & set(static)
    if both:
        raise ValueError(f"{sorted(both)} given both as tuned and as static.")
    defaults = {n: sig.parameters[n].default for n in names}
    template = factory(**static, **defaults)  # validates the defaults and fixes the structure

    def resolve(state: TunedState):
        """The factory's optimiser for this state's hyper-parameters, and the inner state."""
        return factory(**static, **state.hyper), state.inner

    def init_values(x0, **values):
        missing = set(values) - set(names)
        if missing:
            raise ValueError(f"{sorted(missing)} are not tuned by this optimiser (tuned: "
                             f"{list(names)}).")
        hyper = {**defaults, **values}
        factory(**static, **hyper)  # validate the concrete values once
        dtype = jnp.result_type(float)
        return TunedState(template.init(x0), {n: jnp.asarray(hyper[n], dtype) for n in names})

    def init(x0):
        return init_values(x0)

    def step(key, state, landscape):
        opt, inner = resolve(state)
        inner, info = opt.step(key, inner, landscape)
        return TunedState(inner, state.hyper), info

    return Optimizer(init, step, grads_per_step=template.grads_per_step,
                     name=f"tunable-{template.name}",
                     hyperparams={"rule": "tunable", "template": template, "resolve": resolve,
                                  "names": tuple(names), "static": dict(static),
                                  "init_with": init_values})


def init_with(optimizer: Optimizer, x0, **values) -> TunedState:
    """The initial state of a :func:`tunable` optimiser with the given hyper-parameters."""
    if optimizer.hyperparams.get("rule") != "tunable":
        raise ValueError(f"init_with needs a tunable optimiser; got {optimizer.name!r}.")
    return optimizer.hyperparams["init_with"](x0, **values)
