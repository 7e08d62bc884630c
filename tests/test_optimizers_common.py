"""One common test over every optimiser (as optax does): the same landscapes from the
same starts, jit/vmap, no recompilation, dtype preservation, gradient accounting.

Each entry: (factory name, kwargs on the quadratic, kwargs on Müller–Brown, noisy?).
Noisy methods are judged against the Gibbs law's scale, deterministic ones against
the minimiser.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab
import mflab.optimizers as O
from mflab.landscapes import mueller_brown, quadratic

H = np.diag([1.0, 4.0])  # quadratic Φ = ½ xᵀHx, minimiser 0, λ_max = 4
BETA = 1e4  # noisy methods: Gibbs std ~ 1/sqrt(βλ) ≤ 0.01

CASES = [
    ("sgd", dict(eta=0.1), dict(eta=1e-4), False),
    ("nesterov", dict(eta=0.1, gamma=0.5), dict(eta=1e-4), False),
    ("restart_nesterov", dict(eta=0.1), dict(eta=1e-4), False),
    ("mass", dict(eta1=0.1, eta2=0.01, gamma=0.5), dict(eta1=1e-4, eta2=1e-5), False),
    ("mass", dict(eta1=0.1, eta2=0.0, restart=True), dict(eta1=1e-4, eta2=0.0, restart=True),
     False),
    ("sgld", dict(eta=0.1, beta=BETA), dict(eta=1e-4, beta=BETA), True),
    ("interacting_sgld", dict(eta=0.1, beta=BETA, lam=1.0), dict(eta=1e-4, beta=BETA), True),
    ("gaussian_smoothing", dict(eta=0.1, h=1e-3, K=16), dict(eta=1e-4, h=1e-4), True),
    ("gaussian_smoothing", dict(eta=0.1, h=1e-3, quadrature_nodes=4),
     dict(eta=1e-4, h=1e-4, quadrature_nodes=4), False),
    ("hj_smoothing", dict(eta=0.05, beta=BETA, gamma=0.1, inner_steps=20, inner_eta=0.01,
                          burn_in=5), dict(eta=0.02, beta=BETA), True),
    # quadrature mode: Gauss–Hermite in the proposal N(x, γ/β) is exact only when the
    # tilt β|∇Φ|·sqrt(γ/β) is O(1), hence a small β here (deterministic anyway)
    ("hj_smoothing", dict(eta=0.05, beta=10.0, gamma=0.1, mode="quadrature", nodes=8),
     None, False),
    ("fast_slow", dict(dt=0.05, eps=1.0, beta=BETA, gamma=0.1),
     dict(dt=1e-4, eps=1.0, beta=BETA, gamma=0.1), True),
    ("mf_hom_sgld", dict(Delta=0.05, delta=0.01, eps=1.0, beta=BETA, gamma=0.1, M=20, burn_in=5),
     dict(Delta=0.02, beta=BETA, M=20, burn_in=5), True),
    ("gibbs_init_descent", dict(beta=BETA, langevin_eta=0.1, langevin_steps=100, eta=0.1),
     dict(beta=BETA, langevin_eta=1e-4, langevin_steps=5000, eta=1e-4), True),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]

X0 = np.array([[1.0, -1.0], [0.5, 0.8], [-1.2, 0.3], [0.1, 0.1]])
MB_X0 = np.array([[-0.5, 1.5], [0.6, 0.0], [0.0, 0.5], [-1.0, 1.0], [1.0, 1.5]])


@pytest.mark.parametrize(("name", "kw", "mb_kw", "noisy"), CASES, ids=IDS)
def test_quadratic_converges(name, kw, mb_kw, noisy):
    opt = getattr(O, name)(**kw)
    L = quadratic(H)
    tr = mflab.run(opt, L, jnp.asarray(X0), 400, jax.random.key(0), record_every=400,
                   progress=False)
    x = np.asarray(tr.state.x)
    # deterministic: contraction at ≥ rate 1−ηλ_min = 0.9 gives |x| < 1e-12 after 400 steps
    # noisy: stationary spread ~ 1/sqrt(βλ_min) = 0.01, so |x| < 0.05 is a 5σ bound
    tol = 0.05 if noisy else 1e-8
    assert np.max(np.abs(x)) < tol
    assert int(tr.grad_evals[-1]) == 400 * opt.grads_per_step


@pytest.mark.parametrize(("name", "kw", "mb_kw", "noisy"), CASES, ids=IDS)
def test_mueller_brown_descends(name, kw, mb_kw, noisy):
    # From each start, 20 000 small steps must lower V and end near a stationary value.
    if mb_kw is None:
        pytest.skip("HJ quadrature cannot resolve Müller–Brown's narrow well (see its docs)")
    opt = getattr(O, name)(**mb_kw)
    L = mueller_brown()
    tr = mflab.run(opt, L, jnp.asarray(MB_X0), 20_000, jax.random.key(1), record_every=1000,
                   progress=False)
    v0, v1 = tr.values[0], tr.values[-1]
    assert np.all(np.isfinite(v1))
    assert np.all(v1 < v0)
    minima = np.array([p.value for p in L.minima])
    # every agent ends within 1 (noisy: Gibbs scale 1/β ≪ 1) of one of the three minima
    assert np.all(np.min(np.abs(v1[:, None] - minima[None]), axis=1) < 1.0)


@pytest.mark.parametrize(("name", "kw", "mb_kw", "noisy"), CASES, ids=IDS)
def test_jit_vmap_and_no_recompile(name, kw, mb_kw, noisy):
    opt = getattr(O, name)(**kw)
    L = quadratic(H)
    traces = {"n": 0}

    def k_steps(key, x0):
        traces["n"] += 1  # runs only while tracing
        state = opt.init(x0)

        def body(s, k):
            return opt.step(jax.random.fold_in(key, k), s, L)[0], None

        return jax.lax.scan(body, state, jnp.arange(5))[0].x

    f = jax.jit(jax.vmap(k_steps, in_axes=(0, None)))  # vmap over seeds
    keys = jax.random.split(jax.random.key(0), 3)
    out1 = f(keys, jnp.asarray(X0))
    out2 = f(keys, jnp.asarray(X0) + 1.0)
    assert out1.shape == (3,) + X0.shape and out2.shape == out1.shape
    assert traces["n"] == 1, "a second call with the same shapes must not retrace"
    # the vmapped seeds equal separate runs
    single = jax.jit(k_steps)(keys[1], jnp.asarray(X0))
    np.testing.assert_allclose(out1[1], single, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("name", "kw", "mb_kw", "noisy"), CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_dtype_preserved(name, kw, mb_kw, noisy, dtype):
    opt = getattr(O, name)(**kw)
    L = quadratic(H)
    state = opt.init(jnp.asarray(X0, dtype))
    state, _ = jax.jit(opt.step, static_argnums=2)(jax.random.key(0), state, L)
    for leaf in jax.tree_util.tree_leaves(state):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == dtype


def test_tree_agent_mean_is_the_mean_over_agents():
    """x̄ by a product with (1/A, …) (fast on CPU) equals the mean over the leading axis, for
    every leaf of a pytree, in float64 and float32 (to the rounding of A additions)."""
    from mflab.optimizers.base import tree_agent_mean

    rng = np.random.default_rng(0)
    for dtype, tol in ((np.float64, 1e-15), (np.float32, 1e-6)):
        x = {"a": rng.normal(size=(5, 3)).astype(dtype), "b": rng.normal(size=(5,)).astype(dtype),
             "c": rng.normal(size=(5, 2, 4)).astype(dtype)}
        m = tree_agent_mean(jax.tree_util.tree_map(jnp.asarray, x))
        for k, v in x.items():
            assert m[k].shape == (1,) + v.shape[1:] and m[k].dtype == dtype
            np.testing.assert_allclose(m[k], v.mean(axis=0, keepdims=True), rtol=tol, atol=tol)


# ---------------------------------------------------------------- beyond (A, 2) arrays

# least squares on a pytree {"w": (2,), "b": ()}: rows x ∈ {(±1, 0), (0, ±2)}, y = x·w* + b*
# exactly, so the minimiser is (w*, b*) with loss 0 and the Hessian over (w1, w2, b) is
# E[(x, 1)(x, 1)ᵀ] = diag(0.5, 2, 1) (λ_min = 0.5, λ_max = 2 < 4 of the quadratic above)
LS_X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
LS_W, LS_B = np.array([0.7, -0.3]), 0.4


def _quadrature_mode(kw):
    """Quadrature smoothing works on flat (A, dim) parameters only, and says so."""
    return "quadrature_nodes" in kw or kw.get("mode") == "quadrature"


def _least_squares_landscape():
    from mflab.landscapes import from_loss

    def loss(p, batch):
        x, y = batch
        return 0.5 * jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    return from_loss(loss, (jnp.asarray(LS_X), jnp.asarray(LS_X @ LS_W + LS_B)))


@pytest.mark.parametrize(("name", "kw", "mb_kw", "noisy"), CASES, ids=IDS)
def test_pytree_parameters_converge_to_the_least_squares_solution(name, kw, mb_kw, noisy):
    opt = getattr(O, name)(**kw)
    x0 = {"w": jnp.asarray(X0), "b": jnp.asarray(X0[:, 0])}  # 4 agents
    if _quadrature_mode(kw):
        with pytest.raises(ValueError, match="flat parameters"):
            mflab.run(opt, _least_squares_landscape(), x0, 1, jax.random.key(0))
        return
    tr = mflab.run(opt, _least_squares_landscape(), x0, 800, jax.random.key(0),
                   record_every=800, progress=False)
    # deterministic: GD contracts at ≥ 1 − ηλ_min = 0.95 a step, 0.95⁸⁰⁰ ≈ 1e-18, so 1e-8 is
    # far above rounding and far below any error; noisy: Gibbs spread 1/sqrt(βλ_min) ≈ 0.014,
    # so 0.07 is a 5σ bound
    tol = 0.07 if noisy else 1e-8
    w, b = np.asarray(tr.state.x["w"]), np.asarray(tr.state.x["b"])
    assert w.shape == (4, 2) and b.shape == (4,)
    assert np.max(np.abs(w - LS_W)) < tol and np.max(np.abs(b - LS_B)) < tol


@pytest.mark.parametrize(("name", "kw", "mb_kw", "noisy"), CASES, ids=IDS)
def test_runs_on_a_network_landscape_with_minibatches(name, kw, mb_kw, noisy):
    """Every optimiser on the A1 network (SPEC A5: the parameters are the whole network,
    the oracle draws m = 2 fresh samples): 2 replicas, 300 steps; the exact risk falls for
    both (mean-field time t = 300·η/N ≈ 4: the A1 risk falls from ≈ 1.7 over t ≈ 1–10) and
    each replica's oracle calls are counted."""
    from mflab.meanfield import (
        IsotropicGaussians,
        init_particles,
        network_landscape,
        sigma_a1,
        unit_a,
    )

    units, data, N = unit_a(sigma_a1()), IsotropicGaussians(0.8, 4), 8
    L = network_landscape(units, data, N, batch_size=2)
    x0 = jnp.stack([init_particles(jax.random.key(s), units, N, 4, 0.8) for s in range(2)])
    opt = getattr(O, name)(**kw)
    if _quadrature_mode(kw):
        with pytest.raises(ValueError, match="flat parameters"):
            mflab.run(opt, L, x0, 1, jax.random.key(3))
        return
    tr = mflab.run(opt, L, x0, 300, jax.random.key(3), record_every=300, progress=False)
    v0, v1 = np.asarray(tr.values[0]), np.asarray(tr.values[-1])
    assert np.all(np.isfinite(v1)) and np.all(v1 < v0), (v0, v1)
    assert tr.state.x.shape == x0.shape
    assert int(tr.grad_evals[-1]) == 300 * opt.grads_per_step
