"""B11: Gibbs-initialised descent (SPEC Part B; report notes, weeks 8–10; Chen et al. 2023).

Phase 1 (steps k < ``langevin_steps``): ensemble Langevin towards π ∝ exp(−βΦ), either
plain overdamped Langevin or its affine-invariant, ensemble-preconditioned version
(ALDI, Garbuno-Inigo, Nüsken & Reich 2020). Phase 2: gradient descent (B1), Nesterov
(B2) or gradient-restart Nesterov (B3) from the final ensemble. One Optimizer; the phase
is chosen per step from the step counter, and both phases cost one gradient per agent.

ALDI (with temperature 1/β; J agents, d the number of parameters per agent)::

    x_i ← x_i + η[−C ∇Φ(x_i) + (1/β)(d + 1)/J (x_i − x̄)] + √(2η/β) C^{1/2} ξ_i

with the ensemble mean x̄, covariance C = (1/J) Σ_j (x_j − x̄)(x_j − x̄)ᵀ and its generalised
square root C^{1/2} (any S with S Sᵀ = C gives the same diffusion; mflab uses the
symmetric one, O(J d² + d³) per step, instead of ALDI's J^{−1/2}[x_1 − x̄, …, x_J − x̄],
which needs J × J noise). The correction (d + 1)/J (x_i − x̄) = ∇_{x_i}·C makes the
product law π^{⊗J} invariant for every finite J > d + 1 (Garbuno-Inigo, Nüsken & Reich
2020, Lemma 1 / Prop. 2; their eq. (2.3) is β = 1). Affine mode is meant for small d.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from mflab.optimizers.base import (
    Optimizer,
    StepFunctions,
    ensemble_grad,
    num_agents,
    optimizer_factory,
    retract,
)
from mflab.optimizers.langevin import langevin_update
from mflab.optimizers.momentum import MomentumState, momentum_init, momentum_update
from mflab.optimizers.sgd import leaf_dtype, sgd_update
from mflab.schedules import ScalarOrSchedule, as_schedule, at_step
from mflab.validation import check_choice, check_int, check_interval, check_positive

_DESCENTS = ("gd", "nesterov", "restart")


#: State of B11: a :class:`~mflab.optimizers.momentum.MomentumState` — x is the Langevin
#: ensemble in phase 1 and the descent iterate (w of B2/B3) in phase 2; ``count`` selects the
#: phase; u (= x in phase 1), trace and alpha are the momentum rule's.
GibbsInitState = MomentumState


class GibbsInitInfo(NamedTuple):
    """langevin: whether this step was a Langevin (phase-1) step."""

    langevin: jax.Array


def _flat(x):
    """Ensemble pytree -> (J, d) matrix, and the inverse map."""
    one = jax.tree_util.tree_map(lambda a: a[0], x)
    _, unravel = ravel_pytree(one)
    X = jax.vmap(lambda t: ravel_pytree(t)[0])(x)
    return X, jax.vmap(unravel)


def aldi_step(key, x, g, eta: float, beta: float):
    """One Euler–Maruyama step of ALDI at inverse temperature β (module docstring).

    Args:
      key: PRNG key; x: ensemble pytree (J agents); g: ∇Φ(x_i) per agent (same structure);
      eta: step η; beta: inverse temperature β.
    """
    X, unflat = _flat(x)
    G, _ = _flat(g)
    J, d = X.shape
    E = X - jnp.mean(X, axis=0, keepdims=True)  # (J, d) deviations x_j − x̄
    C = E.T @ E / J  # (d, d), symmetric
    # symmetric square root S (S Sᵀ = C): the law of the diffusion depends on C only,
    # so it may replace ALDI's generalised square root J^{-1/2}(x_j − x̄)_j (d < J here).
    lam, Q = jnp.linalg.eigh(C)
    S = (Q * jnp.sqrt(jnp.clip(lam, 0.0))) @ Q.T
    xi = jax.random.normal(key, (J, d), dtype=jnp.float32).astype(X.dtype)
    drift = -G @ C + (d + 1) / (beta * J) * E
    return unflat(X + eta * drift + jnp.sqrt(2.0 * eta / beta) * xi @ S)


@optimizer_factory("beta", "langevin_eta", "eta", "momentum")
def gibbs_init_descent(
    beta: float = 0.05,
    langevin_eta: ScalarOrSchedule | None = None,
    langevin_steps: int = 20_000,
    descent: str = "gd",
    eta: ScalarOrSchedule | None = None,
    momentum: float = 0.9,
    affine_invariant: bool = False,
) -> Optimizer:
    """B11, Gibbs-initialised descent: Langevin towards ∝ e^{−βΦ}, then descent.

    For steps k < K₁ = ``langevin_steps`` (per agent, g = g̃(x_i))::

        plain:  x_i ← x_i − η₁ g + √(2η₁/β) ξ_i                      (B5 / eq. 19, erratum 1)
        ALDI:   x_i ← x_i + η₁[−C g + (d + 1)/(βJ) (x_i − x̄)] + √(2η₁/β) C^{1/2} ξ_i

    and for k ≥ K₁, from w = u = x_{K₁}: ``descent="gd"`` x ← x − η g̃(x) (B1);
    ``"nesterov"`` w⁺ = u − η g̃(u), u⁺ = (1 + μ) w⁺ − μ w (B2, μ = ``momentum``);
    ``"restart"`` the B3 gradient-restart schedule. One gradient per agent and step.

    Args:
      beta: inverse temperature β > 0 (default 0.05, measured on Müller–Brown with 1000
        agents uniform on the C6 box: the Gibbs law puts 81 % of its mass in basin A and
        2·10⁴ Langevin steps reach it — then GD ends 80 % of agents in A (ALDI: 77 %),
        against 48.5 % for GD alone; at β = 0.1 (97 % Gibbs mass in A) the barriers out
        of B and C, ≈ 36 and ≈ 40, are not crossed in time and only 68 % end in A).
      langevin_eta: Langevin step η₁ > 0 or a schedule of the step (required unless
        ``langevin_steps = 0``; the C6 learning rate is 1e-4; plain Langevin needs
        η₁ λ_max(∇²V) < 2, λ_max ≈ 4.1e3 on Müller–Brown; ALDI needs η₁ λ_max(C∇²V) < 2,
        which near equilibrium is ≈ 1/β).
      langevin_steps: K₁ ≥ 0, Langevin steps before descent (default 2·10⁴, physical
        time 2, enough at β = 0.05 on Müller–Brown, see ``beta``).
      descent: ``"gd"`` (default), ``"nesterov"`` or ``"restart"``.
      eta: descent step η > 0 or a schedule of the descent step k − K₁ (required; the
        C6 learning rate for GD-like methods is 1e-4).
      momentum: μ ∈ [0, 1) for ``"nesterov"`` (default 0.9, as B2).
      affine_invariant: ALDI preconditioning (default False); needs J > d + 1 agents.

    Reference: report notes weeks 8–10; Chen, Huang, Huang, Reich & Stuart 2023,
    arXiv:2302.11024, §4 (affine-invariant Langevin); Garbuno-Inigo, Nüsken & Reich,
    SIAM J. Appl. Dyn. Syst. 19 (2020), eq. (2.3) (ALDI with the finite-J correction).
    """
    beta = check_positive("beta", beta)
    langevin_steps = check_int("langevin_steps", langevin_steps, minimum=0)
    if langevin_steps == 0 and langevin_eta is None:  # no Langevin phase: no step needed
        langevin_eta = eta
    langevin_schedule = as_schedule("langevin_eta", langevin_eta)
    schedule = as_schedule("eta", eta)
    momentum = check_interval("momentum", momentum, 0.0, 1.0)
    check_choice("descent", descent, _DESCENTS)

    def init(x0):
        J = num_agents(x0)
        if affine_invariant:
            d = sum(jnp.size(leaf) // J for leaf in jax.tree_util.tree_leaves(x0))
            if J <= d + 1:
                raise ValueError(
                    f"affine_invariant=True needs more agents than parameters + 1 "
                    f"(J > d + 1 = {d + 1}); got J={J}. Use more agents or affine_invariant=False."
                )
        return momentum_init(x0, J)

    def langevin(key, state, g, landscape):
        eta1 = at_step(langevin_schedule, state.count, leaf_dtype(state.x))
        if affine_invariant:
            x = aldi_step(key, state.x, g, eta1, beta)
        else:
            x = langevin_update(key, state.x, g, eta1, beta)
        x = retract(landscape, x)
        return state._replace(x=x, u=x)

    def descend(key, state, g, landscape):
        del key
        eta_k = at_step(schedule, state.count - langevin_steps, leaf_dtype(state.x))
        if descent == "gd":
            x = sgd_update(landscape, state.x, g, eta_k)
            return state._replace(x=x, u=x)
        new, _ = momentum_update(state, g, eta_k, 0.0, gamma=momentum,
                                 restart=descent == "restart", landscape=landscape, cost=0)
        return new._replace(count=state.count)

    def step(key, state, landscape):
        kg, kn = jax.random.split(key)
        g = ensemble_grad(landscape, kg, state.u, state.grad_evals)  # u = x in phase 1
        is_langevin = state.count < langevin_steps
        new = jax.lax.cond(is_langevin, lambda *a: langevin(*a, landscape),
                           lambda *a: descend(*a, landscape), kn, state, g)
        new = new._replace(grad_evals=state.grad_evals + 1, count=state.count + 1)
        return new, GibbsInitInfo(is_langevin)

    name = "gibbs-init-" + ("aldi-" if affine_invariant else "") + descent
    return StepFunctions(init, step, grads_per_step=1, name=name,
                         hyperparams={"rule": "gibbs-init", "beta": beta,
                                      "langevin_eta": langevin_schedule,
                                      "langevin_steps": langevin_steps, "descent": descent,
                                      "eta": schedule, "momentum": momentum,
                                      "affine_invariant": affine_invariant})
