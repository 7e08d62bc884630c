"""Spread an ensemble over several devices (CPU cores as XLA host devices, or GPUs).

On a CPU, XLA runs one jitted computation on one core; ``vmap`` over agents or seeds
does not use the others. Splitting the agent axis over *host devices* does: call
:func:`use_host_devices` before the first JAX computation, then pass ``devices=`` to
:func:`mflab.run` (or :func:`shard_agents` yourself). Sharded runs give the same
numbers as unsharded ones (elementwise work per agent; ensemble means become
all-reduces).
"""

from __future__ import annotations

import os
import re

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def use_host_devices(n: int) -> None:
    """Ask XLA for ``n`` CPU host devices (one per core). Must run before JAX starts its
    backend (before any array is created); raises RuntimeError if it is too late."""
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}.")
    flags = os.environ.get("XLA_FLAGS", "")
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", flags)
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
    if jax.default_backend() == "cpu" and jax.device_count("cpu") != n:
        raise RuntimeError(
            f"JAX's CPU backend already started with {jax.device_count('cpu')} device(s); call "
            "mflab.devices.use_host_devices before creating any array, or set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={n} in the environment."
        )


def shard_agents(x, devices: int | None = None):
    """Place every leaf of the ensemble ``x`` with its leading agent axis split over the
    first ``devices`` devices (default: all); scalars are replicated. The agent count
    must be divisible by the number of devices."""
    devs = jax.devices()
    n = len(devs) if devices is None else devices
    if not 1 <= n <= len(devs):
        raise ValueError(f"devices must be in [1, {len(devs)}] (devices available); got {n}.")
    mesh = Mesh(np.array(devs[:n]), ("agents",))

    replicated = NamedSharding(mesh, PartitionSpec())

    def put(leaf):
        if np.ndim(leaf) == 0:
            return jax.device_put(leaf, replicated)
        if leaf.shape[0] % n:
            raise ValueError(
                f"the agent axis ({leaf.shape[0]}) must be divisible by devices ({n})."
            )
        spec = PartitionSpec("agents", *([None] * (leaf.ndim - 1)))
        return jax.device_put(leaf, NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(put, x)
