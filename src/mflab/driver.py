"""Run an optimiser on a landscape in jitted ``lax.scan`` chunks.

The hot loop is ``jit(scan(scan(step)))``: an inner scan of ``record_every`` steps
and an outer scan over the records of one chunk; Python only runs between chunks
(progress bar, divergence check). The key of step k is ``fold_in(key, k)``, so a
trajectory does not depend on how it is cut into chunks (resuming is exact).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from mflab.optimizers.base import Optimizer, check_int, ensemble_value, num_agents


class DivergenceError(FloatingPointError):
    """A run produced NaN or inf; the message names the step, the agent and the quantity."""


@dataclass
class Trace:
    """What :func:`run` records.

    Attributes:
      steps: ``(R,)`` step index of each record (0 is the start).
      values: ``(R, A)`` Φ(x) of every agent at each record.
      positions: ``(R, A, d)`` iterates at each record (flat ``(A, d)`` parameters
        only, when ``record_positions``), else ``None``.
      grad_evals: ``(R,)`` gradient evaluations per agent up to each record.
      wall_time: seconds for the whole run, compilation included.
      state: the optimiser state after the last step.
    """

    steps: np.ndarray
    values: np.ndarray
    positions: np.ndarray | None
    grad_evals: np.ndarray
    wall_time: float
    state: Any


def _is_flat(x) -> bool:
    return isinstance(x, jax.Array | np.ndarray) and x.ndim == 2


@functools.lru_cache(maxsize=64)
def make_chunk(optimizer: Optimizer, landscape, record_every: int, n_records: int, positions: bool):
    """The jitted function advancing ``n_records * record_every`` steps from step ``k0``.

    Cached on its arguments (optimisers and landscapes hash by identity), so calling
    :func:`run` again with the same objects and shapes does not recompile.
    """

    def one_step(carry, k):
        state, key = carry
        state, _ = optimizer.step(jax.random.fold_in(key, k), state, landscape)
        return (state, key), None

    def one_record(carry, k_start):
        ks = k_start + jnp.arange(record_every)
        carry, _ = jax.lax.scan(one_step, carry, ks)
        state = carry[0]
        rec = {"values": ensemble_value(landscape, state.x), "grad_evals": state.grad_evals}
        if positions:
            rec["positions"] = state.x
        return carry, rec

    @jax.jit
    def chunk(state, key, k0):
        starts = k0 + record_every * jnp.arange(n_records)
        (state, _), recs = jax.lax.scan(one_record, (state, key), starts)
        return state, recs

    return chunk


def run(
    optimizer: Optimizer,
    landscape,
    x0,
    n_steps: int,
    key: jax.Array,
    *,
    record_every: int = 1,
    chunk_steps: int | None = None,
    record_positions: bool = False,
    progress: bool = True,
    state=None,
    start_step: int = 0,
    devices: int | None = None,
) -> Trace:
    """Run ``optimizer`` on ``landscape`` from ensemble ``x0`` for ``n_steps`` steps.

    Args:
      optimizer: an :class:`~mflab.optimizers.base.Optimizer`.
      landscape: a :class:`~mflab.landscapes.Landscape`.
      x0: initial ensemble (leading agent axis on every leaf).
      n_steps: number of steps, a multiple of ``record_every``.
      key: PRNG key; step k uses ``fold_in(key, start_step + k)``.
      record_every: record Φ (and positions) every this many steps.
      chunk_steps: steps per jitted call (rounded to a multiple of ``record_every``);
        default: about 20 chunks per run.
      record_positions: also record iterates (flat ``(A, d)`` parameters only).
      progress: show a tqdm bar (one tick per chunk).
      state: resume from this optimiser state instead of ``init(x0)``.
      start_step: global index of the first step (for resuming).
      devices: split the agent axis over this many devices (CPU cores after
        :func:`mflab.devices.use_host_devices`); ``None`` keeps ``x0`` where it is.

    Raises:
      DivergenceError: Φ or the iterate became NaN/inf; names the step and agent.
    """
    n_steps = check_int("n_steps", n_steps, minimum=0)
    record_every = check_int("record_every", record_every)
    if n_steps % record_every:
        raise ValueError(
            f"n_steps ({n_steps}) must be a multiple of record_every ({record_every})."
        )
    A = num_agents(x0)
    if record_positions and not _is_flat(x0):
        raise ValueError("record_positions needs flat (A, d) parameters.")
    n_rec = n_steps // record_every
    if chunk_steps is None:
        per_chunk = max(1, -(-n_rec // 20))
    else:
        per_chunk = max(1, check_int("chunk_steps", chunk_steps) // record_every)
    t0 = time.perf_counter()
    if devices is not None:
        from mflab.devices import shard_agents

        x0 = shard_agents(x0, devices)
        state = None if state is None else shard_agents(state, devices)
    state = optimizer.init(x0) if state is None else state
    values = [np.asarray(ensemble_value(landscape, state.x))[None]]
    grad_evals = [np.asarray(state.grad_evals)[None]]
    pos = [np.asarray(state.x)[None]] if record_positions else None
    _check_finite(values[0], 0, "objective value")
    done = 0
    with tqdm(total=n_steps, disable=not progress, desc=optimizer.name, unit="step") as bar:
        while done < n_rec:
            m = min(per_chunk, n_rec - done)
            chunk = make_chunk(optimizer, landscape, record_every, m, record_positions)
            k0 = start_step + done * record_every
            state, recs = chunk(state, key, k0)
            v = np.asarray(recs["values"])
            first_step = start_step + (done + 1) * record_every
            _check_finite(v, first_step, "objective value", record_every)
            values.append(v)
            grad_evals.append(np.asarray(recs["grad_evals"]))
            if record_positions:
                p = np.asarray(recs["positions"])
                _check_finite(p.reshape(m, A, -1).max(axis=-1), first_step, "iterate", record_every)
                pos.append(p)
            done += m
            bar.update(m * record_every)
    jax.block_until_ready(state)
    return Trace(
        steps=start_step + record_every * np.arange(n_rec + 1),
        values=np.concatenate(values),
        positions=np.concatenate(pos) if record_positions else None,
        grad_evals=np.concatenate(grad_evals),
        wall_time=time.perf_counter() - t0,
        state=state,
    )


def _check_finite(arr: np.ndarray, first_step: int, quantity: str, every: int = 1) -> None:
    """Raise DivergenceError naming the first record, step and agent where ``arr`` is not finite."""
    bad = ~np.isfinite(arr)
    if not bad.any():
        return
    if arr.ndim == 1:
        arr, bad = arr[None], bad[None]
    r, agent = np.argwhere(bad)[0]
    step = first_step + every * int(r)
    raise DivergenceError(
        f"{quantity} became {arr[r, agent]} at step {step} for agent {agent} "
        f"(recorded every {every} steps; first non-finite record). "
        "Lower the step size or check the objective."
    )
