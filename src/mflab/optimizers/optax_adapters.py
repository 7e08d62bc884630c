"""B1–B5 as optax transformations, built from the same rule as the native optimisers.

An optax transformation sees one set of parameters (no agent axis): the whole parameter
pytree is **one agent**, so the B3 restart test is a single inner product over all leaves.
The usual loop works::

    opt = as_optax_mass(learning_rate=0.1)          # or optax.inject_hyperparams(...)(...)
    state = opt.init(params)
    for batch in data:
        grads = jax.grad(loss)(params, batch)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)

**Conventions, as optax's own.** ``learning_rate`` is a number or an ``optax.Schedule``
(the paper's names ``eta``/``eta1`` are accepted as aliases); every adapter works under
``optax.inject_hyperparams`` (inside ``jit``), accepts optax's extra keyword arguments
(``GradientTransformationExtraArgs``) and keeps its state's dtypes.

**B2–B4 are a direction followed by the step size**: ``chain(scale_by_momentum(γ, r,
restart), scale_by_learning_rate(η))``, with the scale-free rule of
:mod:`mflab.optimizers.momentum` (trace t⁺ = γt + (γ − r)g, direction t⁺ + g, r = η₂/η₁).
So transformations chained after an adapter act as they would on optax's own optimisers:
``chain(as_optax_mass(...), scale(0.5))`` is MaSS with both steps halved. The ``params``
are the points u at which gradients are evaluated, as in ``optax.sgd(nesterov=True)``
(which :func:`as_optax_nesterov` equals up to rounding); the report's iterate w = u − ηg
is one plain gradient step away and converges with it — read ``params``.

SGLD (B5) adds Gaussian noise whose scale is sqrt(2η/β), not proportional to η; chaining a
scale after it scales the noise too (it is then SGLD at another temperature).

Hyper-parameters, defaults and references are those of :func:`~mflab.optimizers.sgd.sgd`,
:func:`~mflab.optimizers.nesterov.nesterov`, :func:`~mflab.optimizers.nesterov.restart_nesterov`,
:func:`~mflab.optimizers.mass.mass` and :func:`~mflab.optimizers.langevin.sgld`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from mflab.optimizers.base import normal_like
from mflab.optimizers.momentum import momentum_direction
from mflab.schedules import ScalarOrSchedule, as_schedule
from mflab.validation import check_int, check_interval, check_positive


class ScaleByMomentumState(NamedTuple):
    """State of :func:`scale_by_momentum`: the trace t (params' structure and dtypes) and the
    restart counter α (int32 scalar; kept at 1 for a fixed γ)."""

    trace: optax.Params
    alpha: jax.Array


class SGLDOptaxState(NamedTuple):
    """State of :func:`as_optax_sgld`: the step ``count`` (int32) and the noise ``key``."""

    count: jax.Array
    key: jax.Array


def _tree_dot(x, y) -> jax.Array:
    return sum(jnp.vdot(a, b) for a, b in
               zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(y), strict=True))


def _concrete(value) -> bool:
    return not isinstance(value, jax.core.Tracer)


def _learning_rate(learning_rate, alias_name: str, alias) -> ScalarOrSchedule:
    """``learning_rate``, or the paper's name for it; refuse both at once."""
    if alias is not None:
        if learning_rate is not None:
            raise TypeError(f"give learning_rate or {alias_name} (its alias), not both.")
        learning_rate = alias
    if learning_rate is None:
        raise TypeError(f"learning_rate (or its alias {alias_name}) is required: a step size > 0 "
                        "or a schedule, as in optax.")
    as_schedule("learning_rate", learning_rate)  # validates numbers and schedules
    return learning_rate


def scale_by_momentum(gamma: float | None = 0.9, ratio: float = 0.0,
                      restart: bool = False) -> optax.GradientTransformationExtraArgs:
    """The direction of B2–B4 (scale-free): t⁺ = γt + (γ − r)g, updates = t⁺ + g.

    Follow it with ``optax.scale_by_learning_rate(η)``. ``restart=True`` uses the B3
    schedule γ = (α − 1)/(α + 2) with α ← 1 when gᵀ(t + g) < 0 (gradient restart).

    Args:
      gamma: fixed momentum γ ∈ [0, 1) (ignored with ``restart``).
      ratio: r = η₂/η₁ ≥ 0 of MaSS (0: Nesterov).
      restart: the B3 gradient-restart schedule.

    Reference: :mod:`mflab.optimizers.momentum`; report eqs. (32)–(35).
    """
    if not restart and _concrete(gamma):
        check_interval("gamma", gamma, 0.0, 1.0)
    if _concrete(ratio):
        check_positive("ratio", ratio, allow_zero=True)

    def init(params):
        return ScaleByMomentumState(trace=jax.tree_util.tree_map(jnp.zeros_like, params),
                                    alpha=jnp.ones((), jnp.int32))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        d, trace, alpha, _ = momentum_direction(updates, state.trace, state.alpha,
                                                gamma=gamma, ratio=ratio, restart=restart,
                                                dot=_tree_dot)
        trace = jax.tree_util.tree_map(lambda t, p: t.astype(p.dtype), trace, state.trace)
        return d, ScaleByMomentumState(trace, alpha)

    return optax.GradientTransformationExtraArgs(init, update)


def _with_learning_rate(direction, learning_rate) -> optax.GradientTransformationExtraArgs:
    return optax.chain(direction, optax.scale_by_learning_rate(learning_rate))


def as_optax_sgd(learning_rate: ScalarOrSchedule | None = None, *,
                 eta: ScalarOrSchedule | None = None) -> optax.GradientTransformationExtraArgs:
    """B1 as optax: updates = −η_k g (x ← x − η g̃(x)); the same as ``optax.sgd(η)``.

    Args:
      learning_rate: η > 0 or a schedule (required, as in optax); ``eta`` is its
        alias.
    """
    lr = _learning_rate(learning_rate, "eta", eta)
    return _with_learning_rate(optax.identity(), lr)


def as_optax_nesterov(learning_rate: ScalarOrSchedule | None = None, gamma: float = 0.9, *,
                      eta: ScalarOrSchedule | None = None
                      ) -> optax.GradientTransformationExtraArgs:
    """B2 (report eq. 32) as optax; equal to ``optax.sgd(learning_rate, momentum=gamma,
    nesterov=True)`` up to rounding. ``eta`` is an alias of ``learning_rate``."""
    lr = _learning_rate(learning_rate, "eta", eta)
    return _with_learning_rate(scale_by_momentum(gamma, 0.0, False), lr)


def as_optax_restart_nesterov(learning_rate: ScalarOrSchedule | None = None, *,
                              eta: ScalarOrSchedule | None = None
                              ) -> optax.GradientTransformationExtraArgs:
    """B3 (report eq. 33; O'Donoghue & Candès 2015) as optax, the restart test over the whole
    pytree. ``eta`` is an alias of ``learning_rate``."""
    lr = _learning_rate(learning_rate, "eta", eta)
    return _with_learning_rate(scale_by_momentum(None, 0.0, True), lr)


def as_optax_mass(learning_rate: ScalarOrSchedule | None = None, gamma: float | None = None,
                  restart: bool = False, ratio: float = 0.1, *,
                  eta1: ScalarOrSchedule | None = None, eta2: float | None = None
                  ) -> optax.GradientTransformationExtraArgs:
    """B4, MaSS (report eqs. 34–35; Liu & Belkin 2020) as optax.

    Args:
      learning_rate: η₁ > 0 or a schedule (required, as in optax); ``eta1`` is
        its alias.
      gamma: fixed γ ∈ [0, 1) (default 0.9 unless ``restart``).
      restart: the B3 gradient-restart schedule for γ.
      ratio: r = η₂/η₁ ≥ 0, the compensation relative to the step (default 0.1, as
        :func:`~mflab.optimizers.mass.mass`'s η₂ = 0.1·η₁).
      eta2: the paper's η₂ as a number; then ``ratio = eta2/learning_rate`` (needs a
        numeric learning rate).
    """
    lr = _learning_rate(learning_rate, "eta1", eta1)
    if restart and gamma is not None:
        raise ValueError(f"as_optax_mass: give either a fixed gamma or restart=True, not both; "
                         f"got gamma={gamma!r} with restart=True.")
    if eta2 is not None:
        if callable(lr):
            raise ValueError("eta2 needs a numeric learning_rate; with a schedule give ratio "
                             "= eta2/eta1 instead.")
        ratio = check_positive("eta2", eta2, allow_zero=True) / lr
    gamma = None if restart else (0.9 if gamma is None else gamma)
    return _with_learning_rate(scale_by_momentum(gamma, ratio, restart), lr)


def as_optax_sgld(learning_rate: ScalarOrSchedule | None = None, beta: float = 1.0,
                  seed: int = 0, *, eta: ScalarOrSchedule | None = None
                  ) -> optax.GradientTransformationExtraArgs:
    """B5, SGLD (report eq. 19, SPEC errata 1) as optax: updates = −η_k g + sqrt(2η_k/β) ξ_k.

    Step k draws ξ_k from ``split(fold_in(key(seed), k))[1]`` — the stream of
    :func:`~mflab.optimizers.langevin.sgld` under :func:`mflab.run` with
    ``key = jax.random.key(seed)`` — so a run is reproducible from the seed alone.

    Args:
      learning_rate: η > 0 or a schedule (required, as in optax); ``eta`` is its
        alias.
      beta: inverse temperature β > 0 (default 1).
      seed: integer seed of the noise (as ``optax.add_noise``).
    """
    lr = _learning_rate(learning_rate, "eta", eta)
    if _concrete(beta):
        check_positive("beta", beta)
    if _concrete(seed):
        seed = check_int("seed", seed, minimum=0, maximum=2**31 - 1)
    schedule = as_schedule("learning_rate", lr)

    def init(params):
        del params
        return SGLDOptaxState(count=jnp.zeros((), jnp.int32), key=jax.random.key(seed))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _, key_noise = jax.random.split(jax.random.fold_in(state.key, state.count))
        xi = normal_like(key_noise, updates)

        def one(g, z):
            eta_k = jnp.asarray(schedule(state.count), g.dtype)
            return -eta_k * g + jnp.sqrt(2.0 * eta_k / beta) * z

        out = jax.tree_util.tree_map(one, updates, xi)
        return out, SGLDOptaxState(state.count + 1, state.key)

    return optax.GradientTransformationExtraArgs(init, update)
