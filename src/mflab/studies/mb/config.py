"""Config of study C6 (defaults: SPEC C6 paper scale)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.studies.mb.methods import ALL_IDS, TUNED_GRIDS


@dataclass(frozen=True)
class MuellerBrownConfig(StudyConfig):
    """Config of study C6 (defaults: SPEC C6 paper scale)."""

    n_agents: int = param(1000, ge=1, doc="uniform starts, shared by all optimisers (SPEC C6)")
    n_seeds: int = param(10, ge=1, doc="comparison seeds: repetitions of the whole ensemble (new "
                         "starts and noise), one statistical unit each; tables give the median "
                         "and range over them, paired tests compare methods seed by seed "
                         "(SPEC C6: >= 5; SPEC C5's protocol: >= 10)")
    tuning_seeds: int = param(3, ge=0, doc="seeds (disjoint from the comparison's) on which "
                              "each method's tuned parameter is chosen by the median share "
                              "outside basin A; 0: no tuning, every method at the config's "
                              "values")
    beta_grid: tuple[float, ...] = param((0.03, 0.1, 0.3), doc="first grid of the tuned β "
                                         "(noisy methods; B11's Langevin β), log-spaced")
    h_grid: tuple[float, ...] = param((0.01, 0.03, 0.1), doc="first grid of B7's tuned "
                                      "smoothing width h, log-spaced")
    max_extensions: int = param(2, ge=0, doc="decades a grid may grow beyond each edge before "
                                "a choice there is flagged")
    budget: int = param(100_000, ge=1, doc="gradient evaluations per agent (SPEC C6: 1e5 steps)")
    equal_cost: bool = param(True, doc="steps = budget // grads_per_step; false: budget steps")
    eta: float = param(1e-4, gt=0, doc="learning rate of GD-like methods (SPEC C6)")
    beta: float = param(0.1, gt=0, doc="inverse temperature of noisy methods, where not tuned "
                        "(barriers: "
                        "β·ΔV = 3.6 to leave B, 10.6 to leave A)")
    macro_step: float = param(0.02, gt=0, doc="outer step of B8 (η) and B10 (Δ); Δ/γ = 0.2")
    mfhom_lam: float = param(1.0, ge=0, doc="B10 Curie–Weiss interaction λ (SPEC C6: λ > 0, "
                             "the report's MF-Hom-SGLD is the interacting form, 'λ ∼ 1'; "
                             "λ = 0 is the interaction-off control: B8's algorithm with a "
                             "warm-started inner chain, on the same noise)")
    smoothing_h: float = param(0.03, gt=0, doc="B7 smoothing width h (untuned value)")
    smoothing_nodes: int = param(0, ge=0, doc="B7's ∇Φ^h: 0 = Monte Carlo, K = 16 samples a "
                                 "step; n = the n×n Gauss–Hermite rule (SPEC B7's grid in "
                                 "2-D; n² gradients a step)")
    fs_eps: float = param(0.1, gt=0, doc="B9 scale separation ε (dt = ε·eta keeps dt/ε = eta)")
    gibbs_beta: float = param(0.05, gt=0, doc="B11 Langevin β (81% Gibbs mass in A; crosses "
                              "barriers within budget/2 steps)")
    box: tuple[float, ...] = param((-1.5, 1.2, -0.2, 2.0), doc="start box x_lo,x_hi,y_lo,y_hi")
    optimizers: tuple[str, ...] = param(ALL_IDS, choices=ALL_IDS, doc="SPEC ids to compare")
    n_records: int = param(200, ge=1, doc="records of each run (metrics, trajectories)")
    n_trajectories: int = param(8, ge=0, doc="sample agents whose trajectories are saved")
    n_chunks: int = param(4, ge=1, doc="engine calls per run (memory: one call's records "
                          "of every agent); a resumed run redoes only the unfinished (seed, "
                          "method) runs")
    descent_eta: float = param(1e-4, gt=0, doc="step of the GD used to find a run's basin")
    descent_tol: float = param(1e-6, gt=0, doc="gradient norm at which that GD stops")
    descent_max_steps: int = param(200_000, ge=1, doc="step cap of that GD")
    match_tol: float = param(1e-3, gt=0, doc="distance to a tabulated stationary point")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"n_agents": 200, "n_seeds": 2, "tuning_seeds": 0, "budget": 10_000,
                  "n_records": 100, "n_chunks": 1},
    }

    def check(self) -> None:
        if len(self.box) != 4 or self.box[0] >= self.box[1] or self.box[2] >= self.box[3]:
            raise ConfigError(f"box must be x_lo,x_hi,y_lo,y_hi with lo < hi; got {self.box}.")
        if self.n_trajectories > self.n_agents:
            raise ConfigError(f"n_trajectories must be <= n_agents ({self.n_agents}); "
                              f"got {self.n_trajectories}.")
        if len(set(self.optimizers)) != len(self.optimizers):
            raise ConfigError(f"optimizers must not repeat; got {','.join(self.optimizers)}.")
        for name in ("beta_grid", "h_grid"):
            g = getattr(self, name)
            if not g or any(not (v > 0) for v in g) or len(set(g)) != len(g):
                raise ConfigError(f"{name} must be distinct positive values; got "
                                  f"{','.join(map(str, g))}.")
            field, lo, hi = next(v for v in TUNED_GRIDS.values() if v[0] == name)
            if min(g) < lo or max(g) > hi:
                raise ConfigError(f"{name} must lie in [{lo:g}, {hi:g}]; got "
                                  f"{','.join(map(str, g))}.")

    def memory_bytes(self) -> int:
        """One optimiser's run at a time, in 8-byte floats: the records of one engine call
        (``n_chunks`` calls a run), values (R, A) and positions (R, A, 2) in JAX and in
        NumPy, plus ~150 (A, 2)-sized arrays (state, B7's K = 16 samples, temporaries, the
        basin descent)."""
        r = -(-self.n_records // self.n_chunks) + 1
        return 8 * self.n_agents * (2 * 3 * r + 150) + 8 * 2 * (self.n_records + 1) * (
            self.n_trajectories + 1)
