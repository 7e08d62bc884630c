"""Online SGD of a two-layer network in the mean-field scaling (SPEC Part A).

    θ_i ← θ_i + 2 s_k (1/m) Σ_{l≤m} (y_kl − ŷ(x_kl; θ)) ∇_θ σ*(x_kl; θ_i),
    s_k = ε ξ(kε),   t = kε,   ŷ(x; θ) = (1/N) Σ_i σ*(x; θ_i)

(m = 1: one fresh sample per step; no 1/N in the update). Particles θ are ``(N, D)``
rows ``[extra..., w...]`` (see :class:`~mflab.meanfield.activations.UnitType`).

**Data stream.** Steps are grouped in blocks of B steps; block b draws its B·m
samples from ``fold_in(key, b)``. The stream depends on (key, B, m) only, so every
kernel sees the same samples.

**Kernels** (same trajectory, equal to rounding — tested):

* ``"plain"``: step by step, z = W x, then the rank-one update W += c ⊗ x.
* ``"blocked"`` (exact blocked update): for a block X (Bm × d), compute all forward
  passes from the block's start at once, Z0 = W0 Xᵀ (one matrix product), correct
  step k by the rank-one updates of steps j < k through the Gram matrix G = X Xᵀ,
  z_k = Z0[:, k] + Σ_{j<k} D[:, j] G[j, k], and apply the block's update as one
  product W ← W0 + D X. Per step this costs N·Bm for the correction instead of
  touching the (N, d) matrix twice; the (N, d) work is done by GEMMs.

Reference: Mei, Montanari & Nguyen, PNAS 2018, eq. (4) (SGD) and Thm. 3; report
Algorithm "SGD" of §2.1 (eq. (1)–(3)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from mflab.meanfield.activations import UnitType

Schedule = Callable[[jax.Array], jax.Array]


# ---------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class ConstantSchedule:
    """ξ(t) ≡ 1 (SPEC Part A default). Hashable, so jitted runs are cached across calls."""

    def __call__(self, t):
        return jnp.ones_like(t)


@dataclass(frozen=True)
class PowerSchedule:
    """ξ(t) = (1 + t/t0)^(−α): the bounded, Lipschitz form of a t^(−α) schedule."""

    alpha: float = 0.25
    t0: float = 1.0

    def __call__(self, t):
        return (1.0 + t / self.t0) ** (-self.alpha)


def constant_schedule() -> Schedule:
    """ξ(t) ≡ 1 (SPEC Part A default)."""
    return ConstantSchedule()


def power_schedule(alpha: float = 0.25, t0: float = 1.0) -> Schedule:
    """ξ(t) = (1 + t/t0)^(−α): the bounded, Lipschitz form of a t^(−α) schedule.

    Defaults α = 1/4 (SPEC Part A "ξ(t) = t^(−1/4) style"), t0 = 1 (so ξ(0) = 1).
    Any callable ``t -> ξ(t)`` works as a schedule; hashable ones (like this) let jitted
    runs be reused across calls.
    """
    if not alpha >= 0 or not t0 > 0:
        raise ValueError(f"power_schedule needs alpha >= 0 and t0 > 0; got alpha={alpha!r}, "
                         f"t0={t0!r}.")
    return PowerSchedule(float(alpha), float(t0))


def check_schedule(xi: Schedule, eps: float, n_steps: int, n_check: int = 100_001) -> None:
    """Refuse a schedule whose step ε ξ(kε) is negative or not finite.

    Checked on host at every step when n_steps ≤ n_check, else on n_check evenly spaced
    steps including the first and last.
    """
    k = np.unique(np.linspace(0, max(n_steps - 1, 0), min(n_steps, n_check)).round())
    vals = np.asarray(xi(jnp.asarray(k * eps)))
    bad = ~np.isfinite(vals) | (vals < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"step schedule must give finite xi(t) >= 0; got xi({k[i] * eps!r}) = {vals[i]!r} "
            f"at step {int(k[i])}. Use e.g. power_schedule(alpha, t0), finite at t = 0."
        )


# ------------------------------------------------------------------------ kernels


def step_plain(units: UnitType, W, extra, x, y, s):
    """One SGD step. W (N, d), extra (N, p), x (m, d), y (m,), s scalar step s_k."""
    z = W @ x.T  # (N, m)
    val, dz, dex = units.local(z, extra)
    err = y - jnp.mean(val, axis=0)  # (m,)
    coef = 2.0 * s * err / x.shape[0]
    W = W + (dz * coef) @ x
    extra = extra + jnp.sum(dex * coef, axis=-1)
    return W, extra


def block_plain(units, W, extra, X, Y, S):
    """B plain steps by lax.scan. X (B, m, d), Y (B, m), S (B,)."""

    def body(c, inp):
        return step_plain(units, *c, *inp), None

    (W, extra), _ = jax.lax.scan(body, (W, extra), (X, Y, S))
    return W, extra


def block_exact(units, W, extra, X, Y, S):
    """The same B steps by the exact blocked update (module docstring)."""
    B, m, d = X.shape
    N = W.shape[0]
    Xf = X.reshape(B * m, d)
    Z0 = (W @ Xf.T).reshape(N, B, m).transpose(1, 0, 2)  # (B, N, m)
    G = (Xf @ Xf.T).reshape(B * m, B, m).transpose(1, 0, 2)  # (B, Bm, m): columns of step k
    D0 = jnp.zeros((N, B * m), W.dtype)

    def body(c, inp):
        D, ex = c
        k, z0, g, y, s = inp
        z = z0 + D @ g  # columns ≥ k·m of D are still 0: only steps j < k contribute
        val, dz, dex = units.local(z, ex)
        err = y - jnp.mean(val, axis=0)
        coef = 2.0 * s * err / m
        D = jax.lax.dynamic_update_slice(D, dz * coef, (0, k * m))
        ex = ex + jnp.sum(dex * coef, axis=-1)
        return (D, ex), None

    (D, extra), _ = jax.lax.scan(body, (D0, extra), (jnp.arange(B), Z0, G, Y, S))
    return W + D @ Xf, extra


KERNELS = {"plain": block_plain, "blocked": block_exact}


def draw_block(data, key, b, block: int, batch: int, dtype):
    """Samples of block b: X (B, m, d), Y (B, m), from ``fold_in(key, b)``."""
    x, y = data.sample(jax.random.fold_in(key, b), block * batch, dtype)
    return x.reshape(block, batch, -1), y.reshape(block, batch)


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6))
def _advance(units, data, xi, kernel, block, batch, eps, key, W, extra, b0, b1):
    fn = KERNELS[kernel]

    def body(b, c):
        X, Y = draw_block(data, key, b, block, batch, W.dtype)
        k = b * block + jnp.arange(block)
        S = (eps * xi(k.astype(W.dtype) * eps)).astype(W.dtype)
        return fn(units, *c, X, Y, S)

    return jax.lax.fori_loop(b0, b1, body, (W, extra))


def advance(units, data, theta, key, b0, b1, *, eps, xi=None, kernel="blocked", block=32,
            batch=1):
    """Run SGD blocks b0 ≤ b < b1 (steps b0·B ≤ k < b1·B) from theta (N, D); returns theta.

    Jitted once per (units, data, xi, kernel, block, batch, eps); b0, b1 are traced.
    ``vmap`` over (theta, key) runs many seeds at once (on CPU, a loop over seeds or
    ``pmap`` over host devices is faster: docs/benchmarks-meanfield.md).
    """
    xi = constant_schedule() if xi is None else xi
    extra, w = units.split(theta)
    W, extra = _advance(units, data, xi, kernel, int(block), int(batch), float(eps), key, w,
                        extra, b0, b1)
    return units.join(extra, W)


def init_particles(key, units: UnitType, N: int, d: int, kappa: float = 0.8, *, a0=1.0, b0=0.0,
                   c0=1.0, dtype=None):
    """θ_i with w_i ~ N(0, κ²/d I_d) (SPEC A1/A2 init); a_i = a0, b_i = b0 (type b); c_i = c0.

    Returns (N, D) of ``dtype`` (default: JAX's default float). Defaults: κ = 0.8
    (SPEC A1); a0, b0, c0 are configurable constants (the SPEC fixes only the law of w).
    """
    _check_count("N", N)
    _check_count("d", d)
    if not kappa > 0:
        raise ValueError(f"kappa must be > 0; got {kappa!r}.")
    dtype = jnp.result_type(float) if dtype is None else dtype
    w = jax.random.normal(key, (N, d), jnp.float32).astype(dtype) * (kappa / np.sqrt(d))
    extra = {"a": [], "b": [a0, b0], "c": [c0]}[units.kind]
    if not extra:
        return w
    ex = jnp.broadcast_to(jnp.asarray(extra, dtype), (N, len(extra)))
    return jnp.concatenate([ex, w], axis=1)


def _check_count(name, v):
    if isinstance(v, bool) or not float(v).is_integer() or int(v) < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {v!r}.")
    return int(v)


# ---------------------------------------------------------------------- recording


def reduced_coordinates(units: UnitType, data, theta):
    """Low-dimensional coordinates of each unit: type a → (|w|,); type b → (a, b, r1, r2)
    with r1 = |w_{1..s0}|, r2 = |w_{s0+1..d}| (s0 = d for isotropic data); type c → (c, |w|).
    Shape (N, k)."""
    extra, w = units.split(theta)
    if units.kind == "a":
        return jnp.linalg.norm(w, axis=1, keepdims=True)
    if units.kind == "b":
        s0 = getattr(data, "s0", w.shape[1])
        r1 = jnp.linalg.norm(w[:, :s0], axis=1)
        r2 = jnp.linalg.norm(w[:, s0:], axis=1)
        return jnp.stack([extra[:, 0], extra[:, 1], r1, r2], axis=1)
    return jnp.stack([extra[:, 0], jnp.linalg.norm(w, axis=1)], axis=1)


def histogram_density(values, edges):
    """Histogram normalised to a density of mass 1 over ``edges`` (values outside are dropped
    and reported through the mass of the in-range part). Returns (density, mass_in_range)."""
    values = np.asarray(values).ravel()
    counts, _ = np.histogram(values, bins=edges)
    inside = counts.sum()
    dens = counts / (max(inside, 1) * np.diff(edges))
    return dens, inside / max(values.size, 1)


@dataclass
class SGDTrace:
    """What :func:`run_sgd` records (S seeds, R records, N units, k reduced coordinates).

    Attributes:
      steps: (R,) step index k of each record; times: (R,) t = kε.
      risk: (S, R) exact R_N(θ^k) (:func:`~mflab.meanfield.risk.exact_risk`).
      mean_norm: (S, R) mean_i |w_i|.
      reduced: (S, R, N, k) per-unit coordinates (:func:`reduced_coordinates`).
      theta: (S, N, D) final particles.
      wall_time: seconds (compilation included).
    """

    steps: np.ndarray
    times: np.ndarray
    risk: np.ndarray
    mean_norm: np.ndarray
    reduced: np.ndarray
    theta: np.ndarray
    wall_time: float


def validate_sgd(data, theta, eps, n_steps, xi, block, batch, record_steps):
    """Shared input checks of :func:`run_sgd`; returns the sorted record steps."""
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps (the step scale ε) must be a finite number > 0; got {eps!r}.")
    _check_count("n_steps", n_steps)
    _check_count("block", block)
    _check_count("batch", batch)
    check_schedule(xi, eps, n_steps)
    if theta.ndim != 3:
        raise ValueError(f"theta must be (S, N, D) (S seeds); got shape {theta.shape}.")
    rec = np.unique(np.asarray(record_steps, int))
    if rec.size == 0 or rec[0] < 0 or rec[-1] > n_steps or np.any(rec % block):
        raise ValueError(
            f"record_steps must be multiples of block={block} in [0, n_steps={n_steps}]; "
            f"got {np.asarray(record_steps).tolist()[:8]}... (use record_grid)."
        )
    return rec


def record_grid(n_steps: int, n_records: int, block: int = 32, log: bool = False):
    """n_records record steps in [0, n_steps], rounded to multiples of block (deduplicated)."""
    if log:
        pts = np.concatenate([[0], np.geomspace(block, n_steps, n_records - 1)])
    else:
        pts = np.linspace(0, n_steps, n_records)
    steps = np.round(pts / block) * block
    return np.unique(np.minimum(steps, (n_steps // block) * block).astype(int))


def run_sgd(
    key: jax.Array,
    units: UnitType,
    data,
    theta0,
    *,
    eps: float,
    n_steps: int,
    record_steps=None,
    xi: Schedule | None = None,
    batch: int = 1,
    block: int = 32,
    kernel: str = "blocked",
    risk: bool = True,
) -> SGDTrace:
    """Online SGD (SPEC Part A) for one or many seeds, recording exact observables.

    Args:
      key: data-stream key, or a stack of S keys (one per seed; ``jax.random.split``).
      units, data: unit type and data model.
      theta0: initial particles (N, D), or (S, N, D) for S seeds.
      eps: ε > 0; step k uses s_k = ε ξ(kε) and represents time t = kε.
      n_steps: number of steps (a multiple of ``block`` is run; the last record ≤ n_steps).
      record_steps: steps at which to record (multiples of ``block``; default 21 evenly
        spaced, :func:`record_grid`).
      xi: schedule ξ (default ξ ≡ 1).
      batch: mini-batch size m (default 1, SPEC).
      block: B, steps per data block and per blocked update (default 32: fastest measured,
        docs/benchmarks-meanfield.md).
      kernel: ``"blocked"`` (default) or ``"plain"`` (the same trajectory).
      risk: compute the exact risk at each record (O(N²) each).

    Returns an :class:`SGDTrace`. Raises ``DivergenceError`` on NaN/inf at a record.
    """
    import time

    from mflab.driver import DivergenceError
    from mflab.meanfield.risk import exact_risk

    t_start = time.perf_counter()
    xi = constant_schedule() if xi is None else xi
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)}; got {kernel!r}.")
    if risk and units.kind == "c":
        raise ValueError("the exact risk is implemented for unit kinds 'a' and 'b'; got 'c' "
                         "(sigmoid units): pass risk=False.")
    theta = jnp.asarray(theta0)
    single = theta.ndim == 2
    theta = theta[None] if single else theta
    keys = jnp.asarray(key)
    keys = keys[None] if keys.ndim == (0 if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
                                       else 1) else keys
    if record_steps is None:
        record_steps = record_grid(n_steps, 21, block)
    rec = validate_sgd(data, theta, eps, n_steps, xi, block, batch, record_steps)
    if keys.shape[0] != theta.shape[0]:
        raise ValueError(f"need one key per seed: {keys.shape[0]} keys for {theta.shape[0]} "
                         "initial conditions.")

    def adv(th_all, b0, b1):
        # Seeds one after another through the same compiled kernel: on the CPU backend this
        # measured 4x faster than vmap over seeds (docs/benchmarks-meanfield.md).
        return jnp.stack([advance(units, data, th_all[i], keys[i], b0, b1, eps=eps, xi=xi,
                                  kernel=kernel, block=block, batch=batch)
                          for i in range(th_all.shape[0])])

    risks, norms, reds = [], [], []
    b_prev = 0
    for k_rec in rec:
        b_next = int(k_rec) // block
        if b_next > b_prev:
            theta = adv(theta, b_prev, b_next)
            b_prev = b_next
        if not bool(jnp.all(jnp.isfinite(theta))):
            raise DivergenceError(f"SGD produced NaN/inf in theta by step {int(k_rec)} "
                                  f"(t = {k_rec * eps:g}); reduce eps.")
        red = jax.vmap(lambda th: reduced_coordinates(units, data, th))(theta)
        reds.append(np.asarray(red))
        _, w = units.split(theta.reshape(-1, theta.shape[-1]))
        norms.append(np.asarray(jnp.linalg.norm(w, axis=1).reshape(theta.shape[0], -1).mean(1)))
        if risk:
            risks.append(np.array([float(exact_risk(units, data, th)) for th in theta]))
    risk_arr = np.stack(risks, 1) if risk else np.full((theta.shape[0], rec.size), np.nan)
    return SGDTrace(
        steps=rec, times=rec * eps, risk=risk_arr, mean_norm=np.stack(norms, 1),
        reduced=np.stack(reds, 1), theta=np.asarray(theta),
        wall_time=time.perf_counter() - t_start,
    )
