"""Run an optimiser on a landscape: the one training loop of mflab.

The hot loop is jitted: a chunk of records is one ``jit``-ed ``lax.scan`` over the
records, each advancing the optimiser to the next record step with a ``fori_loop`` over
steps (or over blocks of steps, when the landscape offers an exact blocked kernel for this
optimiser — a *fast path*, equal to the step-by-step form), then evaluating the
observables. Python runs only between chunks: progress bar, wall clock, divergence check.
Step k uses the key ``fold_in(key, k)``, so a trajectory does not depend on how it is cut
into chunks, and resuming from a saved state (``state=``, ``start_step=``) is exact.

Observables are functions of one agent's parameters (any pytree) returning arrays; they are
evaluated for every agent (``vmap``; wrap one in :func:`sequential` to ``lax.map`` it, e.g.
when it branches with ``lax.cond``) and recorded with a leading record axis. One result
type: :class:`Trace`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import ClosedJaxpr, jaxpr_as_fun
from tqdm.auto import tqdm

from mflab.errors import DivergenceError
from mflab.fastpath import FastPath
from mflab.landscapes.base import check_landscape
from mflab.observables import sequential, step_info
from mflab.optimizers.base import Optimizer
from mflab.progress import bar_options
from mflab.validation import check_choice, check_ensemble, check_int, check_key

__all__ = ["run", "Trace", "FastPath", "sequential", "step_info", "record_grid",
           "DivergenceError"]


@dataclass
class Trace:
    """What :func:`run` records (R records, A agents).

    Attributes:
      steps: ``(R,)`` global step index of each record (the first is the start).
      grad_evals: ``(R,)`` oracle calls per agent up to each record.
      samples: ``(R,)`` samples drawn per agent (grad_evals × the landscape's
        ``batch_size``), or ``None`` when the landscape has no batch size.
      wall: ``(R,)`` seconds since the call started, at each record (compilation
        included; measured per chunk, interpolated in steps within a chunk).
      records: observable name → ``(R, A, ...)`` array (or pytree of such arrays).
      state: the optimiser state after the last step.
      diverged: ``(A,)`` the first recorded step at which each agent was non-finite
        (−1: never); only with ``on_divergence="continue"``, else ``None``.
    """

    steps: np.ndarray
    grad_evals: np.ndarray
    samples: np.ndarray | None
    wall: np.ndarray
    records: dict[str, Any]
    state: Any
    diverged: np.ndarray | None = field(default=None)

    @property
    def values(self) -> np.ndarray:
        """``records["value"]``: Φ of every agent at each record, ``(R, A)``."""
        if "value" not in self.records:
            raise KeyError("this run did not record 'value' (pass it in observables).")
        return self.records["value"]

    @property
    def positions(self) -> Any:
        """``records["x"]`` (with ``record_positions=True``): the iterates, ``(R, A, ...)``."""
        if "x" not in self.records:
            raise KeyError("this run did not record positions (record_positions=True).")
        return self.records["x"]

    @property
    def wall_time(self) -> float:
        """Seconds for the whole call (compilation included)."""
        return float(self.wall[-1])


def _identity(x):
    return x


def _evaluate(observables: tuple, x) -> dict[str, Any]:
    out = {}
    for name, fn in observables:
        if isinstance(fn, step_info):  # recorded from the steps' info (make_chunk)
            continue
        val = jax.lax.map(fn, x) if isinstance(fn, sequential) else jax.vmap(fn)(x)
        if isinstance(name, tuple):  # one function, several observables
            out.update(zip(name, val, strict=True))
        else:
            out[name] = val
    out["_finite_x"] = _finite_agents(x)
    return out


def _finite_agents(x) -> jax.Array:
    """(A,) whether every number of each agent's parameters is finite."""
    return jax.vmap(lambda xa: jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf))
                                                  for leaf in jax.tree_util.tree_leaves(xa)])))(x)


@functools.lru_cache(maxsize=128)
def make_chunk(structure, landscape, observables: tuple, block: int | None):
    """The jitted function advancing an optimiser through a chunk of record steps.

    ``chunk(optimizer, state, key, k, targets)`` goes from step ``k`` to each of ``targets``
    in turn (absolute step indices, non-decreasing) and records the observables there.
    ``structure`` is the optimiser's pytree structure (``jax.tree_util.tree_structure``: its
    type and static fields); the optimiser itself is an argument, its numeric
    hyper-parameters traced, so every optimiser of that structure — any step size, a fresh
    factory call — shares one compilation. Cached on the landscape and the observable
    functions by identity. ``block``: use the landscape's fast path with blocks of that many
    steps (the steps of a gap that do not fill a block are plain steps), or ``None`` for
    plain steps only.
    """
    del structure  # the cache key; jit traces the optimiser it is given

    infos = tuple((name, fn) for name, fn in observables if isinstance(fn, step_info))

    def make_advance(optimizer):
        def one_step(k, carry):
            state, key, acc, n = carry
            state, info = optimizer.step(jax.random.fold_in(key, k), state, landscape)
            return state, key, _accumulate(infos, acc, info), n + 1

        def plain(state, key, k, target, acc=None):
            if acc is None:
                return jax.lax.fori_loop(k, target, one_step, (state, key, (), 0))[0]
            state, _, acc, n = jax.lax.fori_loop(k, target, one_step, (state, key, acc, 0))
            return state, acc, n

        if block is None:
            return plain
        block_advance = landscape.fast_path(optimizer).make(block)

        def advance(state, key, k, target):  # no info observables here: run() takes plain
            n_blocks = (target - k) // block     # steps when there are any
            state = block_advance(state, key, k, n_blocks)
            return plain(state, key, k + n_blocks * block, target)  # the rest (< block)

        return advance

    def chunk(optimizer, state, key, k, targets):
        advance = make_advance(optimizer)
        acc0 = _info_zeros(infos, optimizer, state, key, landscape)

        def one_record(carry, target):
            state, key, k = carry
            rec = {}
            if infos:
                state, acc, n = advance(state, key, k, target, acc0)
                rec = _info_records(infos, acc, n)
            else:
                state = advance(state, key, k, target)
            rec.update(_evaluate(observables, state.x), _grad_evals=state.grad_evals)
            return (state, key, target), rec

        (state, _, _), recs = jax.lax.scan(one_record, (state, key, k), targets)
        return state, recs

    return jit_with_array_arguments(chunk)


def _info_zeros(infos: tuple, optimizer, state, key, landscape) -> tuple:
    """Zero accumulators shaped like each info observable (from the step's abstract output)."""
    if not infos:
        return ()
    _, info = jax.eval_shape(lambda s: optimizer.step(key, s, landscape), state)
    A = jax.tree_util.tree_leaves(state.x)[0].shape[0]

    def zeros(spec, reduce):
        shape = spec.shape if spec.ndim else (A,)
        dtype = spec.dtype if reduce == "last" else (
            jnp.int32 if jnp.issubdtype(spec.dtype, jnp.bool_) else spec.dtype)
        return jnp.zeros(shape, dtype)

    return tuple(jax.tree_util.tree_map(lambda s, r=fn.reduce: zeros(s, r), fn.read(info))
                 for _, fn in infos)


def _accumulate(infos: tuple, acc: tuple, info) -> tuple:
    """Fold one step's info into the accumulators (last value, or a running sum)."""
    out = []
    for (_, fn), a in zip(infos, acc, strict=True):
        def one(prev, v, reduce=fn.reduce):
            v = jnp.broadcast_to(v, prev.shape)
            return v if reduce == "last" else prev + v.astype(prev.dtype)

        out.append(jax.tree_util.tree_map(one, a, fn.read(info)))
    return tuple(out)


def _info_records(infos: tuple, acc: tuple, n) -> dict:
    """The recorded values of the info observables: last, sum, or sum / steps (mean)."""
    rec = {}
    for (name, fn), a in zip(infos, acc, strict=True):
        if fn.reduce == "mean":
            a = jax.tree_util.tree_map(lambda v: v / jnp.maximum(n, 1), a)
        rec[name] = a
    return rec


def jit_with_array_arguments(fn: Callable) -> Callable:
    """``jax.jit(fn)``, but the arrays ``fn`` closes over are passed to the compiled function
    as arguments instead of being embedded in it as constants.

    A landscape's data (the MNIST training set, a test set an observable scores on) is
    captured by closures; ``jit`` would copy it into every executable, and XLA's compile
    time grows with it (``benchmarks/bench_mnist.py``'s first call on 60 000 images: 3.9–4.4 s
    with them compiled in, 2.2–2.8 s as arguments; ``docs/benchmarks.md``). Here ``fn`` is
    traced once per input signature (``jax.make_jaxpr``), its captured arrays become the
    leading arguments of one jitted evaluation of that jaxpr, and the same arrays are passed
    on every call.
    """
    cache: dict = {}

    def compiled(args):
        flat, tree = jax.tree_util.tree_flatten(args)
        sig = (tree, tuple(jax.typeof(a) for a in flat))
        if sig not in cache:
            closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)

            def evaluate(consts, flat, jaxpr=closed.jaxpr):
                return jaxpr_as_fun(ClosedJaxpr(jaxpr, consts))(*flat)

            cache[sig] = (jax.jit(evaluate), list(closed.consts),
                          jax.tree_util.tree_structure(out_shape))
        evaluate, consts, out_tree = cache[sig]
        return evaluate, consts, flat, out_tree

    def call(*args):
        evaluate, consts, flat, out_tree = compiled(args)
        return jax.tree_util.tree_unflatten(out_tree, evaluate(consts, flat))

    def lower(*args):
        evaluate, consts, flat, _ = compiled(args)
        return evaluate.lower(consts, flat)

    call.lower = lower  # as jax.jit's
    call._cache_size = lambda: sum(e._cache_size() for e, _, _ in cache.values())
    return call


def record_grid(n_steps: int, n_records: int, multiple: int = 1, log: bool = False) -> np.ndarray:
    """About ``n_records`` record steps in [0, n_steps], rounded to multiples of ``multiple``
    (deduplicated), evenly or log-spaced (``log``: 0, then geometric from ``multiple``)."""
    n_steps = check_int("n_steps", n_steps)
    n_records = check_int("n_records", n_records, minimum=2)
    multiple = check_int("multiple", multiple)
    if log:
        pts = np.concatenate([[0], np.geomspace(multiple, n_steps, n_records - 1)])
    else:
        pts = np.linspace(0, n_steps, n_records)
    steps = np.round(pts / multiple) * multiple
    return np.unique(np.minimum(steps, (n_steps // multiple) * multiple).astype(np.int64))


def _record_grid(n_steps: int, record_every, record_steps) -> np.ndarray:
    """Run-relative record steps: 0, the requested ones, and n_steps (sorted, unique)."""
    if record_steps is not None:
        if record_every is not None:
            raise ValueError("give record_every or record_steps, not both.")
        rs = np.asarray(record_steps)
        if rs.ndim != 1 or not np.issubdtype(rs.dtype, np.integer) and not np.all(
                np.mod(rs, 1) == 0):
            raise ValueError(f"record_steps must be a 1-D list of integers; got {record_steps!r}.")
        rs = rs.astype(np.int64)
        if rs.size and (rs.min() < 0 or rs.max() > n_steps):
            raise ValueError(f"record_steps must lie in [0, n_steps={n_steps}]; got "
                             f"{rs.min()}..{rs.max()}.")
        return np.unique(np.concatenate([[0], rs, [n_steps]]))
    every = check_int("record_every", 1 if record_every is None else record_every)
    if n_steps % every:
        raise ValueError(f"n_steps ({n_steps}) must be a multiple of record_every ({every}).")
    return np.arange(0, n_steps + 1, every, dtype=np.int64)


def _choose_block(fast: FastPath, gaps: np.ndarray) -> int:
    """The preferred block when no gap between records is shorter (a gap's last steps that
    do not fill a block are plain steps), else the largest block dividing every gap: one
    compiled kernel for any record grid of a long run."""
    gaps = gaps[gaps > 0]
    if gaps.size == 0 or gaps.min() >= fast.preferred_block:
        return fast.preferred_block
    g = int(np.gcd.reduce(gaps))
    return max(b for b in range(1, fast.preferred_block + 1) if g % b == 0)


def _check_model(landscape, x0) -> None:
    """Evaluate the landscape's value on one agent's shapes, to refuse misfit x0 up front."""
    one = jax.tree_util.tree_map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape[1:], leaf.dtype),
                                 x0)
    shapes = [leaf.shape for leaf in jax.tree_util.tree_leaves(one)]
    dim = getattr(landscape, "dim", None)
    if dim is not None and shapes != [(dim,)]:
        got = [leaf.shape for leaf in jax.tree_util.tree_leaves(x0)]
        raise ValueError(f"x0 does not fit the landscape {landscape.name!r}: it takes flat "
                         f"parameters of dimension {dim}, so x0 needs shape (A, {dim}) — a "
                         f"leading agent axis, then one agent's parameters; got {got}.")
    try:
        jax.eval_shape(landscape.value, one)
        g = jax.eval_shape(landscape.grad, one)
        if jax.tree_util.tree_structure(g) != jax.tree_util.tree_structure(one) or [
                leaf.shape for leaf in jax.tree_util.tree_leaves(g)] != shapes:
            raise ValueError(f"its gradient has shapes "
                             f"{[leaf.shape for leaf in jax.tree_util.tree_leaves(g)]}")
    except Exception as e:  # noqa: BLE001 - re-raised with the shapes that matter
        raise ValueError(
            f"x0 does not fit the landscape {landscape.name!r}: one agent's parameters have "
            f"shapes {shapes} and evaluating the objective on them failed "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200]}). x0 needs a leading "
            "agent axis followed by one agent's parameters."
        ) from None


def run(
    optimizer: Optimizer,
    landscape,
    x0,
    n_steps: int,
    key: jax.Array,
    *,
    record_every: int | None = None,
    record_steps=None,
    observables: Mapping[str, Callable] | None = None,
    record_positions: bool = False,
    chunk_steps: int | None = None,
    progress: bool = False,
    state=None,
    start_step: int = 0,
    devices: int | None = None,
    fast: bool = True,
    on_divergence: str = "raise",
) -> Trace:
    """Run ``optimizer`` on ``landscape`` from the ensemble ``x0`` for ``n_steps`` steps.

    Args:
      optimizer: an :class:`~mflab.optimizers.base.Optimizer` (from :mod:`mflab.optimizers`).
      landscape: a :class:`~mflab.landscapes.Landscape`.
      x0: initial ensemble: a pytree of floating arrays with a leading agent axis.
      n_steps: number of steps.
      key: PRNG key; step k uses ``fold_in(key, start_step + k)``.
      record_every: record every this many steps (default 1; ``n_steps`` must be a
        multiple). Or give ``record_steps``: run-relative steps (any increasing integers in
        [0, n_steps], e.g. log-spaced); 0 and ``n_steps`` are always recorded.
      observables: name → function of one agent's parameters (default
        ``{"value": landscape.value}``). Wrap with :func:`sequential` to map agents one by
        one. Define them once: they key the compilation cache. A tuple of names keys a
        function returning that many values (one pass over a test set for its risk and its
        accuracy); each is recorded under its name. A :class:`step_info` records a field of
        the optimiser's per-step info instead (restarts, inner-loop statistics: its last
        value, or its sum or mean over the steps since the previous record).
      record_positions: also record the iterates as ``records["x"]``.
      chunk_steps: steps per jitted call (about; default ~20 chunks per run).
      progress: show a tqdm bar (default off in library calls; the CLI turns it on).
      state: resume from this optimiser state instead of ``init(x0)``.
      start_step: global index of the first step (for resuming).
      devices: split the agent axis over this many devices (CPU cores after
        :func:`mflab.devices.use_host_devices`); ``None`` keeps ``x0`` where it is.
      fast: use the landscape's exact blocked kernel for this optimiser when it offers one
        (same trajectory to rounding; ``False`` forces plain steps).
      on_divergence: ``"raise"`` (default) raises :class:`DivergenceError` at the first
        non-finite record; ``"continue"`` runs on and reports ``Trace.diverged``.

    Raises:
      DivergenceError: an observable or the iterate became NaN/inf; names the step, the
        agent and the quantity.
    """
    if not isinstance(optimizer, Optimizer):
        hint = (" It looks like an optax transformation: use it in an optax loop, or the "
                "mflab optimiser of the same name.") if hasattr(optimizer, "update") else ""
        raise TypeError(f"optimizer must be an mflab Optimizer (a factory of "
                        f"mflab.optimizers, e.g. sgd(eta=0.1)); got "
                        f"{type(optimizer).__name__}.{hint}")
    n_steps = check_int("n_steps", n_steps, minimum=0)
    start_step = check_int("start_step", start_step, minimum=0)
    key = check_key("key", key)
    check_choice("on_divergence", on_divergence, ("raise", "continue"))
    check_landscape("landscape", landscape)
    A = check_ensemble("x0", x0)
    _check_model(landscape, x0)
    grid = _record_grid(n_steps, record_every, record_steps)
    obs = dict({"value": landscape.value} if observables is None else observables)
    if record_positions:
        obs["x"] = _identity
    obs_key = tuple(obs.items())

    t0 = time.perf_counter()
    if devices is not None:
        from mflab.devices import shard_agents

        x0 = shard_agents(x0, devices)
        state = None if state is None else shard_agents(state, devices)
    state = optimizer.init(x0) if state is None else state

    wants_info = any(isinstance(fn, step_info) for fn in obs.values())
    fp = (landscape.fast_path(optimizer)
          if (fast and landscape.fast_path and not wants_info) else None)
    block = _choose_block(fp, np.diff(grid)) if fp is not None else None

    n_rec = grid.size - 1
    if chunk_steps is None:
        per_chunk = max(1, math.ceil(n_rec / 20))
    else:
        mean_gap = max(1.0, n_steps / max(n_rec, 1))
        per_chunk = max(1, int(check_int("chunk_steps", chunk_steps) // mean_gap))
    per_chunk = min(per_chunk + 1, grid.size)  # + 1: the first chunk also records the start
    chunk = make_chunk(jax.tree_util.tree_structure(optimizer), landscape, obs_key, block)

    # chunks cover the record grid, the first starting with a zero-length advance to the
    # start (its record); one compiled function serves every chunk
    n_pts = grid.size
    parts, walls = [], []
    diverged = np.full(A, -1, np.int64) if on_divergence == "continue" else None
    done, k = 0, int(grid[0]) + start_step
    with tqdm(total=n_steps, disable=not progress, unit="step",
              **bar_options(optimizer.name)) as bar:
        while done < n_pts:
            m = min(per_chunk, n_pts - done)
            targets = grid[done: done + m] + start_step
            padded = np.concatenate([targets, np.full(per_chunk - m, targets[-1])])
            t_chunk = time.perf_counter()
            state_in, k_in = state, k
            state, recs = chunk(optimizer, state, key, jnp.asarray(k, jnp.int32),
                                jnp.asarray(padded, jnp.int32))
            recs = jax.tree_util.tree_map(lambda a, m=m: np.asarray(a)[:m], jax.device_get(recs))
            t_end = time.perf_counter()
            frac = (targets - k) / max(targets[-1] - k, 1)
            walls.append((t_chunk - t0) + frac * (t_end - t_chunk))
            parts.append(recs)
            try:
                _check(recs, targets, diverged, lambda s=state_in, k0=k_in, k1=int(targets[-1]):
                       _make_replay(jax.tree_util.tree_structure(optimizer), landscape)(
                           optimizer, s, key, jnp.asarray(k0, jnp.int32),
                           jnp.asarray(k1, jnp.int32)))
            except DivergenceError as e:
                e.method = e.method or optimizer.name  # what diverged, for run records
                raise
            bar.update(int(targets[-1] - k))
            done, k = done + m, int(targets[-1])
    jax.block_until_ready(state)

    merged = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *parts)
    grad_evals = merged.pop("_grad_evals")
    merged.pop("_finite_x")
    bs = getattr(landscape, "batch_size", None)
    return Trace(
        steps=grid + start_step,
        grad_evals=grad_evals,
        samples=None if bs is None else grad_evals.astype(np.int64) * bs,
        wall=np.concatenate(walls),
        records=merged,
        state=state,
        diverged=diverged,
    )


def _check(recs: dict, steps: np.ndarray, diverged: np.ndarray | None,
           first_steps: Callable[[], np.ndarray]) -> None:
    """Find non-finite records: raise DivergenceError naming the first (step, agent, quantity),
    or, with ``diverged`` given, note each agent's first non-finite step.

    Where the iterate itself became non-finite, the step is the first non-finite one, not
    the record that saw it: ``first_steps()`` replays the chunk's steps (only then) and
    returns each agent's first step with a non-finite iterate (−1: none).
    """
    bad_x = ~np.asarray(recs["_finite_x"], bool)  # (R, A)
    bad = bad_x.copy()
    names = {}
    for name, rec in recs.items():
        if name in ("_finite_x", "_grad_evals"):  # the driver's own records
            continue
        for leaf in jax.tree_util.tree_leaves(rec):
            leaf = np.asarray(leaf)
            if not np.issubdtype(leaf.dtype, np.inexact):
                continue
            nf = ~np.isfinite(leaf.reshape(leaf.shape[0], leaf.shape[1], -1)).all(axis=2)
            for r, a in zip(*np.nonzero(nf & ~bad), strict=True):
                names.setdefault((int(r), int(a)), name)
            bad |= nf
    if not bad.any():
        return
    rec_first = np.argmax(bad, axis=0)  # (A,) each agent's first bad record
    agents = np.nonzero(bad.any(axis=0))[0]
    by_x = [a for a in agents if bad_x[rec_first[a], a] and (rec_first[a], a) not in names]
    exact = np.full(bad.shape[1], -1, np.int64)
    if by_x:
        replay = np.asarray(first_steps())
        exact[by_x] = replay[by_x]
    first = np.where(exact >= 0, exact, np.where(bad.any(axis=0), steps[rec_first], -1))
    if diverged is not None:
        new = (diverged < 0) & (first >= 0)
        diverged[new] = first[new]
        return
    r = int(rec_first[agents].min())
    a = int(min((a for a in agents if rec_first[a] == r), key=lambda a: first[a]))
    if (r, a) in names:
        raise DivergenceError(
            f"the observable {names[(r, a)]!r} became non-finite by step {int(steps[r])} for "
            f"agent (replica) {a}: NaN or inf at this record, finite at the previous one. "
            "Lower the step size or check the objective.",
            step=int(steps[r]), agent=a, quantity=names[(r, a)])
    at = (f"at step {int(first[a])} (the first non-finite step)" if exact[a] >= 0
          else f"by step {int(steps[r])}")
    raise DivergenceError(
        f"the iterate became non-finite {at} for agent (replica) {a}. Lower the step size or "
        "check the objective.", step=int(first[a]), agent=a, quantity="x")


@functools.lru_cache(maxsize=32)
def _make_replay(structure, landscape):
    """Plain steps from ``k0`` to ``k1`` returning each agent's first step (the number of
    steps taken, as records count them) with a non-finite iterate, −1 if none."""
    del structure

    def replay(optimizer, state, key, k0, k1):
        A = jax.tree_util.tree_leaves(state.x)[0].shape[0]

        def body(k, carry):
            state, first = carry
            state, _ = optimizer.step(jax.random.fold_in(key, k), state, landscape)
            first = jnp.where((first < 0) & ~_finite_agents(state.x), k + 1, first)
            return state, first

        return jax.lax.fori_loop(k0, k1, body, (state, jnp.full((A,), -1, jnp.int32)))[1]

    return jit_with_array_arguments(replay)
