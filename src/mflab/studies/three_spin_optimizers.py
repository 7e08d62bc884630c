"""Study C7, part 1: the optimisers on the 3-spin kernel networks at equal cost (report
§3.2.5, fig. 15), through the comparison harness and protocol of C5 (SPEC C5, C7).

The problems are C5's ``S3-d3``, ``S3-d4``, ``S3-d5`` (:mod:`~mflab.studies.optnets.spin`):
n = 256 kernel units on the d-dimensional target, mini-batches of 100 fresh uniform points,
the exact loss L/(½E f²) as the score. Everything else is C5's machinery, unchanged: budget
per ensemble (300 000 samples = 3000 steps of batch 100, the report's), B10 with its
interaction (its replicas start from the same network, so the replica mean of a unit is
meaningful) and batch-R·m SGD as its control, bracketing tuning of every method on tuning
seeds, paired comparison seeds with Wilcoxon tests against SGD, MaSS at Liu & Belkin's
parameters (B4lb) beside the tuned one (B4r, the report's restart-MaSS, on request), and
the exact-gradient run of every method as the mechanism control (on by default here: the
exact gradient costs O(n²d), like a batch of n points). The slice of report eq. 47
(fig. 16) is study ``three-spin``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mflab.runs.config import param
from mflab.studies.optimizers_networks import OptimizersNetworksStudy
from mflab.studies.optnets.config import OptimizersNetworksConfig
from mflab.studies.optnets.methods import METHOD_IDS
from mflab.studies.optnets.problems import PROBLEM_IDS

S3_PROBLEMS = ("S3-d3", "S3-d4", "S3-d5")
#: The report's fig. 15 methods and MaSS at Liu & Belkin's parameters.
C7_METHODS = ("B1", "B2", "B3", "B4", "B4lb", "B10")


@dataclass(frozen=True)
class ThreeSpinOptimizersConfig(OptimizersNetworksConfig):
    """C5's config with C7's defaults (paper scale: SPEC C7, report §3.2.5)."""

    problems: tuple[str, ...] = param(S3_PROBLEMS, choices=PROBLEM_IDS,
                                      doc="problems (C7: the 3-spin networks in d = 3, 4, 5)")
    methods: tuple[str, ...] = param(C7_METHODS, choices=METHOD_IDS, doc="SPEC Part B ids")
    batch_sizes: tuple[int, ...] = param((100,), ge=1, doc="mini-batch sizes m (C7: 100 "
                                         "fresh uniform points)")
    budget_s3: tuple[int, ...] = param((300_000,), ge=1, doc="samples per ensemble, one per "
                                       "batch size (C7: 3000 steps of batch 100)")
    exact_controls: bool = param(True, doc="also run every tuned method with the exact "
                                 "gradient (the mechanism control)")
    pairs: tuple[str, ...] = param(("B4:B2", "B4:B3", "B4lb:B2"),
                                   doc="further paired tests 'A:B' (the report: MaSS best "
                                   "in d = 3, 4)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"problems": ("S3-d3",), "spin_n": 64, "budget_s3": (12_000,),
                  "methods": ("B1", "B2", "B4lb", "B10"), "batch_sizes": (100,),
                  "nesterov_frictions": (0.1,), "mass_compensations": (0.5,),
                  "mass_ratios": (0.1,), "temperatures": (1e-3,), "lambdas": (1.0,),
                  "hj_couplings": (20.0,), "hj_inner_steps": 4, "hj_burn_in": 2,
                  "replicas": 2, "tuning_seeds": 1, "seeds": 3, "max_extensions": 1,
                  "record_ratio": 1.2, "first_record": 0.05, "mstar_samples": 512,
                  "lb_modes": 8, "lb_samples": 512, "exact_seeds": 1},
    }


class ThreeSpinOptimizersStudy(OptimizersNetworksStudy):
    name = "three-spin-optimizers"
    description = ("C7 fig. 15: Part B optimisers on the 3-spin kernel networks (d = 3, 4, "
                   "5) through C5's harness: equal budget, tuned alike, paired seeds, "
                   "exact-gradient controls.")
    Config = ThreeSpinOptimizersConfig
    captions = {
        **OptimizersNetworksStudy.captions,
        "risk_*": "L/(½E f²), exact at every record (1 = the loss of f_n ≡ 0), against "
                  "samples drawn per ensemble (top), steps (middle) and wall time (bottom), "
                  "one column per batch size m: line = median over the comparison seeds, "
                  "band = 25–75 % over seeds (an ensemble is one unit); one colour per "
                  "method; dashed: batch-R·m SGD, the control of B10; dotted: the "
                  "exact-gradient run of a method (its samples are its oracle calls); grey "
                  "dotted horizontal line: the target.",
        "tuning_*": "Tuning, one panel per batch size: at each ε (the mean-field time step "
                    "dt, η = n·dt; ε_eff for B2, B4), the best median validation score "
                    "over the method's other grid points (median over the tuning seeds); "
                    "ringed: the chosen point; gaps: every run at that ε diverged; dashed: "
                    "the controls.",
    }


STUDY = ThreeSpinOptimizersStudy()
