"""Fast paths: kernels that advance several steps of one optimiser at once, found by type.

A landscape may know an exact, faster form of some optimisers' steps (the two-layer network
knows blocked GEMM forms of SGD and linear momentum, :mod:`mflab.meanfield.kernels`). It
offers them through a :class:`KernelRegistry`: one registry per family of landscapes, one
kernel per optimiser **type** (``functools.singledispatch`` on the optimiser's class, so a
subclass inherits its parent's kernel), never by reading names or another module's state.
A user's optimiser joins by registering its own kernel::

    from mflab.meanfield import network_kernels

    @network_kernels.register(HeavyBall)          # a class, or a decorated factory
    def heavy_ball_kernel(opt, net):               # net: what the landscape knows
        return FastPath(preferred_block=32, make=...)   # or None: no fast path here

A kernel may look at the optimiser's type and static fields only to decide whether it
applies (the driver asks with concrete optimisers and again inside the compiled loop with
traced leaves). ``make(B)`` returns ``advance(state, key, k0, n_blocks)``, performing the
``n_blocks·B`` steps k0, k0 + 1, … with the keys ``fold_in(key, k)`` exactly as that many
calls of ``optimizer.step`` would (to rounding); it reads the hyper-parameters from the
optimiser object it was given (traced inside ``jit``), so one compiled kernel serves every
step size. This module sits below the driver and the landscapes: both import it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["FastPath", "KernelRegistry"]


class FastPath(NamedTuple):
    """A kernel advancing several steps of one optimiser at once (offered by a landscape).

    ``make(B)`` returns ``advance(state, key, k0, n_blocks) -> state`` (module docstring);
    ``preferred_block`` is the fastest B. (The kernel runs its own loop over blocks, so it
    may keep a cheaper working form of the state between blocks.)
    """

    preferred_block: int
    make: Callable[[int], Callable[[Any, Any, Any, Any], Any]]


def _no_kernel(optimizer, context):
    return None


class KernelRegistry:
    """Fast kernels of one family of landscapes, by optimiser type.

    ``register(cls)`` is a decorator for ``kernel(optimizer, context) -> FastPath | None``;
    ``cls`` is an :class:`~mflab.optimizers.Optimizer` subclass or a factory decorated with
    :func:`~mflab.optimizers.optimizer_factory` (its ``optimizer_type``). ``lookup``
    dispatches on the optimiser's class (its MRO: a subclass inherits a kernel).
    """

    def __init__(self, name: str):
        self.name = name
        self._dispatch = functools.singledispatch(_no_kernel)

    def register(self, optimizer_type) -> Callable:
        cls = getattr(optimizer_type, "optimizer_type", optimizer_type)
        if not isinstance(cls, type):
            raise TypeError(f"register a kernel for an optimiser class or a factory decorated "
                            f"with optimizer_factory; got {optimizer_type!r}.")

        def decorate(kernel: Callable) -> Callable:
            self._dispatch.register(cls)(kernel)
            return kernel

        return decorate

    def lookup(self, optimizer, context) -> FastPath | None:
        """The kernel registered for ``type(optimizer)`` applied to it, or ``None``."""
        return self._dispatch(optimizer, context)

    def registered(self) -> tuple[type, ...]:
        """The optimiser types with a kernel (for docs and tests)."""
        return tuple(c for c in self._dispatch.registry if c is not object)

    def __repr__(self) -> str:
        return f"KernelRegistry({self.name!r}, {[c.__name__ for c in self.registered()]})"
