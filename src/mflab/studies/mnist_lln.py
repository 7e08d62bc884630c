"""Study C4: the law of large numbers for the hidden units on real MNIST (SPEC A4).

ŷ(x) = (1/N) Σ_i c_i sigmoid(⟨w_i, x⟩) is trained by mean-field-scaled SGD on
"digit vs rest" for each width N in ``Ns`` and each of ``n_seeds`` seeds
(:func:`mflab.mnist.train_mnist`: B1 on the network landscape, the seeds as the agents of
one run). Sirignano & Spiliopoulos (SIAM J. Appl. Math.
2020, arXiv:1805.01053) prove that the empirical law of the units (c_i, w_i)
converges, as N → ∞, to a deterministic N-independent law at every time t = ε k; here
that shows as the histograms of c_i and |w_i| at equal epochs settling onto one density.

The number that measures it: the Wasserstein-1 distance between the empirical law of
the c_i (and of the |w_i|) at width N and the one at the largest width, per seed and
epoch (reference: seed 0 of the largest N). Its floor is the largest-N seed-to-seed
distance, also reported. Theory predicts W1 ~ N^(−1/2) (fluctuations of an empirical
measure in 1-D) until that floor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import jax
import numpy as np

from mflab.errors import RunError
from mflab.runs.config import ConfigError, StudyConfig, param
from mflab.runs.context import RunContext
from mflab.runs.io import read_arrays, read_config, read_table
from mflab.studies.base import Headline, Study

QUANTITIES = ("c", "w_norm")
LABELS = {"c": "output weight $c_i$", "w_norm": r"$|w_i|$"}


@dataclass(frozen=True)
class MnistLLNConfig(StudyConfig):
    """Config of study C4 (defaults: paper scale, SPEC A4)."""

    Ns: tuple[int, ...] = param((10, 100, 1000, 10_000), ge=1, doc="widths N (SPEC A4)")
    n_seeds: int = param(3, ge=1, doc="independent seeds per width")
    epochs: int = param(5, ge=1, doc="passes over the training set")
    record_epochs: tuple[int, ...] = param((0, 1, 2, 5), ge=0, doc="epochs whose θ is saved")
    batch_size: int = param(100, ge=1, doc="mini-batch size m")
    step_size: float = param(0.1, gt=0, doc="ε of s_k = ε ξ(kε) (mflab.mnist default)")
    digit: int = param(0, ge=0, le=9, doc="the 'one' of one-vs-rest (SPEC A4: 0)")
    kappa: float = param(1.0, gt=0, doc="init w ~ N(0, κ²/784 I)")
    standardize: bool = param(False, doc="map pixels to (x − 0.1307)/0.3081 instead of [0, 1]")
    n_train: int | None = param(None, ge=100, le=60_000,
                                doc="use the first n_train training images (of 60 000)")
    data_dir: str | None = param(None, doc="folder with the 4 MNIST .gz files (else search)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {"Ns": (10, 100, 1000), "n_seeds": 2, "epochs": 2, "record_epochs": (0, 1, 2),
                  "n_train": 12_000},
    }

    def check(self) -> None:
        if len(set(self.Ns)) != len(self.Ns) or len(self.Ns) < 2:
            raise ConfigError(f"Ns must hold at least two distinct widths; got {self.Ns}.")
        if list(self.record_epochs) != sorted(set(self.record_epochs)):
            raise ConfigError(f"record_epochs must be strictly increasing; "
                              f"got {self.record_epochs}.")
        if any(e > self.epochs for e in self.record_epochs):
            raise ConfigError(f"record_epochs must be <= epochs ({self.epochs}); "
                              f"got {self.record_epochs}.")

    def memory_bytes(self) -> int:
        """float32 throughout: the 70 000 images of 784 pixels (bytes, scaled in NumPy and
        on the device), the widest network's (N, 785) parameters ×8 (gradients,
        temporaries), its activations on a batch and on the 10 000 test images (×3)."""
        n = max(self.Ns)
        return 70_000 * 784 * (1 + 4 + 4) + 4 * n * (8 * 785 + 4 * self.batch_size + 3 * 10_000)


def checkout_data_dir() -> Path | None:
    """``shared/data/mnist`` beside a source checkout (the project's checked files), if any."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "shared" / "data" / "mnist"
        if cand.is_dir():
            return cand
    return None


def resolve_data_dir(config: MnistLLNConfig) -> str | None:
    """Where to read MNIST: the config, ``$MFLAB_MNIST_DIR``, a checkout's shared files,
    else ``None`` (the loader's cache, then a verified download)."""
    if config.data_dir:
        return config.data_dir
    if os.environ.get("MFLAB_MNIST_DIR"):
        return os.environ["MFLAB_MNIST_DIR"]
    found = checkout_data_dir()
    return str(found) if found else None


def w1_table(arrays: dict[tuple[int, int], dict[str, np.ndarray]], Ns, n_seeds, rec_epochs):
    """Long table of W1(law at N, seed s ; law at N_max, seed 0) per quantity and epoch.

    For N = N_max the rows are seeds s ≥ 1 against seed 0: the seed-to-seed floor.
    """
    from mflab.mnist import w1

    n_max = max(Ns)
    rows = []
    for q in QUANTITIES:
        for r, epoch in enumerate(rec_epochs):
            ref = arrays[(n_max, 0)][q][r]
            for N in Ns:
                for s in range(n_seeds):
                    if N == n_max and s == 0:
                        continue
                    rows.append({"quantity": q, "epoch": int(epoch), "N": int(N), "seed": s,
                                 "w1": float(w1(arrays[(N, s)][q][r], ref))})
    return rows


class MnistLLNStudy(Study):
    name = "mnist-lln"
    description = ("C4: mean-field sigmoid networks on real MNIST for growing width N; "
                   "the units' law settles (W1 to the largest N), test accuracy.")
    Config = MnistLLNConfig

    def preflight(self, config: MnistLLNConfig) -> None:
        """Find and MD5-check the four MNIST files (a verified download if they are
        nowhere) before the run directory exists: a bad file is refused in one line."""
        from mflab.mnist.files import MnistFileError, mnist_paths

        try:
            mnist_paths(resolve_data_dir(config), progress=False)
        except MnistFileError as e:
            raise RunError(" ".join(str(e).split())) from None

    def run(self, config: MnistLLNConfig, ctx: RunContext) -> None:
        from mflab.mnist import load_mnist, mnist_sets, train_mnist

        data_dir = resolve_data_dir(config)
        ctx.note("mnist_data_dir", data_dir or "cache/download")
        data = load_mnist(data_dir, progress=ctx.progress)
        train, test = mnist_sets(data, config.digit, standardize=config.standardize,
                                 n_train=config.n_train)
        widths = sorted(config.Ns)
        jobs = [(N, s) for N in widths for s in range(config.n_seeds)]
        ck = ctx.load_checkpoint()
        done = ck.progress if ck else 0
        rec = np.asarray(config.record_epochs)
        for i, N in enumerate(widths):
            if i < done:
                continue
            # the seeds are the agents of one run (B1 on the network landscape, SPEC A5)
            tr, times = train_mnist(jax.random.fold_in(ctx.key, N), N, train, test,
                                    epochs=config.epochs, batch_size=config.batch_size,
                                    step_size=config.step_size, kappa=config.kappa,
                                    n_seeds=config.n_seeds, progress=ctx.progress)
            r = tr.records
            epochs = np.arange(config.epochs + 1)
            for s in range(config.n_seeds):
                ctx.save_arrays(f"units_N{N}_s{s}", record_epochs=rec, c=r["c"][rec, s],
                                w_norm=r["w_norm"][rec, s], epochs=epochs, time=times,
                                test_risk=r["test_risk"][:, s],
                                test_accuracy=r["test_accuracy"][:, s])
            ctx.log_metrics(
                [{"optimizer": "sgd", "step": int(e), "metric": m, "value": float(v), "N": N,
                  "seed": s}
                 for m in ("test_accuracy", "test_risk") for s in range(config.n_seeds)
                 for e, v in zip(epochs, r[m][:, s], strict=True)])
            ctx.record_timing(f"N={N} ({config.n_seeds} seeds)", tr.wall_time)
            ctx.save_checkpoint(progress=i + 1)
        arrays = {(N, s): read_arrays(ctx.dir, f"units_N{N}_s{s}") for N, s in jobs}
        import pandas as pd

        table = pd.DataFrame(w1_table(arrays, config.Ns, config.n_seeds, config.record_epochs))
        ctx.save_table("w1", table)
        acc = [{"N": N, "seed": s, "test_accuracy": float(a["test_accuracy"][-1]),
                "test_risk": float(a["test_risk"][-1])} for (N, s), a in arrays.items()]
        ctx.save_table("accuracy", pd.DataFrame(acc))

    # ---------------------------------------------------------------- from files only
    def plot(self, run_dir: Path) -> list[Path]:
        from mflab.plotting.mnist import plot_histograms, plot_w1

        cfg = read_config(run_dir)
        arrays = {(N, s): read_arrays(run_dir, f"units_N{N}_s{s}")
                  for N in cfg["Ns"] for s in range(cfg["n_seeds"])}
        paths = [plot_histograms(run_dir, arrays, cfg, q) for q in QUANTITIES]
        paths.append(plot_w1(run_dir, read_table(run_dir, "w1"), read_table(run_dir, "accuracy")))
        return paths

    captions = {
        "hist_c": "Histograms (density) of the output weights c_i, pooled over seeds, one "
                  "panel per recorded epoch and one colour per width N: the law of the "
                  "units settles as N grows.",
        "hist_w_norm": "Histograms (density) of the unit norms |w_i|, pooled over seeds, "
                       "one panel per recorded epoch and one colour per width N.",
        "w1": "Left, middle: the Wasserstein-1 distance between the law of c_i (|w_i|) at "
              "width N and at the largest width (seed 0), against N: mean ± sd over seeds "
              "(error bars), one colour per epoch; dotted horizontal lines: the seed-to-"
              "seed floor (two seeds at the largest width), same colour; dashed: the "
              "N^−1/2 law. Right: test accuracy against N, mean ± sd over seeds.",
    }

    def headline(self, run_dir: Path) -> list[Headline]:
        """The fitted decay of W1 with N (last epoch) and the test accuracy at the largest
        width; the report's claim (§2.2): the units' law settles as N grows."""
        cfg = read_config(run_dir)
        w1, acc = read_table(run_dir, "w1"), read_table(run_dir, "accuracy")
        last, n_max = max(cfg["record_epochs"]), max(cfg["Ns"])
        rows = []
        for q in QUANTITIES:
            g = w1[(w1.quantity == q) & (w1.epoch == last) & (w1.N < n_max)].groupby("N").w1
            g = g.mean()
            if len(g) < 2:
                continue
            falls = bool(np.all(np.diff(g.values) < 0))
            slope, se, rng = loglog_fit(g.index.values, g.values)
            spread = (f"± {se:.2f} (standard error, {rng})" if se is not None
                      else f"two widths, no interval ({rng})")
            rows.append(Headline(
                f"log-log slope of W1 ({LABELS[q].replace('$', '')}) vs N, epoch {last}",
                f"{slope:.2f}", spread,
                ("borne out: W1 falls as N grows" if falls else
                 "not settled: W1 does not fall with every width") +
                " (report §2.2: the units' law settles)"))
        a = acc[acc.N == n_max].test_accuracy.to_numpy()
        rows.append(Headline(f"test accuracy, N = {n_max}", f"{a.mean():.4f}",
                             f"sd over {len(a)} seeds {a.std(ddof=0):.4f}" if len(a) > 1
                             else "one seed"))
        return rows

    def summarize(self, run_dir: Path) -> str:
        cfg = read_config(run_dir)
        w1 = read_table(run_dir, "w1")
        acc = read_table(run_dir, "accuracy")
        last = max(cfg["record_epochs"])
        n_max = max(cfg["Ns"])
        lines = [
            f"# C4 — MNIST law of large numbers (digit {cfg['digit']} vs rest)",
            "",
            f"Widths N = {', '.join(map(str, cfg['Ns']))}; {cfg['n_seeds']} seeds each; "
            f"{cfg['epochs']} epochs, m = {cfg['batch_size']}, ε = {cfg['step_size']}"
            + (f", first {cfg['n_train']} training images" if cfg["n_train"] else "") + ".",
            "",
            f"W1 to the largest width (N = {n_max}, seed 0) at epoch {last}, mean ± sd over "
            f"seeds (the N = {n_max} row is the seed-to-seed floor):",
            "",
            "| N | W1 of c_i | W1 of abs(w_i) | test accuracy |",
            "|---|---|---|---|",
        ]
        for N in sorted(cfg["Ns"]):
            cells = []
            for q in QUANTITIES:
                v = w1[(w1.quantity == q) & (w1.epoch == last) & (w1.N == N)].w1
                cells.append(spread(v.to_numpy()))
            a = acc[acc.N == N].test_accuracy
            cells.append(f"{a.mean():.4f}")
            lines.append(f"| {N} | " + " | ".join(cells) + " |")
        slopes = []
        for q in QUANTITIES:
            sub = w1[(w1.quantity == q) & (w1.epoch == last) & (w1.N < n_max)]
            g = sub.groupby("N").w1.mean()
            slopes.append(f"{LABELS[q].replace('$', '')}: {loglog_slope(g.index.values, g.values)}")
        lines += ["", "Fitted log-log slope of W1 vs N (N < largest; theory for the "
                  "fluctuations of an empirical law: −0.5): " + "; ".join(slopes) + ".", "",
                  "Figures: `figures/hist_c.png`, `figures/hist_w_norm.png` (histograms per "
                  "epoch, one colour per N), `figures/w1.png` (W1 vs N per epoch, and "
                  "test accuracy vs N)."]
        return "\n".join(lines) + "\n"


def spread(v: np.ndarray) -> str:
    """``mean ± sd`` over seeds; one seed has no spread, and says so (not ``± 0``)."""
    if len(v) == 0:
        return "—"
    if len(v) == 1:
        return f"{v[0]:.4f} (one seed, no spread)"
    return f"{v.mean():.4f} ± {v.std(ddof=0):.4f}"


def loglog_fit(N: np.ndarray, y: np.ndarray) -> tuple[float, float | None, str]:
    """(slope, its standard error or None, the range "N = a…b") of the least-squares fit of
    log y on log N over ≥ 2 widths; two widths give the slope between them, no interval."""
    x, ly = np.log(np.asarray(N, float)), np.log(np.asarray(y, float))
    rng = f"N = {int(min(N))}…{int(max(N))}"
    if len(N) == 2:
        return float((ly[1] - ly[0]) / (x[1] - x[0])), None, rng
    (slope, _), cov = np.polyfit(x, ly, 1, cov=True)
    return float(slope), float(np.sqrt(cov[0, 0])), rng


def loglog_slope(N: np.ndarray, y: np.ndarray) -> str:
    """:func:`loglog_fit` as text; fewer than 2 widths: no slope."""
    if len(N) < 2:
        return "no slope (fewer than two widths below the largest)"
    slope, se, rng = loglog_fit(N, y)
    if se is None:
        return f"{slope:.2f} ({rng}, two widths: no interval)"
    return f"{slope:.2f} ± {se:.2f} (standard error, {rng})"


STUDY = MnistLLNStudy()
