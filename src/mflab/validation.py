"""Argument checks shared by every public function of mflab (one module, one wording).

Each check returns the cleaned value or raises ``ValueError``/``TypeError`` with one
sentence: what was given, what is allowed. Study configs have their own layer
(:mod:`mflab.runs.config`, which raises :class:`~mflab.errors.ConfigError`); this module
is for library calls.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def traced(value) -> bool:
    """Whether ``value`` is a JAX tracer (an abstract value inside ``jit``/``vmap``): checks
    of numbers pass it through (it was checked when it was concrete, see
    an optimiser's numeric arguments, rebuilt inside ``jit``: :mod:`mflab.optimizers.base`)."""
    return isinstance(value, jax.core.Tracer)


def check_positive(name: str, value, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (or ≥ 0 with ``allow_zero``)."""
    if traced(value):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a real number; got {value!r}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number; got {value!r}.") from None
    allowed = ">= 0" if allow_zero else "> 0"
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number {allowed}; got {value!r}.")
    if not (v >= 0 if allow_zero else v > 0):
        raise ValueError(f"{name} must be {allowed}; got {value!r}.")
    return v


def check_int(name: str, value, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer (an int, or an integral float such as 1e5) in [minimum, maximum]."""
    bounds = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer {bounds}; got {value!r}.")
    try:
        ok = float(value).is_integer() and minimum <= int(value)
        ok = ok and (maximum is None or int(value) <= maximum)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer {bounds}; got {value!r}.")
    return int(value)


def check_interval(name: str, value, lo: float, hi: float, *, closed_hi: bool = False) -> float:
    """A real number in [lo, hi) (or [lo, hi] with ``closed_hi``)."""
    if traced(value):
        return value
    bracket = "]" if closed_hi else ")"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number in [{lo}, {hi}{bracket}; "
                         f"got {value!r}.") from None
    ok = lo <= v <= hi if closed_hi else lo <= v < hi
    if not ok:
        raise ValueError(f"{name} must lie in [{lo}, {hi}{bracket}; got {value!r}.")
    return v


def check_choice(name: str, value, choices) -> Any:
    """One of ``choices``."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")
    return value


def check_key(name: str, key) -> jax.Array:
    """A JAX PRNG key: a typed key (``jax.random.key``) or a raw ``uint32[2]``
    (``jax.random.PRNGKey``)."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if jnp.ndim(key) != 0:
            raise ValueError(f"{name} must be a single PRNG key; got an array of keys of "
                             f"shape {jnp.shape(key)}.")
        return key
    if dtype is not None and np.dtype(dtype) == np.uint32 and jnp.shape(key) == (2,):
        return key
    raise TypeError(f"{name} must be a JAX PRNG key (jax.random.key(seed)); got {key!r}.")


def check_ensemble(name: str, x) -> int:
    """Parameters of an ensemble: a pytree of floating arrays sharing a leading agent axis.

    Returns the number of agents A.
    """
    leaves = jax.tree_util.tree_leaves(x)
    if not leaves:
        raise ValueError(f"{name} must hold at least one array; got {x!r}.")
    shapes = [jnp.shape(leaf) for leaf in leaves]
    if any(len(s) == 0 for s in shapes):
        raise ValueError(
            f"{name} needs a leading agent axis on every leaf (shape (A, ...)); got leaf "
            f"shapes {shapes}. For one agent use x[None]."
        )
    A = shapes[0][0]
    if any(s[0] != A for s in shapes):
        raise ValueError(f"every leaf of {name} needs the same leading agent axis; got shapes "
                         f"{shapes}.")
    if A == 0:
        raise ValueError(f"{name} has no agents: its leading agent axis is empty (shapes "
                         f"{shapes}); give at least one agent, e.g. x0 of shape (1, ...).")
    for leaf in leaves:
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            raise TypeError(
                f"{name} must be floating point (the optimisers move it continuously); got "
                f"dtype {jnp.result_type(leaf)}. Convert with x.astype(float)."
            )
    return int(A)


def check_same_structure(name: str, x, like, *, what: str) -> None:
    """``x`` (one agent, or a batch of agents when ``like`` has an agent axis) matches ``like``
    leaf by leaf in shape; ``what`` says what ``like`` is."""
    xs, ls = jax.tree_util.tree_structure(x), jax.tree_util.tree_structure(like)
    if xs != ls:
        raise ValueError(f"{name} has structure {xs} but {what} has {ls}.")
    for a, b in zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(like), strict=True):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(f"{name} has a leaf of shape {jnp.shape(a)} where {what} has "
                             f"{jnp.shape(b)}.")
