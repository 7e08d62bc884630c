"""The config of study C5 (``optimizers-networks``): problems, methods, batch sizes, budgets,
grids, targets. Defaults are the paper preset; every grid is stated here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.studies.optnets.methods import METHOD_IDS, METHODS, grads_per_step
from mflab.studies.optnets.problems import PROBLEM_IDS, PROBLEMS

_DD = "docs/results/meanfield.md"
#: The problems of C5 proper (the default); C7's S3 networks are chosen explicitly.
C5_PROBLEMS = tuple(p for p in PROBLEM_IDS if PROBLEMS[p].family != "s3")


@dataclass(frozen=True)
class OptimizersNetworksConfig(StudyConfig):
    """Config of C5 (SPEC C5, revised protocol). Budgets are samples drawn per ensemble,
    one per batch size, each a whole number of steps of every method (the paper's are
    multiples of R·m·L = 30m, so every ensemble draws exactly its budget); every grid is a
    first grid that the harness extends past an edge."""

    problems: tuple[str, ...] = param(C5_PROBLEMS, choices=PROBLEM_IDS,
                                      doc="problems (A2/A3: both starts of C2/C3; S3-dD: "
                                      "C7's 3-spin networks, at batch 100 in C7)")
    methods: tuple[str, ...] = param(METHOD_IDS, choices=METHOD_IDS, doc="SPEC Part B ids")
    batch_sizes: tuple[int, ...] = param((1, 100), ge=1, doc="mini-batch sizes m (SPEC C5)")
    N: int = param(800, ge=2, doc="units of the A1–A3 networks (SPEC C5)")
    N_mnist: int = param(1000, ge=2, doc="units of the A4 network (SPEC C5)")
    d_a1: int = param(40, ge=2, doc="input dimension of A1")
    d_a2: int = param(320, ge=2, doc="input dimension of A2")
    d_a3: int = param(320, ge=2, doc="input dimension of A3")
    s0: int = param(60, ge=1, doc="informative coordinates of A3")
    dtype: str = param("float32", choices=("float32", "float64"),
                       doc="precision of the dynamics (the exact risk is float64 always)")
    budget_a1: tuple[int, ...] = param((21_000, 201_000), ge=1,
                                       doc="A1 samples per ensemble (whatever its replicas), "
                                       "one per batch size")
    budget_a2: tuple[int, ...] = param((2_010, 51_000), ge=1, doc="A2 budget, per batch size")
    budget_a3: tuple[int, ...] = param((2_010, 51_000), ge=1, doc="A3 budget, per batch size")
    budget_a4: tuple[int, ...] = param((1_020, 30_000), ge=1, doc="A4 budget, per batch size")
    budget_s3: tuple[int, ...] = param((3_000, 300_000), ge=1, doc="S3 (C7) budget, per batch "
                                       "size (a sample is one uniform point; C7: 3000 "
                                       "steps of batch 100)")
    eps_a1: tuple[float, ...] = param((1e-4, 3e-4, 1e-3, 3e-3), gt=0,
                                      doc="A1 first grid of ε (ε_eff for B2/B4) at m = 1")
    eps_a2: tuple[float, ...] = param((1e-4, 3e-4, 1e-3, 3e-3), gt=0, doc="A2 ε grid, m = 1")
    eps_a3: tuple[float, ...] = param((1e-4, 3e-4, 1e-3, 3e-3, 1e-2), gt=0,
                                      doc="A3 ε grid, m = 1")
    eps_a4: tuple[float, ...] = param((1e-3, 3e-3, 1e-2, 3e-2, 1e-1), gt=0,
                                      doc="A4 ε grid, m = 1")
    eps_s3: tuple[float, ...] = param((1e-4, 3e-4, 1e-3, 3e-3), gt=0,
                                      doc="S3 grid of the mean-field time step dt (η = n·dt) "
                                      "at m = 1 (at m = 100: C7's 0.01 … 0.3)")
    eps_batch_power: float = param(1.0, ge=0, doc="grid at batch m = grid × m^p (linear "
                                   "scaling measured on A1: m = 100 at 100ε follows m = 1 at ε)")
    restart_grid_factor: float = param(0.1, gt=0, doc="B3's first grid: the ε grid × this "
                                       "(its momentum grows between restarts)")
    nesterov_frictions: tuple[float, ...] = param((0.1, 0.3), gt=0, le=1,
                                                  doc="B2 grid of the friction φ = 1 − γ")
    mass_gamma: float = param(0.9, ge=0, lt=1, doc="B4 momentum γ")
    mass_compensations: tuple[float, ...] = param((0.1, 0.5), gt=0, lt=1,
                                                  doc="B4 grid of c: η2 = c·γ·η1")
    mass_ratios: tuple[float, ...] = param((0.1, 0.3), gt=0, lt=1,
                                           doc="B4r (restart-MaSS, the report's) grid of "
                                           "r = η2/η1")
    temperatures: tuple[float, ...] = param((1e-4, 1e-3), gt=0,
                                            doc="B5/B6/B8/B10 grid of the mean-field "
                                            "temperature τ = N/β")
    lambdas: tuple[float, ...] = param((0.3, 3.0), gt=0,
                                       doc="B6/B10 grid of λ' = λN (pull per unit time)")
    hj_inner_steps: int = param(10, ge=1, doc="B8/B10 inner Langevin steps L per outer step")
    hj_burn_in: int = param(5, ge=0, doc="B8/B10 inner steps discarded before averaging")
    hj_couplings: tuple[float, ...] = param((5.0, 20.0), gt=0,
                                            doc="B8/B10 grid of c: coupling γ' = c·ε")
    hj_relax: float = param(0.5, gt=0, le=1, doc="B8/B10 outer relaxation ρ = Δ/γ")
    hj_restart: bool = param(True, doc="B8 outer descent with B3 restart momentum")
    replicas: int = param(3, ge=2, doc="replicas R of one B6/B10 ensemble (SPEC A5; Parle's 3)")
    tuning_seeds: int = param(3, ge=1, doc="seeds each grid point is scored on (median; "
                              "the protocol asks >= 3)")
    seeds: int = param(10, ge=2, doc="comparison seeds (the protocol asks >= 10)")
    max_extensions: int = param(2, ge=0, doc="times a grid may grow by a decade past an edge "
                                "before its choice is flagged")
    record_ratio: float = param(1.15, gt=1, le=1.2, doc="records at most this ratio apart")
    first_record: float = param(0.01, gt=0, lt=1, doc="first record at this fraction of the run")
    exact_controls: bool = param(False, doc="also run every tuned method with exact "
                                 "gradients (A1–A3, S3); off by default: one exact gradient "
                                 "costs 1.1 ms at N = 40, 62 ms at N = 800 at a spread "
                                 "start (float32, d = 320; benchmarks/bench_exact_gradient"
                                 ".py), and more where units align (the A2-bad, m = 100 "
                                 "exact runs of 2026-12-07, withdrawn for wrong float32 "
                                 "gradients, took 345 s to over 30 min for 510 steps)")
    exact_seeds: int = param(3, ge=1, doc="the exact-gradient controls run on the first "
                             "this many comparison seeds (an exact run is random only "
                             "through its start and a method's own noise)")
    estimate_samples: int = param(4096, ge=0, doc="A1–A3: the fixed Monte Carlo sample "
                                  "that screens records (float32); the exact risk is scored "
                                  "only at the last record and where the target crossing "
                                  "is in doubt (0: at every record)")
    pairs: tuple[str, ...] = param(("B4:B2", "B4r:B3", "B4lb:B2"),
                                   doc="further paired tests 'A:B', method A against B at "
                                   "the same m (claim (b): MaSS, tuned and at Liu & "
                                   "Belkin's parameters, against Nesterov; restart-MaSS "
                                   "against restart-Nesterov); a pair whose "
                                   "methods are not both run is skipped")
    mstar_samples: int = param(16_384, ge=0, doc="A1–A3, S3: samples of the estimate of Liu "
                               "& Belkin's critical batch m* at the start (0: none; ≤ 70 s "
                               "a problem, benchmarks/bench_critical_batch.py)")
    lb_modes: int = param(64, ge=1, doc="B4lb: top eigenpairs K of the tangent curvature "
                          "at the start on which Liu & Belkin's constants are estimated")
    lb_samples: int = param(4096, ge=3, doc="B4lb: samples of that estimate (> 2 × lb_modes; "
                            "A4: training images)")
    target_factor: float = param(10.0, gt=0, doc="A1–A3 target: this × the DD stationary risk")
    dd_risk_a1: float = param(0.0137, gt=0, doc=f"A1 DD stationary risk ({_DD}, C1)")
    dd_error_a1: float = param(0.0041, ge=0, doc="its Richardson error estimate")
    dd_risk_a2: float = param(0.0143, gt=0, doc=f"A2 good stationary risk ({_DD}, C2; "
                              "also the target of the bad start: reaching it = escaping)")
    dd_error_a2: float = param(1.1e-4, ge=0, doc="its Richardson error estimate")
    dd_risk_a3: float = param(0.0437, gt=0, doc=f"A3 trained DD risk ({_DD}, C3; "
                              "also the target of the stalling start)")
    dd_error_a3: float = param(0.037, ge=0, doc="its Richardson error estimate")
    target_s3: float = param(1e-3, gt=0, doc="S3 target: relative loss L/(½E f²) (exact)")
    spin_n: int = param(256, ge=1, doc="S3: kernel units n (SPEC C7: 256)")
    spin_alpha: float | None = param(None, gt=0, doc="S3: kernel α (none: 5/d, SPEC C7)")
    spin_c0_factor: float = param(3.0, ge=0, doc="S3: c_i ~ U[−c0, c0], c0 = this · "
                                  "√(3E f²)/E_μφ (docs/three-spin-model.md)")
    spin_target_seed: int = param(0, ge=0, doc="S3: key of the couplings a_pqr (one per d)")
    target_accuracy: float = param(0.98, gt=0, le=1, doc="A4 target test accuracy")
    mnist_kappa: float = param(1.0, gt=0, doc="A4 init w ~ N(0, κ²/784 I)")
    mnist_c0: float = param(1.0, gt=0, doc="A4 init c ~ U[−c0, c0]")
    digit: int = param(0, ge=0, le=9, doc="A4 digit vs rest (SPEC: 0)")
    n_train: int | None = param(None, ge=100, le=60_000,
                                doc="A4: first n_train training images (of 60 000)")
    n_val: int = param(5_000, ge=10, doc="A4: the last n_val of those held out for tuning "
                       "(the validation split; the test set is never tuned on)")
    data_dir: str | None = param(None, doc="folder with the 4 MNIST .gz files (else search)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"problems": ("A2-bad", "A4"), "batch_sizes": (1, 10), "N": 40,
                  "N_mnist": 40, "d_a1": 10, "d_a2": 20, "budget_a1": (640, 6400),
                  "budget_a2": (640, 6400), "budget_a4": (320, 3200), "n_train": 2000,
                  "eps_a1": (3e-3, 1e-2), "eps_a2": (1e-3, 3e-3), "eps_a4": (3e-3, 1e-2),
                  "nesterov_frictions": (0.1,), "mass_compensations": (0.5,), "mass_ratios": (0.1,),
                  "temperatures": (1e-3,), "lambdas": (1.0,), "hj_couplings": (20.0,),
                  "hj_inner_steps": 4, "hj_burn_in": 2, "replicas": 2, "tuning_seeds": 1,
                  "seeds": 3, "max_extensions": 1, "record_ratio": 1.2, "first_record": 0.05,
                  "n_val": 500, "mstar_samples": 512,
                  "lb_modes": 8, "lb_samples": 512},
    }

    @property
    def smoke(self) -> bool:
        """Fewer seeds than the protocol's minimum (3 tuning, 10 comparison): a smoke run
        whose tables support no claim (the summary says so)."""
        return self.tuning_seeds < 3 or self.seeds < 10

    @property
    def n_records(self) -> int:
        """About how many records one comparison run keeps (geometric from
        ``first_record`` with ``record_ratio``, plus the start and the end)."""
        import math

        return math.ceil(math.log(1 / self.first_record) / math.log(self.record_ratio)) + 2

    def budget(self, problem: str, m: int) -> int:
        """Samples per ensemble of ``problem`` at batch ``m``."""
        fam = PROBLEMS[problem].family
        return getattr(self, f"budget_{fam}")[self.batch_sizes.index(m)]

    def check(self) -> None:
        for name in ("problems", "methods", "batch_sizes"):
            v = getattr(self, name)
            if len(set(v)) != len(v):
                raise ConfigError(f"{name} must not repeat; got {','.join(map(str, v))}.")
        for pair in self.pairs:
            ab = pair.split(":")
            if len(ab) != 2 or ab[0] == ab[1] or not all(x in METHOD_IDS for x in ab):
                raise ConfigError(f"pairs must be 'A:B' with A != B among "
                                  f"{','.join(METHOD_IDS)}; got {pair!r}.")
        if "B4lb" in self.methods and self.lb_samples <= 2 * self.lb_modes:
            raise ConfigError(f"lb_samples must exceed 2 × lb_modes ({2 * self.lb_modes}); "
                              f"got {self.lb_samples}.")
        if self.hj_burn_in >= self.hj_inner_steps:
            raise ConfigError(f"hj_burn_in must be < hj_inner_steps ({self.hj_inner_steps}); "
                              f"got {self.hj_burn_in}.")
        if self.s0 >= self.d_a3:
            raise ConfigError(f"s0 must be < d_a3 ({self.d_a3}); got {self.s0}.")
        fams = sorted({PROBLEMS[p].family for p in self.problems})
        for fam in fams:
            budgets = getattr(self, f"budget_{fam}")
            if len(budgets) != len(self.batch_sizes):
                raise ConfigError(f"budget_{fam} needs one budget per batch size "
                                  f"({len(self.batch_sizes)}: {self.batch_sizes}); got {budgets}.")
            for m, b in zip(self.batch_sizes, budgets, strict=True):
                for meth in self.methods:
                    R = self.replicas if METHODS[meth].coupled else 1
                    step = R * m * grads_per_step(meth, self)
                    if b < step:
                        raise ConfigError(
                            f"budget_{fam} = {b} samples at m = {m} is smaller than one step of "
                            f"{meth} {METHODS[meth].label} ({step} samples: replicas × m × calls).")
                    if b % step:
                        raise ConfigError(
                            f"budget_{fam} = {b} at m = {m} is not a whole number of steps of "
                            f"{meth} ({step} samples a step); use a multiple of {step}.")
        if "a4" in fams:
            n = self.n_train or 60_000
            if self.n_val > n // 2:
                raise ConfigError(f"n_val must be <= half the training images ({n // 2}); "
                                  f"got {self.n_val}.")
            biggest = max(self.batch_sizes) * max(
                [self.replicas if METHODS[mm].coupled else 1 for mm in self.methods])
            if biggest > n - self.n_val:
                raise ConfigError(f"batch sizes (× replicas for a control) must be <= the "
                                  f"training images left after n_val ({n - self.n_val}); got "
                                  f"{biggest}.")

    def memory_bytes(self) -> int:
        """One process: the largest problem's recorded positions (:attr:`n_records` × replicas
        × N × D, float64; float32 for A4) with ~30 network-sized temporaries per replica,
        the exact risk's pair terms (~16 (N, N) float64 arrays per class), and for A4 the
        MNIST images (70 000 × 784: bytes, float32 in NumPy and on the device) and the
        activations of a 1000-image test chunk."""
        R = self.replicas
        est = 0
        for p in self.problems:
            fam = PROBLEMS[p].family
            if fam == "s3":  # the exact loss: ~40 (n, n) float64 temporaries per agent
                n = self.spin_n
                b = 8 * (40 * n ** 2 * R + 10 * max(self.batch_sizes) * n * R
                         + n * 6 * R * (self.n_records + 30))
            elif fam == "a4":
                nd = self.N_mnist * 785
                b = 70_000 * 784 * 9 + 4 * nd * R * (self.n_records + 30)
                b += 4 * self.N_mnist * 1000 * 3 + 4 * max(self.batch_sizes) * 785 * 4
            else:
                d = {"a1": self.d_a1, "a2": self.d_a2, "a3": self.d_a3 + 2}[fam]
                nd = self.N * d
                b = 8 * nd * R * (self.n_records + 30) + 8 * 2 * 16 * self.N ** 2
                b += 8 * max(self.batch_sizes) * (d + self.N) * 3
            est = max(est, b)
        return int(est)
