"""B8: descent on the Hamilton–Jacobi (Cole–Hopf) smoothed loss (SPEC Part B; report eq. 28).

    Φ^{β,γ}(x) = −(1/β) log[(G_{γ/β} ∗ e^{−βΦ})(x)]                      (eq. 28, erratum 2)
    ∇Φ^{β,γ}(x) = (x − ⟨y⟩_x)/γ,   ρ_x(y) ∝ exp(−βΦ(y) − β|x − y|²/(2γ))

Φ^{β,γ} solves the viscous Hamilton–Jacobi equation ∂_t u + ½|∇u|² = (1/(2β)) Δu on
[0, γ] with u(0) = Φ; it is the "local entropy" of Chaudhari et al. (2018). ⟨y⟩_x, the
mean of the local Gibbs measure ρ_x, is estimated either

* by a Langevin inner loop (Entropy-SGD, Chaudhari et al. 2018, Alg. 1), warm-started
  from the previous step's last y and averaged after a burn-in: this inner loop,
  :func:`local_langevin_mean`, is also the micro-solver of MF-Hom-SGLD (B10); or
* by quadrature (:func:`hj_value_and_grad`): y = x + √(γ/β) z with a tensor
  Gauss–Hermite rule in z, reweighted by e^{−βΦ(y)} — for 1-D/2-D landscapes.

On Φ = ½ k |x|² the smoothed loss is Φ^{β,γ} = ½ k/(1 + γk) |x|² + const.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from mflab.optimizers.base import (
    Optimizer,
    StepFunctions,
    ensemble_grad,
    normal_like,
    num_agents,
    optimizer_factory,
    retract,
    tree_axpy,
    tree_scale,
    tree_sub,
)
from mflab.optimizers.momentum import MomentumState, momentum_init, momentum_update
from mflab.optimizers.sgd import leaf_dtype, sgd_update
from mflab.optimizers.smoothing import _check_flat, gauss_hermite_rule
from mflab.schedules import ScalarOrSchedule, as_schedule, at_step
from mflab.validation import check_choice, check_int, check_positive

# ------------------------------------------------------------------ smoothed loss


def hj_value_and_grad(
    phi, x: jax.Array, beta: float, gamma: float, nodes: int = 64
) -> tuple[jax.Array, jax.Array]:
    """Φ^{β,γ}(x) and ∇Φ^{β,γ}(x) = (x − ⟨y⟩_x)/γ by Gauss–Hermite quadrature.

    With y = x + √(γ/β) z, z ~ N(0, I_d) (the kernel G_{γ/β} of eq. 28)::

        Φ^{β,γ}(x) = −(1/β) log Σ_q w_q e^{−βΦ(y_q)},
        ⟨y⟩_x      = Σ_q w_q e^{−βΦ(y_q)} y_q / Σ_q w_q e^{−βΦ(y_q)}

    (log-sum-exp, so large β·Φ neither overflows nor underflows). The rule is accurate
    when e^{−βΦ} is smooth on the scale of the node spacing (≈ √(γ/β)·π/√(2n)): on the 1-D
    double well (β = 2, γ = 0.5) 64 nodes give ~3e-6, but on Müller–Brown at β = 0.1,
    γ = 0.03 the narrow well A (width ≈ 0.05) is under-resolved and 100 nodes per axis
    still err by 5–15 % in ∇Φ^{β,γ} (measured against a dense 0.002 grid); there use the
    Langevin mode, or a dense grid.

    Args:
      phi: a Landscape (its ``value``) or a callable ``(d,) -> scalar``.
      x: points, shape ``(..., d)``.
      beta: inverse temperature β > 0.
      gamma: smoothing time γ > 0 (kernel variance γ/β).
      nodes: Gauss–Hermite nodes per axis (n^d evaluations of Φ per point; default 64).

    Returns:
      ``(value, grad)`` of shapes ``(...)`` and ``(..., d)``.

    Reference: report eq. (28) with erratum 2 (SPEC); Chaudhari et al., Res. Math. Sci.
    5 (2018), eqs. (5)–(8).
    """
    beta = check_positive("beta", beta)
    gamma = check_positive("gamma", gamma)
    value = phi.value if hasattr(phi, "value") else phi
    x = jnp.asarray(x)
    d = x.shape[-1]
    z, w = gauss_hermite_rule(nodes, d)
    z = jnp.asarray(z, x.dtype)
    logw = jnp.log(jnp.asarray(w, x.dtype))
    s = (gamma / beta) ** 0.5

    def one(xi):
        y = xi[None, :] + s * z
        lw = logw - beta * jax.vmap(value)(y)
        lse = logsumexp(lw)
        y_mean = jnp.exp(lw - lse) @ y
        return -lse / beta, (xi - y_mean) / gamma

    flat = x.reshape(-1, d)
    v, g = jax.vmap(one)(flat)
    return v.reshape(x.shape[:-1]), g.reshape(x.shape)


# ------------------------------------------------------------- Langevin inner loop


def local_langevin_mean(
    key: jax.Array,
    landscape,
    x,
    y0,
    beta: float,
    gamma: float,
    step: float,
    n_steps: int,
    burn_in: int,
    calls0=0,
):
    """Langevin chain towards ρ_x(y) ∝ exp(−βΦ(y) − β|x − y|²/(2γ)), every agent at once::

        y_m = y_{m−1} − τ [g̃(y_{m−1}) + (y_{m−1} − x)/γ] + √(2τ/β) ξ_m,   m = 1..n_steps

    Returns ``(y_{n_steps}, ȳ)`` with ȳ = (1/(n_steps − burn_in)) Σ_{m > burn_in} y_m, the
    estimate of ⟨y⟩_x (plain average after burn-in, SPEC erratum 6). With τ = δ/ε this is
    exactly the inner loop of MF-Hom-SGLD (B10); with x held fixed it is Entropy-SGD's
    inner SGLD loop (Chaudhari et al. 2018, Alg. 1, without their exponential averaging).

    Args:
      key: PRNG key.
      landscape: gives g̃ (``sample_grad``).
      x: centres, ensemble pytree (leading agent axis).
      y0: warm start, same structure as ``x``.
      beta, gamma: β > 0, γ > 0 of ρ_x.
      step: τ > 0, the Langevin step.
      n_steps: number of steps (> burn_in).
      burn_in: steps discarded before averaging (≥ 0).
      calls0: oracle-call index of the first inner step (the m-th step is call
        ``calls0 + m``, so data-stream landscapes walk their epochs).
    """
    noise = (2.0 * step / beta) ** 0.5
    inv_gamma = 1.0 / gamma

    def body(carry, inp):
        y, acc = carry
        m, k = inp
        kg, kn = jax.random.split(k)
        g = ensemble_grad(landscape, kg, y, calls0 + m)
        drift = tree_axpy(inv_gamma, tree_sub(y, x), g)
        y = retract(landscape, tree_axpy(noise, normal_like(kn, y), tree_axpy(-step, drift, y)))
        keep = (m >= burn_in).astype(jnp.result_type(jax.tree_util.tree_leaves(y)[0]))
        acc = tree_axpy(keep, y, acc)
        return (y, acc), None

    acc0 = jax.tree_util.tree_map(jnp.zeros_like, y0)
    keys = jax.random.split(key, n_steps)
    (y, acc), _ = jax.lax.scan(body, (y0, acc0), (jnp.arange(n_steps), keys))
    return y, tree_scale(1.0 / (n_steps - burn_in), acc)


# ------------------------------------------------------------------------ optimiser


class HJState(NamedTuple):
    """State of B8 (leading agent axis on ``x``, ``u``, ``trace``, ``y``).

    x: the descent iterate (w of B3 when ``restart``); grad_evals, count: per agent;
    u: the point where ∇Φ^{β,γ} is estimated (= x without restart); trace, alpha: the
    momentum rule's buffer and restart counter (:mod:`~mflab.optimizers.momentum`);
    y: the inner chain's last iterate (warm start).
    """

    x: jax.Array
    grad_evals: jax.Array
    count: jax.Array
    u: jax.Array
    trace: jax.Array
    alpha: jax.Array
    y: jax.Array


class HJInfo(NamedTuple):
    """smoothed_grad: the estimate of ∇Φ^{β,γ} used this step (same structure as x)."""

    smoothed_grad: jax.Array


@optimizer_factory("eta", "beta", "gamma", "inner_eta")
def hj_smoothing(
    eta: ScalarOrSchedule,
    beta: float = 0.1,
    gamma: float = 0.1,
    inner_steps: int = 100,
    inner_eta: float = 1e-4,
    burn_in: int = 20,
    restart: bool = False,
    mode: str = "langevin",
    nodes: int = 40,
    dim: int = 2,
) -> Optimizer:
    """B8, descent on the Hamilton–Jacobi smoothed loss Φ^{β,γ} (report eq. 28, erratum 2)::

        g = (p − ⟨y⟩_p)/γ = ∇Φ^{β,γ}(p),  p = x (plain) or the look-ahead u (restart)
        plain:    x ← x − η g
        restart:  the B3 step of :mod:`~mflab.optimizers.momentum` with this g

    ⟨y⟩_p from ``mode="langevin"``: L = ``inner_steps`` steps of
    :func:`local_langevin_mean` (step τ = ``inner_eta``) warm-started from the previous
    step's last y, averaged after ``burn_in`` steps (``grads_per_step = L``); or
    ``mode="quadrature"``: Gauss–Hermite with n = ``nodes`` per axis on flat ``(A, d)``
    parameters, d = ``dim`` (:func:`hj_value_and_grad`; ``grads_per_step = n^d`` counts
    evaluations of Φ).

    Defaults are for Müller–Brown (SPEC C6); the measurements behind them are in the
    module notes of :mod:`mflab.optimizers.multiscale` (B8 in Langevin mode and B10 with
    λ = 0 are the same scheme, η = Δ, τ = δ/ε).

    Args:
      eta: outer step η > 0 or a schedule of the outer steps (required; the report's 1e-3:
        ∇²Φ^{β,γ} ≤ 1/γ, so η < 2γ is stable).
      beta: inverse temperature β > 0 (default 0.1).
      gamma: smoothing time γ > 0 (default 0.1).
      inner_steps: L ≥ 1, inner Langevin steps per outer step (default 100).
      inner_eta: τ > 0, inner Langevin step (default 1e-4: Müller–Brown's largest Hessian
        eigenvalue is ≈ 4.1e3, so τλ ≈ 0.4 < 2).
      burn_in: inner steps discarded before averaging, 0 ≤ burn_in < L (default 20).
      restart: use the B3 gradient-restart momentum (default False).
      mode: ``"langevin"`` (default) or ``"quadrature"``.
      nodes: Gauss–Hermite nodes per axis in quadrature mode (default 40).
      dim: parameter dimension in quadrature mode (default 2).

    Reference: report §3.1.3, eq. (28); Chaudhari et al., Res. Math. Sci. 5 (2018)
    (Entropy-SGD, Alg. 1; local entropy eqs. (5)–(8)); O'Donoghue & Candès 2015 (restart).
    """
    schedule = as_schedule("eta", eta)
    beta = check_positive("beta", beta)
    gamma = check_positive("gamma", gamma)
    check_choice("mode", mode, ("langevin", "quadrature"))
    if mode == "langevin":
        inner_steps = check_int("inner_steps", inner_steps)
        inner_eta = check_positive("inner_eta", inner_eta)
        burn_in = check_int("burn_in", burn_in, minimum=0)
        if burn_in >= inner_steps:
            raise ValueError(
                f"burn_in must be < inner_steps so some inner iterates are averaged; "
                f"got burn_in={burn_in}, inner_steps={inner_steps}."
            )
        cost = inner_steps
    else:
        dim = check_int("dim", dim)
        cost = gauss_hermite_rule(nodes, dim)[0].shape[0]

    def init(x0):
        A = num_agents(x0)
        if mode == "quadrature":
            _check_flat(x0, dim)
        return HJState(**momentum_init(x0, A)._asdict(), y=x0)

    def step(key, state, landscape):
        p = state.u if restart else state.x
        if mode == "langevin":
            y, y_mean = local_langevin_mean(key, landscape, p, state.y, beta, gamma, inner_eta,
                                            inner_steps, burn_in, calls0=state.grad_evals)
            g = tree_scale(1.0 / gamma, tree_sub(p, y_mean))
        else:
            y = state.y
            _, g = hj_value_and_grad(landscape, p, beta, gamma, nodes)
        eta_k = at_step(schedule, state.count, leaf_dtype(state.x))
        if restart:
            ms = MomentumState(**{f: getattr(state, f) for f in MomentumState._fields})
            m, _ = momentum_update(ms, g, eta_k, 0.0, gamma=None,
                                   restart=True, landscape=landscape, cost=cost)
            return HJState(**m._asdict(), y=y), HJInfo(g)
        x = sgd_update(landscape, state.x, g, eta_k)
        new = state._replace(x=x, u=x, grad_evals=state.grad_evals + cost,
                             count=state.count + 1, y=y)
        return new, HJInfo(g)

    return StepFunctions(init, step, grads_per_step=cost, name="hj-smoothing",
                         hyperparams={"rule": "hj-smoothing", "eta": schedule, "beta": beta,
                                      "gamma": gamma, "inner_steps": inner_steps,
                                      "inner_eta": inner_eta, "burn_in": burn_in,
                                      "restart": restart, "mode": mode})
