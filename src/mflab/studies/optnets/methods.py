"""The methods of study C5 and their tuning grids, in mean-field units (SPEC A5, C5).

On a network of N units every step size is written in mean-field time: a step ε moves a unit
by ε ∇ψ, i.e. the optimiser's η = N ε (``schedules.meanfield_learning_rate``), and the
other constants are scaled so that their effect on one unit does not depend on N:

| id | tuned (the grid) | fixed | optimiser arguments |
|---|---|---|---|
| B1 SGD | ε | | η = Nε |
| B2 Nesterov | ε_eff × γ | | η = Nε_eff(1 − γ), γ |
| B3 restart Nesterov | ε (a wider grid) | | η = Nε |
| B4 MaSS | ε_eff × c | γ = ``mass_gamma`` | r = cγ, η1 = Nε_eff(1 − γ)/(1 − r), η2 = r η1 |
| B5 SGLD | ε × τ | | η = Nε, β = N/τ |
| B6 interacting SGLD | ε × λ' | τ of B5 | η = Nε, β = N/τ, λ = λ'/N |
| B8 HJ smoothing | ε × c | τ of B5, L, ρ | τ_in = Nε, γ = N c ε, η = ρ γ, β = N/τ |
| B10 MF-Hom-SGLD | ε × λ' | τ of B5, c of B8 | δ = Nε (its ε = 1), γ = N c ε, Δ = ρ γ, λ = λ'/N |

* ε_eff is the step on a constant gradient: momentum γ multiplies a steady step by 1/(1 − γ),
  and MaSS's compensation by (1 − r)/(1 − γ) (its trace t⁺ = γt + (γ − r)g settles at
  (γ − r)g/(1 − γ)); gridding ε_eff lets one grid bracket every method. With c → 1 MaSS
  becomes SGD (r = γ: the trace stays 0), with c = 0 Nesterov.
* τ is the mean-field temperature: the noise √(2η/β) ξ moves a unit by √(2ετ) ξ per step.
* λ' is the Curie–Weiss pull per unit of mean-field time: λ(x − x̄) with η = Nε is
  ε λ'(x − x̄).
* B8/B10: the inner Langevin chain y ← y − Nε[g̃(y) + (y − x)/γ] + √(2ετ) ξ relaxes towards
  x at 1/c per step; the outer step moves x by ρ (x − ȳ) (ρ = Δ/γ = ``hj_relax``), and
  ρ c/L is the outer progress per sample relative to SGD's (1 when c = L/ρ).
* B6 and B10 act on an ensemble of ``replicas`` networks started from the same θ0 (so x̄,
  the mean unit by unit, is meaningful); B8 uses the B3 restart momentum on its smoothed
  gradient (``hj_restart``; plain descent is B10 with λ = 0).

Tuning rounds: round 1 tunes B1–B5; round 2 B6 and B8 at B5's temperature; round 3 B10 at
B5's temperature and B8's coupling (when B5/B8 are not run: the first value of their grid).
B6 and B10 search ε near B5's and B8's choice (``protocol.method_eps_grid``).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class MethodSpec(NamedTuple):
    """One method of C5: SPEC id, label, whether its replicas interact, tuning round, the
    name of its secondary grid parameter (``None``: ε only)."""

    id: str
    label: str
    coupled: bool
    round: int
    secondary: str | None


METHODS: dict[str, MethodSpec] = {s.id: s for s in (
    MethodSpec("B1", "SGD", False, 1, None),
    MethodSpec("B2", "Nesterov", False, 1, "gamma"),
    MethodSpec("B3", "Nesterov + restart", False, 1, None),
    MethodSpec("B4", "MaSS", False, 1, "compensation"),
    MethodSpec("B10", "MF-Hom-SGLD", True, 3, "lam"),
    MethodSpec("B5", "SGLD", False, 1, "tau"),
    MethodSpec("B6", "interacting SGLD", True, 2, "lam"),
    MethodSpec("B8", "HJ smoothing", False, 2, "coupling"),
)}
METHOD_IDS = tuple(METHODS)
#: The coupled methods again with λ = 0 at their chosen values (what the interaction gives).
LAMBDA_ZERO = {"B6-lam0": "B6", "B10-lam0": "B10"}
#: Colours, one per method, the same in every figure (λ = 0 variants: dashed, same colour).
COLORS = {"B1": "#000000", "B2": "#1f77b4", "B3": "#17becf", "B4": "#d62728",
          "B10": "#9467bd", "B5": "#ff7f0e", "B6": "#2ca02c", "B8": "#8c564b"}


def base_method(key: str) -> str:
    """``B6-lam0`` → ``B6``; a method id → itself."""
    return LAMBDA_ZERO.get(key, key)


def label(key: str) -> str:
    """``B4 MaSS``, ``B6 interacting SGLD (λ = 0)``."""
    spec = METHODS[base_method(key)]
    return f"{spec.id} {spec.label}" + (" (λ = 0)" if key in LAMBDA_ZERO else "")


def static_kwargs(method: str, config) -> tuple[tuple[str, Any], ...]:
    """The factory's fixed arguments (structure, not tuned), as sorted items."""
    L, b = config.hj_inner_steps, config.hj_burn_in
    return {
        "B4": (("gamma", config.mass_gamma),),
        "B8": (("burn_in", b), ("inner_steps", L), ("restart", config.hj_restart)),
        "B10": (("M", L), ("burn_in", b), ("eps", 1.0)),
    }.get(method, ())


def grads_per_step(method: str, config) -> int:
    """Oracle calls per step (B8, B10: the inner loop)."""
    return config.hj_inner_steps if method in ("B8", "B10") else 1


_TUNED = {"B1": ("sgd", ("eta",)), "B2": ("nesterov", ("eta", "gamma")),
          "B3": ("restart_nesterov", ("eta",)), "B4": ("mass", ("eta1", "eta2")),
          "B5": ("sgld", ("eta", "beta")), "B6": ("interacting_sgld", ("eta", "beta", "lam")),
          "B8": ("hj_smoothing", ("eta", "beta", "gamma", "inner_eta")),
          "B10": ("mf_hom_sgld", ("Delta", "delta", "beta", "gamma", "lam"))}
def optimizer(method: str, static: tuple[tuple[str, Any], ...],
              values: tuple[tuple[str, float], ...]):
    """The optimiser of ``method`` with its structural arguments ``static`` and tuned
    ``values``: a value whose numbers are leaves, so one compiled chunk serves every grid
    point and seed of a structure (:mod:`mflab.optimizers.base`)."""
    import mflab.optimizers as O

    factory, names = _TUNED[method]
    unknown = [n for n, _ in values if n not in names]
    if unknown:
        raise ValueError(f"{method} tunes {list(names)}; got values for {unknown}.")
    return getattr(O, factory)(**dict(static), **dict(values))


def secondary_grid(method: str, config) -> tuple:
    """The values of the method's secondary parameter (``(None,)`` when it has none)."""
    name = METHODS[method].secondary
    return {None: (None,), "gamma": config.nesterov_gammas,
            "compensation": config.mass_compensations, "tau": config.temperatures,
            "lam": config.lambdas, "coupling": config.hj_couplings}[name]


def eps_grid(config, family: str, m: int, method: str) -> tuple[float, ...]:
    """The ε grid of ``method`` on a problem family at batch m: the family's grid (m = 1)
    × m^p (p = ``eps_batch_power``; p = 1 is the linear scaling rule); for B3 that grid
    times each of ``restart_grid_factors`` (its momentum grows without bound between
    restarts, γ_k = (k − 1)/(k + 2), so its best ε lies far below the others')."""
    base = [float(e) * m ** config.eps_batch_power for e in getattr(config, f"eps_{family}")]
    if method == "B3":
        base = [e * f for f in config.restart_grid_factors for e in base]
    return tuple(sorted(set(base)))


def hyper(method: str, eps: float, sec, N: int, config, inherited: dict) -> tuple[dict, dict]:
    """(the optimiser's tuned values, the point in mean-field units) for grid point
    (ε or ε_eff, secondary) of ``method`` on N units (module table). ``inherited``: ``tau``
    (B5's choice) and ``coupling`` (B8's)."""
    tau = inherited.get("tau", config.temperatures[0])
    c = inherited.get("coupling", config.hj_couplings[0])
    rho = config.hj_relax
    if method == "B1" or method == "B3":
        return {"eta": N * eps}, {"eps": eps}
    if method == "B2":
        e = eps * (1.0 - sec)
        return {"eta": N * e, "gamma": sec}, {"eps_eff": eps, "eps": e, "gamma": sec}
    if method == "B4":
        g = config.mass_gamma
        r = sec * g
        e = eps * (1.0 - g) / (1.0 - r)
        return ({"eta1": N * e, "eta2": r * N * e},
                {"eps_eff": eps, "eps": e, "compensation": sec, "eta2/eta1": r})
    if method == "B5":
        return {"eta": N * eps, "beta": N / sec}, {"eps": eps, "tau": sec}
    if method == "B6":
        return ({"eta": N * eps, "beta": N / tau, "lam": sec / N},
                {"eps": eps, "tau": tau, "lam": sec})
    if method == "B8":
        return ({"eta": rho * N * sec * eps, "beta": N / tau, "gamma": N * sec * eps,
                 "inner_eta": N * eps}, {"eps": eps, "tau": tau, "coupling": sec})
    if method == "B10":
        return ({"Delta": rho * N * c * eps, "delta": N * eps, "beta": N / tau,
                 "gamma": N * c * eps, "lam": sec / N},
                {"eps": eps, "tau": tau, "coupling": c, "lam": sec})
    raise KeyError(method)
