"""The network landscape's fast paths: exact blocked kernels, registered by optimiser type.

:data:`network_kernels` is the :class:`~mflab.fastpath.KernelRegistry` of the two-layer
network landscape (:func:`~mflab.meanfield.landscape.network_landscape`). Built in: B1
(:func:`~mflab.optimizers.sgd`) and fixed-γ B2/B4 (:func:`~mflab.optimizers.nesterov`,
:func:`~mflab.optimizers.mass` without restart) at batches m ≤ :data:`MAX_FAST_BATCH`, by the
blocked updates of :mod:`~mflab.meanfield.blocked`. A kernel is called as
``kernel(optimizer, net)`` with ``net`` a :class:`NetworkOracle` (the units, the data stream
and the batch size, and the helpers that draw a block's samples exactly as the plain steps
would); a user's optimiser registers its own (``docs/extending.md``: heavy ball).

Reference: SPEC A5; the blocked algebra is in :mod:`mflab.meanfield.blocked`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from mflab.fastpath import FastPath, KernelRegistry
from mflab.meanfield.activations import UnitType
from mflab.meanfield.blocked import momentum_block, sgd_block
from mflab.optimizers import mass, nesterov, sgd

#: Steps per block of the fast path (fastest measured at d = 40 and 320, m = 1; benchmarks/).
BLOCK = 32
#: Largest batch for which the blocked kernels beat plain steps (the Gram matrix is (Bm)²).
MAX_FAST_BATCH = 8

#: The kernels of the network landscape, by optimiser type.
network_kernels = KernelRegistry("network")


class NetworkOracle(NamedTuple):
    """What a network landscape tells its kernels: ``units`` (the unit type), ``draw`` (the
    data stream ``(key, call, agent) -> (x (m, d), y (m,))``) and ``batch_size`` m."""

    units: UnitType
    draw: Callable
    batch_size: int

    def samples(self, key, k0, calls0, B: int, agent, dtype):
        """The data agent ``agent`` draws in the plain steps k0..k0+B−1 (its oracle calls
        calls0..calls0+B−1, one per step): X (B, m, d), Y (B, m) in ``dtype``."""
        def one_step(j):
            kk = jax.random.fold_in(jax.random.fold_in(key, k0 + j), agent)  # agent_keys
            return self.draw(kk, calls0 + j, agent)

        X, Y = jax.vmap(one_step)(jnp.arange(B))
        return X.astype(dtype), Y.astype(dtype)

    @staticmethod
    def per_agent(fn: Callable, arrays: tuple) -> tuple:
        """``fn(agent index, *agent's arrays)`` over the agent axis, stacked: a Python loop for
        a few agents (faster than ``vmap`` on CPU), else ``vmap``."""
        A = jax.tree_util.tree_leaves(arrays)[0].shape[0]
        if A <= 16:
            outs = [fn(i, *(a[i] for a in arrays)) for i in range(A)]
            return tuple(jnp.stack(o) for o in zip(*outs, strict=True))
        return jax.vmap(fn)(jnp.arange(A), *arrays)

    def schedule(self, fn: Callable, count, B: int, dtype) -> jax.Array:
        """A step-size schedule at the steps count..count+B−1, shape (B,)."""
        return jax.vmap(fn)(count + jnp.arange(B)).astype(dtype)


def fast_path(net: NetworkOracle, optimizer) -> FastPath | None:
    """The registered kernel for ``optimizer`` on this network, or ``None``."""
    if net.batch_size > MAX_FAST_BATCH:
        return None
    return network_kernels.lookup(optimizer, net)


@network_kernels.register(sgd)
def _sgd_kernel(opt, net: NetworkOracle) -> FastPath:
    """B1: :func:`~mflab.meanfield.blocked.sgd_block`."""
    units = net.units

    def make(B):
        def advance(state, key, k0, n_blocks):
            eta = opt.hyperparams["eta"]
            dtype = state.x.dtype

            def one(a, theta):
                def block(b, carry):
                    W, extra = carry
                    X, Y = net.samples(key, k0 + b * B, state.grad_evals + b * B, B, a, dtype)
                    e = net.schedule(eta, state.count + b * B, B, dtype)
                    return sgd_block(units, W, extra, X, Y, e)

                extra, W = units.split(theta)
                W, extra = jax.lax.fori_loop(0, n_blocks, block, (W, extra))
                return (units.join(extra, W),)

            (x,) = net.per_agent(one, (state.x,))
            n = n_blocks * B
            return state._replace(x=x, grad_evals=state.grad_evals + n, count=state.count + n)

        return advance

    return FastPath(BLOCK, make)


def _momentum_kernel(opt, net: NetworkOracle) -> FastPath | None:
    """Fixed-γ B2/B4: :func:`~mflab.meanfield.blocked.momentum_block` (none with restart)."""
    hp = opt.hyperparams
    if hp["restart"]:
        return None
    units = net.units

    def make(B):
        def advance(state, key, k0, n_blocks):
            dtype = state.x.dtype
            gamma = jnp.asarray(hp["gamma"], dtype)  # a traced γ may be float64

            def one(a, u, t, w):
                def block(b, carry):
                    U, T, ue, te, _ = carry
                    X, Y = net.samples(key, k0 + b * B, state.grad_evals + b * B, B, a, dtype)
                    k = state.count + b * B
                    e = net.schedule(hp["eta"], k, B, dtype)
                    r = (jax.vmap(hp["eta2"])(k + jnp.arange(B))
                         / jax.vmap(hp["eta"])(k + jnp.arange(B))).astype(dtype)
                    U, T, ue, te, _, _ = momentum_block(units, U, T, ue, te, X, Y, e, r, gamma)
                    return U, T, ue, te, e[-1]

                ue, U = units.split(u)
                te, T = units.split(t)
                carry = (U, T, ue, te, jnp.zeros((), dtype))
                U, T, ue, te, e_last = jax.lax.fori_loop(0, n_blocks, block, carry)
                # w = u + η_{k−1} t (w⁺ = u⁺ + η t⁺ within a step), formed once per call
                x = jnp.where(n_blocks > 0, units.join(ue + e_last * te, U + e_last * T), w)
                return x, units.join(ue, U), units.join(te, T)

            x, u, t = net.per_agent(one, (state.u, state.trace, state.x))
            n = n_blocks * B
            return state._replace(x=x, u=u, trace=t, grad_evals=state.grad_evals + n,
                                  count=state.count + n)

        return advance

    return FastPath(BLOCK, make)


network_kernels.register(nesterov)(_momentum_kernel)
network_kernels.register(mass)(_momentum_kernel)

__all__ = ["network_kernels", "NetworkOracle", "fast_path", "BLOCK", "MAX_FAST_BATCH"]
