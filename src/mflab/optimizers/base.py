"""The optimiser interface shared by B1–B11 (SPEC Part B): optimisers are values.

An optimiser is an immutable :class:`Optimizer` object with two pure methods (the
optax/blackjax pair):

* ``init(x0) -> state`` where ``x0`` is the ensemble's parameters: every leaf has a
  leading **agent axis** of size A.
* ``step(key, state, landscape) -> (state, info)``: one step for every agent.
  Gradients come from :func:`ensemble_grad` (the landscape's oracle, ``vmap``-ed over
  the agents with independent keys).

**Values, not closures.** An optimiser is a pytree: its numeric hyper-parameters (step
sizes, schedules' parameters, β, γ, λ, …) are leaves, its structural arguments (inner-loop
lengths, ``restart``, ``mode``) are static. :func:`mflab.run` passes it to the compiled
loop as an argument and caches the compilation on its *structure*
(``jax.tree_util.tree_structure``), so a new step size, a fresh factory call with the same
structural arguments, or a new seed never compiles again — the way ``jit`` treats an
equinox ``Module`` or an ``optax.inject_hyperparams`` state.

Two ways to write one:

* a subclass of :class:`Optimizer` (it becomes a frozen dataclass; fields are leaves unless
  declared with :func:`static_field`), with ``name`` and ``grads_per_step`` and the two
  methods — see ``docs/extending.md``;
* a factory returning :class:`StepFunctions` (closures), decorated with
  :func:`optimizer_factory` naming its numeric arguments: how B1–B11 are written. Each
  decorated factory gets its own subclass (``factory.optimizer_type``), so a landscape can
  offer fast kernels per type (:mod:`mflab.fastpath`).

Every state is a NamedTuple whose first fields are ``x`` (the current iterate, the
point a user reads off), ``grad_evals`` (gradient evaluations — oracle calls — per agent
so far, an int32 scalar) and ``count`` (steps taken, int32: the k of a schedule η_k), so
the driver can record any optimiser the same way and compare them at equal cost.
``grads_per_step`` is the oracle calls each step costs one agent. Step sizes are
``ScalarOrSchedule`` (:mod:`mflab.schedules`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mflab.validation import check_ensemble

Params = Any
State = Any
Info = Any


def static_field(**kwargs):
    """A field of an :class:`Optimizer` subclass that is structure, not a leaf (an int loop
    length, a flag, a string): changing it compiles anew."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


class Optimizer:
    """Base class of every optimiser: an immutable pytree with ``init`` and ``step``.

    Subclasses are made frozen dataclasses and registered as pytrees when they are defined:
    each field is a leaf (a number, an array, a registered schedule) unless declared with
    :func:`static_field`. They provide ``name`` (str) and ``grads_per_step`` (oracle calls per
    agent per step), as class attributes or static fields, and

    * ``init(self, x0) -> state`` (first state fields ``x``, ``grad_evals``, ``count``),
    * ``step(self, key, state, landscape) -> (state, info)``.

    Optimisers compare and hash by identity; :func:`mflab.run` keys its compiled loop on
    ``jax.tree_util.tree_structure(optimizer)`` (type + static fields), not on the object.
    """

    name: ClassVar[str] = "optimizer"
    grads_per_step: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_opaque"):  # registers itself (StepFunctions)
            return
        dataclasses.dataclass(frozen=True, eq=False)(cls)
        if not hasattr(cls, "hyperparams"):
            cls.hyperparams = property(_fields_of)
        fields = dataclasses.fields(cls)
        jax.tree_util.register_dataclass(
            cls,
            data_fields=[f.name for f in fields if not f.metadata.get("static")],
            meta_fields=[f.name for f in fields if f.metadata.get("static")])

    def init(self, x0: Params) -> State:
        raise NotImplementedError(f"{type(self).__name__} does not define init(x0).")

    def step(self, key: jax.Array, state: State, landscape) -> tuple[State, Info]:
        raise NotImplementedError(f"{type(self).__name__} does not define step(key, state, "
                                  "landscape).")

    #: The optimiser's arguments (name → value), for run records: a subclass's fields by
    #: default (a property set when the class is made, unless the class defines its own).
    hyperparams: ClassVar[Mapping[str, Any]]


def _fields_of(opt) -> Mapping[str, Any]:
    return MappingProxyType({f.name: getattr(opt, f.name) for f in dataclasses.fields(opt)})


@dataclasses.dataclass(frozen=True, eq=False)
class StepFunctions(Optimizer):
    """An optimiser given as two closures (what a factory builds; compiled per object).

    ``init(x0)``, ``step(key, state, landscape)``, ``grads_per_step``, ``name`` and
    ``hyperparams`` (the factory's arguments, for records). A pytree without leaves whose
    structure is the object itself: two objects compile twice. Decorate the factory with
    :func:`optimizer_factory` to make its numeric arguments leaves.
    """

    _opaque = True
    init: Callable[[Params], State]
    step: Callable[[jax.Array, State, Any], tuple[State, Info]]
    grads_per_step: int
    name: str
    hyperparams: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}))


jax.tree_util.register_pytree_node(StepFunctions, lambda opt: ((), opt), lambda opt, _: opt)


class FactoryOptimizer(Optimizer):
    """The value made by an :func:`optimizer_factory`-decorated factory.

    ``arguments``: the numeric arguments (leaves); ``static``: the others, as sorted
    ``(name, value)`` pairs. The factory is called again with traced ``arguments`` inside
    ``jit`` (its checks pass tracers through, :func:`mflab.validation.traced`), so the
    arithmetic equals that of the concrete optimiser.
    """

    arguments: dict
    static: tuple = static_field()
    name: str = static_field()
    grads_per_step: int = static_field()
    factory: ClassVar[Callable[..., StepFunctions]]

    @functools.cached_property
    def built(self) -> StepFunctions:
        """The factory's :class:`StepFunctions` for these arguments."""
        return type(self).factory(**dict(self.static), **self.arguments)

    def init(self, x0):
        return self.built.init(x0)

    def step(self, key, state, landscape):
        return self.built.step(key, state, landscape)

    @property
    def hyperparams(self) -> Mapping[str, Any]:
        return self.built.hyperparams


def _is_leafy(value) -> bool:
    """Whether an argument can be a pytree leaf (a number or array, or a registered pytree
    of them such as mflab's schedules); an opaque callable (an optax schedule closure) or a
    string cannot, and stays static."""
    if isinstance(value, bool | str) or value is None:
        return False
    return all(isinstance(v, int | float | jax.Array) or hasattr(v, "dtype")
               for v in jax.tree_util.tree_leaves(value))


def _canonical(value):
    """Numbers as Python floats (an int 2 and a float 2.0 share one compilation)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def optimizer_factory(*numeric: str):
    """Decorate a factory returning :class:`StepFunctions` so that it returns a value.

    ``numeric`` names the arguments that may be leaves (numbers or registered schedules; an
    opaque callable given for one of them stays static). The returned factory validates its
    arguments by calling the original once, and returns an instance of a subclass of
    :class:`FactoryOptimizer` made for it (``factory.optimizer_type``, the type fast
    kernels register for).
    """
    def wrap(factory: Callable[..., StepFunctions]):
        sig = inspect.signature(factory)
        unknown = [n for n in numeric if n not in sig.parameters]
        if unknown:
            raise TypeError(f"{factory.__name__} has no argument(s) {unknown}.")
        cls_name = "".join(p.capitalize() for p in factory.__name__.split("_"))
        cls = type(cls_name, (FactoryOptimizer,),
                   {"factory": staticmethod(factory), "__module__": factory.__module__,
                    "__qualname__": cls_name,
                    "__doc__": f"The optimiser value of :func:`{factory.__name__}`."})

        @functools.wraps(factory)
        def make(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            built = factory(**bound.arguments)  # validates, fixes the structure
            leaves = {n: _canonical(v) for n, v in bound.arguments.items()
                      if n in numeric and _is_leafy(v)}
            static = tuple(sorted((n, v) for n, v in bound.arguments.items()
                                  if n not in leaves))
            opt = cls(arguments=leaves, static=static, name=built.name,
                      grads_per_step=built.grads_per_step)
            opt.__dict__["built"] = built  # the concrete closures, reused outside jit
            return opt

        make.optimizer_type = cls
        return make

    return wrap


class EmptyInfo(NamedTuple):
    """Info of optimisers with no per-step diagnostics."""


# --------------------------------------------------------------------------- helpers


def num_agents(x: Params) -> int:
    """Size of the leading agent axis of an ensemble pytree (checked: floating leaves)."""
    return check_ensemble("parameters", x)


def zero_counts() -> tuple[jax.Array, jax.Array]:
    """(grad_evals, count) of a fresh state: int32 zeros."""
    z = jnp.zeros((), jnp.int32)
    return z, z


def ensemble_grad(landscape, key: jax.Array, x: Params, calls=None) -> Params:
    """g̃(x_i) for every agent i, with independent keys (``vmap`` of the one-agent oracle).

    Agent i draws with ``fold_in(key, i)`` (:func:`agent_keys`), so its stream does not
    depend on the size of the ensemble. ``calls`` is the index of this oracle call in each
    agent's sequence (an optimiser passes its ``state.grad_evals`` plus the calls already
    made this step): a landscape with a data stream (``landscape.draw``) uses it to walk
    its epochs without replacement. Without it (``None``, e.g. a user's optimiser that does
    not count) each agent draws a uniformly random batch from its key — a new batch every
    step, since every step has its own key, but with replacement: never the same batch
    reused by mistake. For an exact oracle no keys are drawn (A keys per step cost more
    than the Müller–Brown gradient itself).
    """
    if landscape.exact:
        return agent_map(landscape.grad, x)
    A = jax.tree_util.tree_leaves(x)[0].shape[0]
    keys = agent_keys(key, A)
    if landscape.draw is not None and calls is not None:
        return agent_map(lambda k, a, xa: landscape.batch_grad(xa, landscape.draw(k, calls, a)),
                         keys, jnp.arange(A), x)
    return agent_map(landscape.sample_grad, keys, x)


def agent_map(f, *args):
    """``jax.vmap(f)(*args)`` over the leading agent axis — but for one agent, ``f`` on that
    agent with the axis put back, without ``vmap``.

    Why: with jax/jaxlib 0.10.2 on CPU, ``jit(vmap(grad(f)))`` over an axis of size 1
    returns garbage in float32 for ordinary f (e.g. Σ_i √(Σ_k v_k w_ik²) on an (800, 40)
    array: relative error 1e33 against numpy, while size 2, no jit or no vmap are exact to
    5e-8; tests/test_open_engine.py). One-agent runs are the common case (C5's
    exact-gradient controls ran through it: at three starts checked, their float32
    gradients were wrong by 22–206 %)."""
    A = jax.tree_util.tree_leaves(args[-1])[0].shape[0]
    if A != 1:
        return jax.vmap(f)(*args)
    one = f(*jax.tree_util.tree_map(lambda a: a[0], args))
    return jax.tree_util.tree_map(lambda a: a[None], one)


def agent_keys(key: jax.Array, n_agents: int) -> jax.Array:
    """The oracle keys of one step: ``fold_in(key, i)`` for agents i = 0..A−1."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n_agents))


def retract(landscape, x: Params) -> Params:
    """``landscape.retract`` applied to every agent (identity for unconstrained landscapes)."""
    if landscape.retract is None:
        return x
    return agent_map(landscape.retract, x)


def ensemble_value(landscape, x: Params) -> jax.Array:
    """Φ(x_i) for every agent, shape ``(A,)``."""
    return agent_map(landscape.value, x)


def normal_like(key: jax.Array, x: Params) -> Params:
    """Standard normal noise with the structure and dtype of ``x`` (:func:`standard_normal`
    per leaf, cast to the leaf's dtype)."""
    leaves, treedef = jax.tree_util.tree_flatten(x)
    keys = jax.random.split(key, len(leaves))
    noise = [standard_normal(k, jnp.shape(leaf)).astype(jnp.result_type(leaf))
             for k, leaf in zip(keys, leaves, strict=True)]
    return jax.tree_util.tree_unflatten(treedef, noise)


#: The largest float32 above −1: uniforms in [_LO, 1) keep erf⁻¹ finite.
_LO = float(np.nextafter(np.float32(-1.0), np.float32(0.0)))


def standard_normal(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """float32 N(0, 1) draws of ``shape`` from ``key``: z = √2·erf⁻¹(u), u uniform on
    (−1, 1) (the transform of ``jax.random.normal``), with the uniform bits from XLA's own
    ThreeFry generator (``lax.rng_bit_generator``) seeded by four words of ``key``.

    Why not ``jax.random.normal``: on CPU its ThreeFry is ~5x slower than XLA's (measured:
    6.7 against 1.3 ns per 32-bit word), and a Langevin step on a network draws an (N, d)
    Gaussian per agent — 7.3 ns against 2.6 ns per normal here, which is most of a B5 step
    at N = 800, d = 320 (``benchmarks/bench_noise.py``). Float32 because JAX's float64
    PRNG is ~10x slower and Langevin noise needs no 53-bit mantissa. The stream is a
    deterministic function of ``key`` on one backend and JAX version (XLA does not promise
    the same bits across backends or versions, as for JAX's ``rbg`` keys).
    """
    bits = _threefry_words(jax.random.bits(key, (4,), jnp.uint32), tuple(shape))
    u = jax.lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0
    u = jnp.maximum(_LO, u * (1.0 - _LO) + _LO)  # [0, 1) -> [_LO, 1)
    return jnp.float32(np.sqrt(2.0)) * jax.lax.erf_inv(u)


def _threefry_words(state: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """uint32 words of ``shape`` from XLA's ThreeFry seeded by ``state`` (4 words). Under
    ``vmap`` each state draws its own words (``lax.map`` over the batch): JAX's batching
    of ``rng_bit_generator`` would draw the batch as one stream from the first state."""

    @jax.custom_batching.custom_vmap
    def words(st):
        return jax.lax.rng_bit_generator(st, shape, jnp.uint32,
                                         algorithm=jax.lax.RandomAlgorithm.RNG_THREE_FRY)[1]

    @words.def_vmap
    def _batched(axis_size, in_batched, st):
        if not in_batched[0]:
            return words(st), False
        return jax.lax.map(words, st), True

    return words(state)


def tree_axpy(alpha, x: Params, y: Params) -> Params:
    """alpha * x + y, leafwise (alpha a scalar or an agent-axis vector broadcast on the left)."""
    return jax.tree_util.tree_map(lambda a, b: _bcast(alpha, a) * a + b, x, y)


def tree_scale(alpha, x: Params) -> Params:
    return jax.tree_util.tree_map(lambda a: _bcast(alpha, a) * a, x)


def tree_add(*trees: Params) -> Params:
    return jax.tree_util.tree_map(lambda *xs: sum(xs[1:], xs[0]), *trees)


def tree_sub(x: Params, y: Params) -> Params:
    return jax.tree_util.tree_map(jnp.subtract, x, y)


def tree_agent_dot(x: Params, y: Params) -> jax.Array:
    """⟨x_i, y_i⟩ per agent, shape ``(A,)``."""
    parts = jax.tree_util.tree_map(
        lambda a, b: jnp.sum((a * b).reshape(a.shape[0], -1), axis=1), x, y
    )
    return sum(jax.tree_util.tree_leaves(parts))


def tree_agent_mean(x: Params) -> Params:
    """x̄ = mean over agents, kept with a leading axis of 1 (broadcasts against x).

    Computed as the product with the vector (1/A, …, 1/A): XLA's CPU reduction over the
    leading axis inside a jitted loop is far slower (measured on a (3, 800, 320) float32
    ensemble: 7 ms a step against 0.2 ms), which doubled the cost of a B6 step.
    """
    def mean(a):
        w = jnp.full((a.shape[0],), 1.0 / a.shape[0], a.dtype)
        return jnp.tensordot(w, a, axes=1)[None]

    return jax.tree_util.tree_map(mean, x)


def _bcast(alpha, leaf):
    alpha = jnp.asarray(alpha)
    if alpha.ndim == 0:
        return alpha.astype(jnp.result_type(leaf))
    return alpha.reshape(alpha.shape + (1,) * (leaf.ndim - alpha.ndim)).astype(
        jnp.result_type(leaf)
    )
