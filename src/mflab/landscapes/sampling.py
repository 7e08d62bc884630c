"""Mini-batches from a finite data set: each epoch a fresh permutation, computed pointwise.

Oracle call c of agent a (the c-th mini-batch the agent draws) takes, with n examples and
batches of m (nb = ⌊n/m⌋ batches per epoch, the last n mod m examples of each epoch's
order are left out, as a data loader with ``drop_last`` does)::

    epoch e = c // nb,  slot j = c mod nb,
    batch = { π_{a,e}(j·m + l) : l = 0..m−1 }

where π_{a,e} is a pseudo-random permutation of {0, …, n−1} keyed by (seed, a, e). Within
an epoch the batches are therefore drawn **without replacement** (SPEC A5 for MNIST), and
every epoch reshuffles. π is evaluated pointwise — a 4-round Feistel network on
⌈log₂ n⌉ (rounded up to even) bits with cycle-walking back into [0, n) — so a call costs
O(m), not the O(n log n) of materialising a permutation: a batch of one example on 60 000
images stays as cheap as the gradient it feeds.

Reference: Luby & Rackoff, SIAM J. Comput. 17 (1988) (Feistel permutations); Black &
Rogaway, CT-RSA 2002 (cycle-walking for arbitrary domains).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from mflab.validation import check_int

_ROUNDS = 4


def _mix32(x):
    """A 32-bit integer mixer (the "lowbias32" hash of C. Wellons), uint32 → uint32."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _feistel(i, round_keys, half_bits: int):
    """One pass of the balanced Feistel network on 2·half_bits-bit integers (uint32)."""
    mask = jnp.uint32((1 << half_bits) - 1)
    left, right = i >> half_bits, i & mask
    for r in range(_ROUNDS):
        left, right = right, left ^ (_mix32(right ^ round_keys[r]) & mask)
    return (left << half_bits) | right


def permute(key: jax.Array, i: jax.Array, n: int) -> jax.Array:
    """π_key(i) for integer positions ``i`` (any shape) in [0, n): a bijection of [0, n).

    Args:
      key: PRNG key selecting the permutation.
      i: positions, int array with values in [0, n).
      n: domain size (1 ≤ n < 2³⁰).
    """
    n = check_int("n", n, maximum=2**30 - 1)
    bits = max(2, (n - 1).bit_length())
    bits += bits % 2
    round_keys = jax.random.bits(key, (_ROUNDS,), jnp.uint32)
    x = jnp.asarray(i).astype(jnp.uint32)

    def walk(x):
        return _feistel(x, round_keys, bits // 2)

    x = walk(x)
    # cycle-walking: the cycle of a start < n returns below n, so this terminates
    return jax.lax.while_loop(lambda v: jnp.any(v >= n), lambda v: jnp.where(v >= n, walk(v), v),
                              x).astype(jnp.int32)


@dataclass(frozen=True)
class EpochSampler:
    """Indices of mini-batches drawn without replacement within each epoch (module docstring).

    Args:
      n: examples in the data set.
      batch_size: m, examples per batch (1 ≤ m ≤ n).
      seed: selects the permutations (with the agent and the epoch); one seed per data
        pipeline, like a data loader's.
    """

    n: int
    batch_size: int
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "n", check_int("n (examples)", self.n))
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size,
                                                         maximum=self.n))
        object.__setattr__(self, "seed", check_int("seed", self.seed, minimum=0,
                                                   maximum=2**31 - 1))

    @property
    def batches_per_epoch(self) -> int:
        """nb = ⌊n/m⌋."""
        return self.n // self.batch_size

    def indices(self, call, agent) -> jax.Array:
        """The m example indices of oracle call ``call`` of agent ``agent`` (int32 ``(m,)``)."""
        call = jnp.asarray(call, jnp.int32)
        epoch, slot = call // self.batches_per_epoch, call % self.batches_per_epoch
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(self.seed), agent), epoch)
        pos = slot * self.batch_size + jnp.arange(self.batch_size, dtype=jnp.int32)
        return permute(key, pos, self.n)
