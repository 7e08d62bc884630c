"""B9 fast–slow Langevin system and B10 MF-Hom-SGLD (SPEC Part B; report eqs. 29–31, §3.1.4).

Both follow, as ε → 0, the gradient flow of the Hamilton–Jacobi smoothed loss
Φ^{β,γ} (B8, :mod:`mflab.optimizers.hamilton_jacobi`): for frozen X the fast variable Y
samples ρ_X(y) ∝ exp(−βΦ(y) − β|X − y|²/(2γ)), so the slow drift −(X − Y)/γ averages
to −(X − ⟨y⟩_X)/γ = −∇Φ^{β,γ}(X) (Kantas, Parpas & Pavliotis 2019, §2; Chaudhari et al.
2018, §4).

Defaults (Müller–Brown, SPEC C6), from grid computations and short simulations in the
session that wrote this module (1000 agents uniform on the C6 start box, seed 0):

* β = 0.1: the Gibbs law ∝ e^{−βV} puts ≈ 97 % of its mass in the narrow global basin A
  (81 % at β = 0.05, 58 % at β = 0.02).
* γ = 0.1 (kernel s.d. √(γ/β) = 1): Φ^{β,γ} (quadrature on a grid) has a single minimum
  on the start box, 0.02 from A; γ ≤ 0.01 keeps minimum B. B10 after 3000 outer steps
  (Δ = 1e-3, M = 100): 93.5 % of agents end nearest A, median final V = −146.6; with
  γ = 0.03, 63 % (the inner chain started near B does not see A's mass); with
  β = 0.05, γ = 0.03, 92 % but spread out (median V = −145.2); plain GD (η = 1e-4,
  2·10⁴ steps): 48.5 % in A.
* Inner step τ = δ/ε = 1e-4: τ·λ_max(∇²V) ≈ 0.41 < 2 (λ_max ≈ 4.1e3 at A).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mflab.optimizers.base import (
    EmptyInfo,
    Optimizer,
    StepFunctions,
    ensemble_grad,
    normal_like,
    num_agents,
    optimizer_factory,
    retract,
    tree_agent_mean,
    tree_axpy,
    tree_scale,
    tree_sub,
    zero_counts,
)
from mflab.optimizers.hamilton_jacobi import local_langevin_mean
from mflab.optimizers.sgd import leaf_dtype
from mflab.schedules import ScalarOrSchedule, as_schedule, at_step
from mflab.validation import check_int, check_positive

# ----------------------------------------------------------------------------- B9


class FastSlowState(NamedTuple):
    """State of B9: slow ``x`` (= X), oracle calls and steps per agent, fast ``y`` (= Y)."""

    x: jax.Array
    grad_evals: jax.Array
    count: jax.Array
    y: jax.Array


@optimizer_factory("dt", "eps", "beta", "gamma")
def fast_slow(
    dt: ScalarOrSchedule, eps: float = 0.01, beta: float = 0.1, gamma: float = 0.1
) -> Optimizer:
    """B9, Euler–Maruyama on the fast–slow system (report eq. 29, noise as erratum 1)::

        X⁺ = X − Δt (X − Y)/γ
        Y⁺ = Y − (Δt/ε) [g̃(Y) − (X − Y)/γ] + √(2Δt/(βε)) ξ

    Y starts at X. As ε → 0, X follows dX/dt = −∇Φ^{β,γ}(X) (homogenisation). One
    gradient per agent and step.

    Args:
      dt: time step Δt > 0 or a schedule (required, as in optax; the report's 1e-6 gives
        Δt/ε = 1e-4, the stable Langevin step on Müller–Brown, see the module notes).
      eps: scale separation ε > 0 (default 0.01).
      beta: inverse temperature β > 0 (default 0.1, module notes).
      gamma: coupling γ > 0 (default 0.1, module notes).

    Reference: report eq. (29); Kantas, Parpas & Pavliotis 2019, arXiv:1905.04121, eq. (2.6);
    Chaudhari et al. 2018, eq. (9).
    """
    schedule = as_schedule("dt", dt)
    eps = check_positive("eps", eps)
    beta = check_positive("beta", beta)
    gamma = check_positive("gamma", gamma)

    def init(x0):
        num_agents(x0)
        return FastSlowState(x0, *zero_counts(), y=x0)

    def step(key, state, landscape):
        kg, kn = jax.random.split(key)
        x, y = state.x, state.y
        dt_k = at_step(schedule, state.count, leaf_dtype(x))
        g = ensemble_grad(landscape, kg, y, state.grad_evals)
        pull = tree_scale(1.0 / gamma, tree_sub(x, y))  # (X − Y)/γ
        x_new = retract(landscape, tree_axpy(-dt_k, pull, x))
        noise = jnp.sqrt(2.0 * dt_k / (beta * eps))
        y_new = tree_axpy(noise, normal_like(kn, y), tree_axpy(-dt_k / eps, tree_sub(g, pull), y))
        new = FastSlowState(x_new, state.grad_evals + 1, state.count + 1,
                            retract(landscape, y_new))
        return new, EmptyInfo()

    return StepFunctions(init, step, grads_per_step=1, name="fast-slow",
                         hyperparams={"rule": "fast-slow", "dt": schedule, "eps": eps,
                                      "beta": beta, "gamma": gamma})


# ---------------------------------------------------------------------------- B10


class MFHomState(NamedTuple):
    """State of B10: ``x`` (= X_n), oracle calls and outer steps per agent, ``y`` (last inner
    Y)."""

    x: jax.Array
    grad_evals: jax.Array
    count: jax.Array
    y: jax.Array


class MFHomInfo(NamedTuple):
    """y_bar: Ȳ_n, the inner average used by the macro step (same structure as x)."""

    y_bar: jax.Array


@optimizer_factory("Delta", "delta", "eps", "beta", "gamma", "lam")
def mf_hom_sgld(
    Delta: ScalarOrSchedule,
    delta: float = 1e-6,
    eps: float = 0.01,
    beta: float = 0.1,
    gamma: float = 0.1,
    lam: float = 0.0,
    M: int = 100,
    burn_in: int = 20,
) -> Optimizer:
    """B10, MF-Hom-SGLD: the heterogeneous multiscale scheme of report §3.1.4 (eqs. 30–31).

    Per outer step n, for every agent i (x̄ = mean of X_{n−1} over agents)::

        Y_{n,0} = Y_{n−1,M}                                   (warm start; Y_{0,M} = X_0)
        Y_{n,m} = Y_{n,m−1} − (δ/ε)[g̃(Y_{n,m−1}) − (X_{n−1} − Y_{n,m−1})/γ]
                  + √(2δ/(βε)) ξ_{n,m},                      m = 1..M
        Ȳ_n     = (1/(M − m')) Σ_{m = m'+1}^{M} Y_{n,m}       (SPEC erratum 6)
        X_n     = X_{n−1} − Δ[(X_{n−1} − Ȳ_n)/γ + λ(X_{n−1} − x̄)]

    The inner loop is :func:`~mflab.optimizers.hamilton_jacobi.local_langevin_mean` with
    step δ/ε, so for large M, (X − Ȳ)/γ ≈ ∇Φ^{β,γ}(X) and the macro step is gradient
    descent on Φ^{β,γ} plus a Curie–Weiss pull of strength λ. On Φ = ½k|x|² with exact
    Ȳ = X/(1 + γk), deviations x_i − x̄ contract by 1 − Δ(k/(1 + γk) + λ) per step.
    ``grads_per_step = M``.

    Args:
      Delta: outer step Δ > 0 or a schedule of the outer steps (required; the report's 1e-3:
        ∇²Φ^{β,γ} ≤ 1/γ, so Δ < 2γ is stable; 3000 outer steps reach A from the whole
        start box, module notes).
      delta: inner step δ > 0 (default 1e-6, so δ/ε = 1e-4, module notes).
      eps: scale separation ε > 0 (default 0.01); only δ/ε and β enter the inner loop.
      beta: inverse temperature β > 0 (default 0.1, module notes).
      gamma: coupling γ > 0 (default 0.1, module notes).
      lam: Curie–Weiss interaction λ ≥ 0 (default 0: independent agents; the report's
        "λ ∼ 1" is for its learning problems — on Müller–Brown a pull towards the mean of
        agents spread over three basins drags them off the minima).
      M: inner steps per outer step (default 100).
      burn_in: m', inner steps discarded before averaging, 0 ≤ m' < M (default 20).

    Reference: report §3.1.4 (Algorithm MF-Hom-SGLD) with SPEC erratum 6; Kantas, Parpas &
    Pavliotis 2019, arXiv:1905.04121, Alg. 1; E, Liu & Vanden-Eijnden, CPAM 2005 (HMM).
    """
    schedule = as_schedule("Delta", Delta)
    delta = check_positive("delta", delta)
    eps = check_positive("eps", eps)
    beta = check_positive("beta", beta)
    gamma = check_positive("gamma", gamma)
    lam = check_positive("lam", lam, allow_zero=True)
    M = check_int("M", M)
    burn_in = check_int("burn_in", burn_in, minimum=0)
    if burn_in >= M:
        raise ValueError(
            f"burn_in must be < M so that some inner iterates are averaged; "
            f"got burn_in={burn_in}, M={M}."
        )
    tau = delta / eps

    def init(x0):
        num_agents(x0)
        return MFHomState(x0, *zero_counts(), y=x0)

    def step(key, state, landscape):
        x = state.x
        y, y_bar = local_langevin_mean(key, landscape, x, state.y, beta, gamma, tau, M, burn_in,
                                       calls0=state.grad_evals)
        force = tree_scale(1.0 / gamma, tree_sub(x, y_bar))
        if not (isinstance(lam, int | float) and lam == 0.0):  # λ = 0: no Curie–Weiss pull
            force = tree_axpy(lam, tree_sub(x, tree_agent_mean(x)), force)
        delta_k = at_step(schedule, state.count, leaf_dtype(x))
        x_new = retract(landscape, tree_axpy(-delta_k, force, x))
        return MFHomState(x_new, state.grad_evals + M, state.count + 1, y), MFHomInfo(y_bar)

    return StepFunctions(init, step, grads_per_step=M, name="mf-hom-sgld",
                         hyperparams={"rule": "mf-hom-sgld", "Delta": schedule, "delta": delta,
                                      "eps": eps, "beta": beta, "gamma": gamma, "lam": lam, "M": M,
                                      "burn_in": burn_in})
