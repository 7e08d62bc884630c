"""The open engine (issue 21): optimisers are values compiled once per structure, the
framework owns the oracle's call index, fast kernels are found by optimiser type, and the
layers of docs/architecture.md hold."""

import ast
import contextlib
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab
import mflab.optimizers as O
from mflab.landscapes import from_loss, mueller_brown, quadratic
from mflab.meanfield import (
    IsotropicGaussians,
    init_particles,
    network_kernels,
    network_landscape,
    sigma_a1,
    unit_a,
)
from mflab.schedules import meanfield_learning_rate

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def count_compilations():
    """Count XLA backend compilations in the block (JAX's own monitoring event)."""
    seen = []

    def listener(event, duration, **kwargs):
        if event == BACKEND_COMPILE:
            seen.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


X0 = jnp.array([[-0.5, 1.5], [0.6, 0.0], [0.0, 0.5]])


@pytest.mark.parametrize("factory,first,second", [
    (O.sgd, {"eta": 1e-4}, {"eta": 2e-4}),
    (O.nesterov, {"eta": 1e-4, "gamma": 0.9}, {"eta": 3e-5, "gamma": 0.5}),
    (O.mass, {"eta1": 1e-4, "eta2": 1e-5}, {"eta1": 2e-4, "eta2": 0.0}),
    (O.interacting_sgld, {"eta": 1e-4, "beta": 1.0, "lam": 2.0},
     {"eta": 5e-5, "beta": 0.3, "lam": 0.5}),
    (O.hj_smoothing, {"eta": 1e-3, "inner_steps": 5, "burn_in": 1},
     {"eta": 2e-3, "beta": 0.2, "gamma": 0.05, "inner_steps": 5, "burn_in": 1}),
    (O.mf_hom_sgld, {"Delta": 1e-3, "M": 5, "burn_in": 1},
     {"Delta": 2e-3, "lam": 1.0, "delta": 1e-5, "M": 5, "burn_in": 1}),
])
def test_a_fresh_optimiser_of_the_same_structure_compiles_nothing(factory, first, second):
    L = mueller_brown()
    mflab.run(factory(**first), L, X0, 40, jax.random.key(0), record_every=20)
    with count_compilations() as seen:
        # a fresh factory call, other numbers, another seed: the same compiled chunk
        tr = mflab.run(factory(**second), L, X0, 40, jax.random.key(7), record_every=20)
    assert seen == []
    # and the traced numbers are the given ones: equal to the optimiser's own steps
    opt = factory(**second)
    state = opt.init(X0)
    step = jax.jit(lambda k, s: opt.step(k, s, L)[0])
    for k in range(40):
        state = step(jax.random.fold_in(jax.random.key(7), k), state)
    np.testing.assert_allclose(tr.state.x, state.x, rtol=1e-12, atol=1e-14)


def test_a_new_structure_compiles_once():
    L = mueller_brown()
    mflab.run(O.hj_smoothing(1e-3, inner_steps=5, burn_in=1), L, X0, 20, jax.random.key(0),
              record_every=20)
    with count_compilations() as seen:  # inner_steps is structure: one new compilation
        mflab.run(O.hj_smoothing(1e-3, inner_steps=6, burn_in=1), L, X0, 20,
                  jax.random.key(0), record_every=20)
    assert len(seen) == 1


def test_the_readme_pattern_compiles_once():
    # mflab.run(mflab.optimizers.sgld(eta=..., beta=...), ...) called again with new numbers
    L = mueller_brown()
    mflab.run(O.sgld(eta=1e-4, beta=0.1), L, X0, 100, jax.random.key(1), record_every=50)
    with count_compilations() as seen:
        mflab.run(O.sgld(eta=2e-4, beta=0.2), L, X0, 100, jax.random.key(2), record_every=50)
    assert seen == []


def test_meanfield_rate_schedule_is_a_leaf():
    # sgd(meanfield_learning_rate(N, eps)) for a new ε: the schedule's ε is a leaf
    units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, 6)
    N = 8
    L = network_landscape(units, data, N)
    th = jnp.stack([init_particles(jax.random.key(s), units, N, 6, 0.8) for s in (0, 1)])
    obs = {"mean_norm": lambda t: jnp.mean(jnp.linalg.norm(t, axis=1))}
    mflab.run(O.sgd(meanfield_learning_rate(N, 1e-3)), L, th, 64, jax.random.key(0),
              record_every=32, observables=obs)
    with count_compilations() as seen:
        tr = mflab.run(O.sgd(meanfield_learning_rate(N, 2e-3)), L, th, 64, jax.random.key(0),
                       record_every=32, observables=obs)
    assert seen == []
    plain = mflab.run(O.sgd(N * 2e-3), L, th, 64, jax.random.key(0), record_every=32,
                      observables=obs, fast=False)
    np.testing.assert_allclose(tr.state.x, plain.state.x, rtol=1e-10, atol=1e-12)


def test_a_step_size_sweep_on_the_network_compiles_once():
    # the studies' tuning loops: 4 step sizes of Nesterov on the network's fast path
    units, data = unit_a(sigma_a1()), IsotropicGaussians(0.8, 6)
    N = 8
    L = network_landscape(units, data, N)
    th = init_particles(jax.random.key(3), units, N, 6, 0.8)[None]
    obs = {"mean_norm": lambda t: jnp.mean(jnp.linalg.norm(t, axis=1))}
    mflab.run(O.nesterov(0.01, 0.9), L, th, 64, jax.random.key(0), record_every=32,
              observables=obs)
    with count_compilations() as seen:
        for eta in (0.005, 0.02, 0.04, 0.08):
            mflab.run(O.nesterov(eta, 0.8), L, th, 64, jax.random.key(0), record_every=32,
                      observables=obs)
    assert seen == []


def test_optimisers_are_pytrees_with_numbers_as_leaves():
    opt = O.mass(1e-3, 2e-4, 0.8, restart=False)
    leaves, treedef = jax.tree_util.tree_flatten(opt)
    assert sorted(leaves) == [2e-4, 1e-3, 0.8]
    assert treedef == jax.tree_util.tree_structure(O.mass(5e-3, 0.0, 0.3))
    assert treedef != jax.tree_util.tree_structure(O.mass(5e-3, 0.0, restart=True))
    assert isinstance(opt, O.mass.optimizer_type) and isinstance(opt, O.Optimizer)
    # an opaque schedule (an optax closure) is structure, not a leaf
    import optax

    sched = optax.exponential_decay(1e-3, 100, 0.5)
    assert jax.tree_util.tree_leaves(O.sgd(sched)) == []


# ------------------------------------------------------------ the oracle's call index


def _regression(n=256, d=3, seed=0):
    kx, kn = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (n, d))
    y = x @ jnp.arange(1.0, d + 1) + jax.random.normal(kn, (n,))
    return x, y


class NoCount(O.Optimizer):
    """A user's SGD that never passes a call index to the oracle (the trap of issue 21)."""

    eta: float
    name = "no-count"

    def init(self, x0):
        z = jnp.zeros((), jnp.int32)
        return O.SGDState(x0, z, z)

    def step(self, key, state, landscape):
        from mflab.optimizers.base import ensemble_grad, tree_axpy

        g = ensemble_grad(landscape, key, state.x)
        return O.SGDState(tree_axpy(-self.eta, g, state.x), state.grad_evals + 1,
                          state.count + 1), O.EmptyInfo()


def test_an_optimiser_that_passes_no_call_index_draws_a_new_batch_each_step():
    x, y = _regression()
    L = from_loss(lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2), (x, y), batch_size=8)
    from mflab.optimizers.base import ensemble_grad

    w0 = jnp.zeros((1, 3))
    # the gradients the oracle gives at one point under 5 step keys: with no call index
    # they all differ (a new batch each step); a fixed index 0 — the old default — gives
    # one batch, the same gradient every step
    keys = [jax.random.fold_in(jax.random.key(0), k) for k in range(5)]
    free = [tuple(np.asarray(ensemble_grad(L, k, w0)).ravel()) for k in keys]
    fixed = [tuple(np.asarray(ensemble_grad(L, k, w0, 0)).ravel()) for k in keys]
    assert len(set(free)) == 5 and len(set(fixed)) == 1
    # and training converges to the least-squares loss, not to one batch's fit
    tr = mflab.run(NoCount(eta=0.02), L, w0, 3000, jax.random.key(1), record_every=3000)
    w_ls = np.linalg.lstsq(np.asarray(x), np.asarray(y), rcond=None)[0]
    full = float(jnp.mean((x @ w_ls - y) ** 2))
    assert float(tr.values[-1, 0]) < full * 1.1


def test_user_optimiser_class_compiles_once_per_structure():
    L = quadratic(np.eye(2))
    x0 = jnp.ones((2, 2))
    mflab.run(NoCount(eta=0.1), L, x0, 20, jax.random.key(0), record_every=10)
    with count_compilations() as seen:
        tr = mflab.run(NoCount(eta=0.2), L, x0, 20, jax.random.key(0), record_every=10)
    assert seen == []
    np.testing.assert_allclose(tr.state.x, 0.8 ** 20 * x0, rtol=1e-5)  # (1 − η)^k on ½|x|²


# ---------------------------------------------------------------------- fast kernels


def test_network_kernels_are_registered_by_type():
    types = network_kernels.registered()
    assert O.sgd.optimizer_type in types and O.nesterov.optimizer_type in types
    assert O.mass.optimizer_type in types
    L = network_landscape(unit_a(sigma_a1()), IsotropicGaussians(0.8, 4), 5)
    assert L.fast_path(O.sgd(0.1)) is not None
    assert L.fast_path(O.mass(0.1, 0.01, restart=True)) is None
    assert L.fast_path(O.sgld(0.1)) is None
    with pytest.raises(TypeError, match="optimiser class"):
        network_kernels.register("momentum")


# ---------------------------------------------------------------------------- layers

SRC = pathlib.Path(mflab.__file__).parent


def _imports(path: pathlib.Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mflab"):
            mods.add(node.module)
        elif isinstance(node, ast.Import):
            mods.update(a.name for a in node.names if a.name.startswith("mflab"))
    return mods


def _package(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_layers_of_the_architecture():
    # docs/architecture.md: the model packages (landscapes, optimizers, meanfield, spherical,
    # mnist) sit below the driver; runs/studies/plotting/cli above it; no cycles
    below = {"landscapes", "optimizers", "meanfield", "spherical", "mnist", "fastpath",
             "observables", "errors", "validation", "schedules"}
    graph = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        mod = "mflab." + ".".join(rel.parts).removesuffix(".__init__")
        graph[mod] = _imports(path)
        if _package(mod) in below:
            bad = {m for m in graph[mod] if _package(m) in {"driver", "runs", "studies",
                                                            "plotting", "cli"}}
            assert not bad, f"{mod} (below the driver) imports {bad}"
    # no import cycle between modules
    def resolve(m):
        return m if m in graph else next((g for g in graph if g == m + ".__init__"), m)

    state = {}

    def visit(m, stack):
        state[m] = 1
        for n in graph.get(m, ()):
            n = resolve(n)
            if n not in graph or n == m or m.startswith(n + "."):
                continue  # a package's __init__ re-exporting its own modules
            if state.get(n) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*stack, m, n])}")
            if n not in state:
                visit(n, [*stack, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


# ------------------------------------------------------------- diagnostics as observables


def test_step_info_records_restarts_and_gamma_like_a_plain_loop():
    from mflab.driver import step_info

    L = quadratic(np.diag([0.1, 10.0]))
    x0 = jnp.array([[1.0, 1.0], [-2.0, 0.5]])
    opt = O.restart_nesterov(0.05)
    obs = {"value": L.value, "restarts": step_info("restarted", "sum"),
           "gamma": step_info("gamma", "last"), "mean_gamma": step_info("gamma", "mean")}
    tr = mflab.run(opt, L, x0, 200, jax.random.key(0), record_every=50, observables=obs)
    # the same steps by hand: restarts counted per agent between records
    state, key = opt.init(x0), jax.random.key(0)
    step = jax.jit(lambda k, s: opt.step(k, s, L))
    counts, gsum = np.zeros(2, int), np.zeros(2)
    want_counts, want_gamma, want_mean = [np.zeros(2, int)], [np.zeros(2)], [np.zeros(2)]
    for k in range(200):
        state, info = step(jax.random.fold_in(key, k), state)
        counts += np.asarray(info.restarted, int)
        gsum += np.asarray(info.gamma)
        if (k + 1) % 50 == 0:
            want_counts.append(counts.copy())
            want_gamma.append(np.asarray(info.gamma))
            want_mean.append(gsum / 50)
            counts[:], gsum[:] = 0, 0.0
    np.testing.assert_array_equal(tr.records["restarts"], np.stack(want_counts))
    np.testing.assert_allclose(tr.records["gamma"], np.stack(want_gamma), rtol=1e-12)
    np.testing.assert_allclose(tr.records["mean_gamma"], np.stack(want_mean), rtol=1e-12)
    assert tr.records["restarts"].sum() > 0  # the ill-conditioned quadratic does restart
    np.testing.assert_allclose(tr.state.x, state.x, rtol=1e-12)


def test_step_info_names_a_missing_field():
    from mflab.driver import step_info

    L = quadratic(np.eye(2))
    with pytest.raises(ValueError, match="no field 'restarted'"):
        mflab.run(O.sgd(0.1), L, jnp.ones((1, 2)), 10, jax.random.key(0),
                  observables={"r": step_info("restarted")})
    with pytest.raises(ValueError, match="reduce must be one of"):
        step_info("restarted", "max")


def test_dd_systems_share_one_type():
    from mflab.meanfield import AnisotropicDD, DDSystem, FullDD, RadialDD, solve_dd

    assert all(issubclass(c, DDSystem) for c in (RadialDD, FullDD, AnisotropicDD))

    class NotASystem:
        def energy(self, x):
            return jnp.sum(x**2)

    with pytest.raises(TypeError, match="must be a DDSystem"):
        solve_dd(NotASystem(), jnp.ones(4), t_max=1.0, dt=0.1)


# ------------------------------------------------------------- one type, one error module


def test_a_landscape_is_checked_against_its_protocol():
    from mflab.landscapes import Landscape, LandscapeProtocol

    L = quadratic(np.eye(2))
    assert isinstance(L, LandscapeProtocol) and isinstance(L, Landscape)
    with pytest.raises(TypeError, match="lacks name, value, grad"):
        mflab.run(O.sgd(0.1), lambda x: jnp.sum(x**2), jnp.ones((1, 2)), 10, jax.random.key(0))


FACTORIES = ["sgd", "nesterov", "restart_nesterov", "mass", "sgld", "interacting_sgld",
             "gaussian_smoothing", "hj_smoothing", "fast_slow", "mf_hom_sgld"]


@pytest.mark.parametrize("name", FACTORIES)
def test_step_sizes_are_required_as_in_optax(name):
    # no Müller–Brown step size hidden in a default (issue 21, item 6)
    with pytest.raises(TypeError, match="missing a required argument"):
        getattr(O, name)()


def test_gibbs_init_and_the_optax_adapters_require_their_steps():
    with pytest.raises(TypeError, match="eta is required"):
        O.gibbs_init_descent(langevin_eta=1e-4)
    with pytest.raises(TypeError, match="langevin_eta is required"):
        O.gibbs_init_descent(eta=1e-4)
    for adapter in (O.as_optax_sgd, O.as_optax_nesterov, O.as_optax_restart_nesterov,
                    O.as_optax_mass, O.as_optax_sgld):
        with pytest.raises(TypeError, match="learning_rate .* is required"):
            adapter()


def test_every_exception_class_lives_in_the_errors_module():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                if any(b.endswith(("Error", "Exception", "Warning")) for b in bases):
                    offenders.append(f"{path.relative_to(SRC)}:{node.name}")
    assert offenders == []


def test_one_agent_float32_gradient_is_the_gradient():
    """One agent, float32, an ordinary loss f(w) = Σ_y Σ_i √(Σ_k v_yk w_ik²): one SGD step
    of ``mflab.run`` moves by η ∇f to float32 rounding, against the gradient written out in
    numpy (float64). With jax/jaxlib 0.10.2 on CPU, ``jit(vmap(grad f))`` over an agent axis
    of size 1 returned garbage here (relative error up to 1e33); the engine maps a single
    agent without ``vmap`` (``optimizers.base.agent_map``)."""
    from mflab.landscapes import Landscape

    w = 0.1 * jax.random.normal(jax.random.key(0), (800, 40), jnp.float32)
    v = jnp.asarray(np.r_[np.ones((1, 40)), 0.5 * np.ones((1, 40))], jnp.float32)
    land = Landscape("sqrt-sums", lambda w: jnp.sum(jnp.sqrt(jnp.sum(v[:, None] * w * w, -1))))
    W, V = np.asarray(w, np.float64), np.asarray(v, np.float64)
    grad = np.einsum("yk,ik,yi->ik", V, W, 1 / np.sqrt(np.einsum("yk,ik->yi", V, W**2)))
    for agents in (w[None], jnp.stack([w, w])):
        tr = mflab.run(O.sgd(0.01), land, agents, 1, jax.random.key(1), record_steps=[0, 1],
                       record_positions=True)
        pos = np.asarray(tr.positions, np.float64)
        moved = pos[0] - pos[1]
        for a in range(agents.shape[0]):
            np.testing.assert_allclose(moved[a] / 0.01, grad, rtol=2e-3, atol=1e-5)
