"""The methods of study C5 and their tuning grids, in mean-field units (SPEC A5, C5).

On a network of N units every step size is written in mean-field time: a step ε moves a unit
by ε ∇ψ, i.e. the optimiser's η = N ε (``schedules.meanfield_learning_rate``), and the
other constants are scaled so that their effect on one unit does not depend on N:

| id | tuned (each a bracketing grid) | fixed | optimiser arguments |
|---|---|---|---|
| B1 SGD | ε | | η = Nε |
| B2 Nesterov | ε_eff, φ = 1 − γ | | η = Nε_eff·φ, γ = 1 − φ |
| B3 restart Nesterov | ε (grid × ``restart_grid_factor``) | | η = Nε |
| B4 MaSS | ε_eff, c | γ = ``mass_gamma`` | r = cγ, η1 = Nε_eff(1 − γ)/(1 − r), η2 = r η1 |
| B4r restart-MaSS | ε (B3's grid), r | B3's restart γ | η1 = Nε, η2 = r η1 |
| B4lb MaSS, Liu & Belkin's parameters | none | η1, η2, γ from the start's curvature | as given |
| B5 SGLD | ε, τ | | η = Nε, β = N/τ |
| B6 interacting SGLD | ε, τ, λ' | R replicas | η = Nε, β = N/τ, λ = λ'/N |
| B8 HJ smoothing | ε, τ, c | L, ρ | τ_in = Nε, γ = N c ε, η = ρ γ, β = N/τ |
| B10 MF-Hom-SGLD | ε, τ, c, λ' | L, ρ, R | δ = Nε (ε = 1), γ = N c ε, Δ = ρ γ, λ = λ'/N |

* ε_eff is the step on a constant gradient: momentum γ multiplies a steady step by 1/(1 − γ),
  and MaSS's compensation by (1 − r)/(1 − γ) (its trace t⁺ = γt + (γ − r)g settles at
  (γ − r)g/(1 − γ)); gridding ε_eff lets one grid bracket every method. With c → 1 MaSS
  becomes SGD (r = γ: the trace stays 0), with c = 0 Nesterov. φ = 1 − γ is Nesterov's
  friction, log-gridded so that γ → 1 can be bracketed.
* τ is the mean-field temperature: the noise √(2η/β) ξ moves a unit by √(2ετ) ξ per step.
* λ' is the Curie–Weiss pull per unit of mean-field time: λ(x − x̄) with η = Nε is
  ε λ'(x − x̄).
* B8/B10: the inner Langevin chain y ← y − Nε[g̃(y) + (y − x)/γ] + √(2ετ) ξ relaxes towards
  x at 1/c per step; the outer step moves x by ρ (x − ȳ) (ρ = Δ/γ = ``hj_relax``).
* B4lb is not tuned: its (η1, η2, γ) are Liu & Belkin's for batch m
  (:func:`~mflab.optimizers.liu_belkin_mass`) from the tangent curvature at the start
  (:func:`~mflab.optimizers.tangent_curvature`, the top ``lb_modes`` eigenspace), with μ the
  smallest curvature SGD's step 1/L₁(m) resolves within the budget's T steps
  (μ = L₁(m)/T, so κ_m = T) or λ_K where fewer modes were computed
  (:func:`liu_belkin_choice`).
* B6 and B10 act on an ensemble of ``replicas`` networks started from the same θ0 (so x̄,
  the mean unit by unit, is meaningful): one statistical unit that draws the whole budget,
  with batch-R·m SGD as its control (:mod:`mflab.compare`). B8 uses the B3 restart
  momentum on its smoothed gradient (``hj_restart``).

Every tuned grid is a :class:`~mflab.compare.Grid` that the harness extends by a decade
when its choice lands on an edge (up to ``max_extensions``, within the limits below); a
one-value grid is a fixed value, stated in the summary.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class MethodSpec(NamedTuple):
    """One method of C5: SPEC id, label, whether its replicas interact."""

    id: str
    label: str
    coupled: bool


METHODS: dict[str, MethodSpec] = {s.id: s for s in (
    MethodSpec("B1", "SGD", False),
    MethodSpec("B2", "Nesterov", False),
    MethodSpec("B3", "Nesterov + restart", False),
    MethodSpec("B4", "MaSS", False),
    MethodSpec("B4r", "MaSS + restart", False),
    MethodSpec("B4lb", "MaSS, Liu & Belkin's parameters", False),
    MethodSpec("B10", "MF-Hom-SGLD", True),
    MethodSpec("B5", "SGLD", False),
    MethodSpec("B6", "interacting SGLD", True),
    MethodSpec("B8", "HJ smoothing", False),
)}
METHOD_IDS = tuple(METHODS)


def base_method(entry: str) -> str:
    """``B1@m=300`` (the control of a coupled method) → ``B1``; a method id → itself."""
    return entry.split("@", 1)[0]


def label(entry: str) -> str:
    """``B4 MaSS``; ``B1 SGD, batch 300 (control)`` for a control entry."""
    spec = METHODS[base_method(entry)]
    if "@m=" in entry:
        return f"{spec.id} {spec.label}, batch {entry.split('@m=')[1]} (control)"
    return f"{spec.id} {spec.label}"


#: The tuned names of each method, in mean-field units (the module table).
TUNED = {"B1": ("eps",), "B2": ("eps_eff", "friction"), "B3": ("eps",),
         "B4": ("eps_eff", "compensation"), "B4r": ("eps", "ratio"),
         "B4lb": ("eta1", "eta2", "gamma"), "B5": ("eps", "tau"),
         "B6": ("eps", "tau", "lam"), "B8": ("eps", "tau", "coupling"),
         "B10": ("eps", "tau", "coupling", "lam")}
#: Limits of each grid's extension (SPEC C5: "up to a stated limit"). φ = 1 − γ and MaSS's
#: c live in (0, 1); the others are positive scales.
LIMITS = {"friction": (1e-3, 1.0), "compensation": (1e-3, 0.99), "eps": (1e-9, 10.0),
          "eps_eff": (1e-9, 10.0), "tau": (1e-9, 10.0), "lam": (1e-3, 1e3),
          "coupling": (0.1, 1e3), "ratio": (1e-3, 0.99)}


def grids(method: str, config, family: str, m: int) -> dict:
    """The method's tuned grids at batch m (:class:`~mflab.compare.Grid` with limits)."""
    from mflab.compare import Grid

    base = [float(e) * m ** config.eps_batch_power for e in getattr(config, f"eps_{family}")]
    if method in ("B3", "B4r"):
        base = [e * config.restart_grid_factor for e in base]
    values = {"eps": base, "eps_eff": base, "friction": config.nesterov_frictions,
              "compensation": config.mass_compensations, "ratio": config.mass_ratios,
              "tau": config.temperatures, "lam": config.lambdas, "coupling": config.hj_couplings}
    return {n: Grid(tuple(values[n]), *LIMITS[n]) for n in TUNED[method]}


def static_kwargs(method: str, config) -> tuple[tuple[str, Any], ...]:
    """The factory's fixed arguments (structure, not tuned), as sorted items."""
    L, b = config.hj_inner_steps, config.hj_burn_in
    return {
        "B4": (("gamma", config.mass_gamma),),
        "B4r": (("restart", True),),
        "B8": (("burn_in", b), ("inner_steps", L), ("restart", config.hj_restart)),
        "B10": (("M", L), ("burn_in", b), ("eps", 1.0)),
    }.get(method, ())


def grads_per_step(method: str, config) -> int:
    """Oracle calls per step (B8, B10: the inner loop)."""
    return config.hj_inner_steps if method in ("B8", "B10") else 1


_FACTORY = {"B1": "sgd", "B2": "nesterov", "B3": "restart_nesterov", "B4": "mass",
            "B4r": "mass", "B4lb": "mass", "B5": "sgld", "B6": "interacting_sgld",
            "B8": "hj_smoothing", "B10": "mf_hom_sgld"}


def build(method: str, static: tuple, rho: float, point: dict, problem, m) -> Any:
    """The optimiser of ``method`` at a grid ``point`` (mean-field units) on ``problem``'s
    N units: a value whose numbers are leaves, so every grid point and seed of one
    structure share one compiled chunk (:mod:`mflab.optimizers.base`)."""
    import mflab.optimizers as O

    values = arguments(method, point, problem.N, dict(static), rho)
    return getattr(O, _FACTORY[method])(**dict(static), **values)


def arguments(method: str, p: dict, N: int, static: dict, rho: float) -> dict:
    """The optimiser's arguments at mean-field point ``p`` on N units (module table)."""
    if method in ("B1", "B3"):
        return {"eta": N * p["eps"]}
    if method == "B2":
        return {"eta": N * p["eps_eff"] * p["friction"], "gamma": 1.0 - p["friction"]}
    if method == "B4":
        g = static["gamma"]
        r = p["compensation"] * g
        e = p["eps_eff"] * (1.0 - g) / (1.0 - r)
        return {"eta1": N * e, "eta2": r * N * e}
    if method == "B4r":
        return {"eta1": N * p["eps"], "eta2": p["ratio"] * N * p["eps"]}
    if method == "B4lb":  # already the optimiser's numbers
        return {"eta1": p["eta1"], "eta2": p["eta2"], "gamma": p["gamma"]}
    if method == "B5":
        return {"eta": N * p["eps"], "beta": N / p["tau"]}
    if method == "B6":
        return {"eta": N * p["eps"], "beta": N / p["tau"], "lam": p["lam"] / N}
    if method == "B8":
        return {"eta": rho * N * p["coupling"] * p["eps"], "beta": N / p["tau"],
                "gamma": N * p["coupling"] * p["eps"], "inner_eta": N * p["eps"]}
    if method == "B10":
        return {"Delta": rho * N * p["coupling"] * p["eps"], "delta": N * p["eps"],
                "beta": N / p["tau"], "gamma": N * p["coupling"] * p["eps"],
                "lam": p["lam"] / N}
    raise KeyError(method)


def liu_belkin_choice(curvature: dict, m: int, steps: int) -> dict:
    """Liu & Belkin's MaSS at batch m for a run of ``steps`` steps, from the start's
    curvature (a row of :func:`~mflab.studies.optnets.problems.tangent_curvature_at_start`):
    μ = max(L₁(m)/T, λ_K) — the smallest curvature SGD's step 1/L₁(m) resolves in T steps,
    or the last computed mode — and L₁, κ̃ on the modes above μ (the modes picked with the
    L₁ of all K, then μ from theirs, so that κ_m = T exactly unless capped). Returns the
    :class:`~mflab.optimizers.LiuBelkinMaSS` fields with the choice (``modes``,
    ``capped``: the budget resolves modes below the last computed one, so κ̃ is a lower
    estimate)."""
    from mflab.optimizers import TangentCurvature, liu_belkin_mass

    tc = TangentCurvature(*(np.asarray(curvature[k]) for k in ("lam", "L1", "kappa_tilde")),
                          curvature["trace"], curvature["samples"])

    def mu(L1):  # max(L₁(m)/T, λ_K)
        return max((L1 / m + (m - 1) / m * tc.lam[0]) / steps, tc.lam[-1])

    c = tc.at(mu(tc.L1[-1]))  # the modes, then μ from their own L₁: κ_m = T unless capped
    c["mu"] = mu(c["L1"])
    lb = liu_belkin_mass(m, L1=c["L1"], L=c["L"], mu=c["mu"], kappa_tilde=c["kappa_tilde"])
    return {"m": m, "steps": steps, **c, **{k: float(v) for k, v in lb._asdict().items()}}


def method_for(method: str, config, family: str, m: int, fixed: dict | None = None):
    """The :class:`~mflab.compare.Method` of ``method`` at batch m under a C5 config
    (B4lb: its ``fixed`` (η1, η2, γ), from :func:`liu_belkin_choice`)."""
    import functools

    from mflab.compare import Grid, Method

    spec = METHODS[method]
    if method == "B4lb":
        if fixed is None:
            raise ValueError("B4lb needs its fixed (eta1, eta2, gamma): liu_belkin_choice.")
        tuned = {n: Grid((fixed[n],)) for n in TUNED[method]}
    else:
        tuned = grids(method, config, family, m)
    return Method(method, functools.partial(build, method, static_kwargs(method, config),
                                            config.hj_relax),
                  tuned,
                  replicas=config.replicas if spec.coupled else 1,
                  calls_per_step=grads_per_step(method, config), label=label(method))
