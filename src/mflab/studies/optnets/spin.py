"""The 3-spin kernel networks of SPEC C7 as problems of the comparison harness (C7, fig. 15).

The optimiser comparison of C7 runs through the same harness and protocol as C5
(:mod:`mflab.compare`): budget per ensemble, bracketing tuning on tuning seeds, paired
comparison seeds, exact-gradient mechanism controls. A problem ``S3-dD`` is the network
f_n = (1/n) Σ c_i φ(·, z_i) on the d = D target (couplings from ``spin_target_seed``),
α = 5/d unless set, centres on S^{d−1}(√d) (Riemannian steps), c_i ~ U[−c0, c0] with
c0 = ``spin_c0_factor`` · √(3E f²)/E_μφ (``docs/three-spin-model.md``). Its mini-batch
oracle draws m fresh uniform points (a sample is a point); ``landscape(None)`` is the
exact gradient of L = ½E_μ(f − f_n)².

The score ``risk`` is the exact loss relative to the loss of f_n ≡ 0, L/(½E f²), computed
in float64 always (closed forms, :func:`mflab.spherical.exact_loss`): at the losses the
momentum methods reach (≈ 1e-7 of ½E f²) float32 has no digits left. The dynamics are
float64 too. Steps are in mean-field units, η = n·dt (the methods of
:mod:`~mflab.studies.optnets.methods` read the width from ``N``, here n).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mflab.compare import Problem, Target

#: The dimensions of the problems S3-d3 … S3-d5 (SPEC C7; report fig. 15).
SPIN_DIMS = (3, 4, 5)


def spin_dim(problem: str) -> int:
    """``"S3-d5"`` → 5."""
    return int(problem.split("-d", 1)[1])


@dataclass(frozen=True)
class SpinProblem(Problem):
    """One C7 network as a :class:`~mflab.compare.Problem` (hashable: a worker builds its
    landscapes once). ``N`` is the width n (the methods' mean-field units)."""

    name: str
    N: int
    d: int
    alpha: float
    c0: float
    target_seed: int = 0
    target: Target | None = None

    score_name = "risk"
    target_name = "risk"

    def landscape(self, m):
        """The mini-batch landscape (m fresh uniform points per gradient), or with ``m =
        None`` the exact gradient (the mechanism control)."""
        from mflab.studies import three_spin_train as T

        return T.landscape_for(self.d, self.N, self.alpha, m, self.target_seed)

    def init(self, key, agents: int):
        """θ0 of the seed (SPEC C7's initial law, float64), copied to every agent."""
        from mflab.spherical import init_kernel_params

        with jax.enable_x64(True):
            x = init_kernel_params(key, self.N, self.d, self.c0, dtype=jnp.float64)
            return jax.tree_util.tree_map(lambda v: jnp.broadcast_to(v, (agents, *v.shape)), x)

    def score(self, x, split: str) -> dict[str, float]:
        """``risk`` = L/(½E f²), exact, at the centres retracted to the sphere (as the
        landscape sees them); +inf where the network is not finite or L < 0 (L ≥ 0 is a
        mean of squares: a negative value has lost its digits, a blown-up network whose
        huge terms cancelled — scored like a diverged run, never as a record low)."""
        leaves = jax.tree_util.tree_leaves(x)
        if not all(bool(np.all(np.isfinite(v))) for v in leaves):
            return {"risk": np.inf}
        value, half = _exact(self)
        loss = float(value(x))
        return {"risk": loss / half if loss >= 0 and np.isfinite(loss) else np.inf}


_EXACT: dict = {}


def _exact(problem: SpinProblem):
    """(jitted exact loss of one network in float64, ½E f²), once per process: the exact
    landscape's ``value`` (the closed forms at the retracted centres)."""
    if problem not in _EXACT:
        from mflab.spherical import KernelParams

        with jax.enable_x64(True):
            land = problem.landscape(None)
            half = 0.5 * float(land.info["second_moment"])
        f = jax.jit(lambda c, z: land.value(KernelParams(c, z)))

        def value(x):
            with jax.enable_x64(True):
                return f(jnp.asarray(x.c, jnp.float64), jnp.asarray(x.z, jnp.float64))

        _EXACT[problem] = (value, half)
    return _EXACT[problem]


def spin_problem_for(config, problem: str, target: Target) -> SpinProblem:
    """The :class:`SpinProblem` of ``problem`` (``S3-dD``) under a C5 config."""
    from mflab.spherical import default_alpha, matched_weight_scale
    from mflab.studies import three_spin_train as T

    d = spin_dim(problem)
    alpha = default_alpha(d) if config.spin_alpha is None else float(config.spin_alpha)
    with jax.enable_x64(True):
        c0 = config.spin_c0_factor * float(
            matched_weight_scale(T.couplings_for(d, config.spin_target_seed), alpha))
    return SpinProblem(problem, config.spin_n, d, alpha, c0, config.spin_target_seed, target)


def spin_start_features(problem: SpinProblem, key, n: int) -> tuple[Any, Any, Any]:
    """``(predict, θ0, x)`` for the tangent curvature at the start: f_n(x; θ0) on ``n``
    fresh uniform points of the sphere (float64), with the centres retracted to the sphere
    inside ``predict`` as in the landscape, so that the tangent features have no radial
    part (the model the optimisers step)."""
    from mflab.spherical import KernelParams, kernel_network, uniform_sphere
    from mflab.spherical.sphere import retract_to_sphere

    with jax.enable_x64(True):
        theta0 = jax.tree_util.tree_map(lambda v: v[0], problem.init(key, 1))
        x = uniform_sphere(jax.random.fold_in(key, 1), n, problem.d, dtype=jnp.float64)

    def predict(th, xb):
        return kernel_network(KernelParams(th.c, retract_to_sphere(th.z)), xb, problem.alpha)

    return predict, theta0, x
