"""The SPEC A4 problem on the one engine: one-vs-rest MNIST as a network landscape.

The network is the mean-field module's: units of type (c), σ*(x; θ) = c·sigmoid(⟨w, x⟩),
θ_i = (c_i, w_i) as ``(N, 785)`` rows (:mod:`mflab.meanfield.network`), its initial law
:func:`~mflab.meanfield.network.init_particles` with ``c_init="uniform"`` (c ~ U[−c0, c0],
Sirignano & Spiliopoulos' choice) and w ~ N(0, κ²/784 I). Training is B1 on
:func:`~mflab.meanfield.network_landscape` over the training set with η_k = N ε ξ(kε)
(mean-field SGD, SPEC Part A): each epoch walks a fresh permutation of the training set in
⌊n/m⌋ mini-batches of m (the last n mod m of each permutation are left out that epoch), so
epoch e ends at mean-field time t = ε e ⌊n/m⌋ for every N and histograms at equal epochs are
comparable across N. :func:`train_mnist` runs it with :func:`mflab.run`, recording the test
risk and accuracy, c_i and |w_i| once per epoch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mflab.meanfield import UNIT_SIGMOID, FiniteData, init_particles, network_landscape
from mflab.meanfield.landscape import data_risk_accuracy
from mflab.mnist.data import MnistData, one_vs_rest
from mflab.validation import check_int, check_positive

#: Defaults. ε = 0.1 with m = 100: a scan over ε ∈ {0.01, 0.03, 0.1, 0.3, 1} at N = 10, 100,
#: 1000 (2 epochs, pixels in [0, 1]) trained stably at every ε (test accuracy 0.99 after one
#: epoch from ε = 0.1 up); 0.1 moves the c_i well away from their initial law within one
#: epoch (t = 60) while keeping the SGD noise per step small (docs/benchmarks-mnist.md).
DEFAULT_STEP_SIZE = 0.1
DEFAULT_BATCH_SIZE = 100


def mnist_sets(data: MnistData, digit: int = 0, *, standardize: bool = False,
               n_train: int | None = None, dtype=np.float32) -> tuple[FiniteData, FiniteData]:
    """(train, test) one-vs-rest sets (y = ±1; pixels in [0, 1] or standardised) as
    :class:`~mflab.meanfield.FiniteData`; ``n_train`` keeps the first training images."""
    task = one_vs_rest(data, digit, standardize=standardize, dtype=np.dtype(dtype).type)
    x, y = task.x_train, task.y_train
    if n_train is not None:
        n_train = check_int("n_train", n_train, maximum=x.shape[0])
        x, y = x[:n_train], y[:n_train]
    return (FiniteData(jnp.asarray(x), jnp.asarray(y), "mnist-train"),
            FiniteData(jnp.asarray(task.x_test), jnp.asarray(task.y_test), "mnist-test"))


def mnist_observables(test: FiniteData) -> dict:
    """Test risk, test accuracy, and the units' c_i and |w_i| (per agent)."""
    units = UNIT_SIGMOID
    return {
        ("test_risk", "test_accuracy"): lambda th: data_risk_accuracy(units, th, test.x,
                                                                      test.y),
        "c": lambda th: th[:, 0],
        "w_norm": lambda th: jnp.linalg.norm(th[:, 1:], axis=1),
    }


def train_mnist(key: jax.Array, N: int, train: FiniteData, test: FiniteData, *,
                epochs: int = 5, batch_size: int = DEFAULT_BATCH_SIZE,
                step_size: float = DEFAULT_STEP_SIZE, kappa: float = 1.0, c_scale: float = 1.0,
                n_seeds: int = 1, progress: bool = False):
    """SPEC A4: train n_seeds networks of N sigmoid units by mean-field SGD (B1 on the network
    landscape with η_k = N ε), recording once per epoch.

    Args:
      key: PRNG key, split into the initialisation key (seed s: its s-th fold), the run's
        key and the data-order seed (the landscape's epoch permutations).
      N: hidden units; train, test: from :func:`mnist_sets`.
      epochs: passes over the training set; batch_size: m; step_size: ε.
      kappa, c_scale: initial law (w ~ N(0, κ²/784 I), c ~ U[−c_scale, c_scale]).
      n_seeds: independent networks (the agents of one run).
      progress: tqdm bar.

    Returns the :class:`mflab.Trace` (records ``test_risk``, ``test_accuracy``, ``c``,
    ``w_norm`` at epochs 0..epochs) and the mean-field times of the records.
    """
    import mflab
    from mflab.optimizers import sgd
    from mflab.schedules import meanfield_learning_rate

    N = check_int("N", N)
    epochs = check_int("epochs", epochs, minimum=0)
    m = check_int("batch_size", batch_size, maximum=train.n)
    eps = check_positive("step_size", step_size)
    k_init, k_run, k_data = jax.random.split(key, 3)
    seed_data = int(jax.random.randint(k_data, (), 0, 2**31 - 1))
    land = network_landscape(UNIT_SIGMOID, train, N, batch_size=m, seed=seed_data)
    theta0 = jnp.stack([init_particles(jax.random.fold_in(k_init, s), UNIT_SIGMOID, N, train.d,
                                       kappa, c0=c_scale, c_init="uniform",
                                       dtype=train.x.dtype) for s in range(n_seeds)])
    spe = train.n // m
    tr = mflab.run(sgd(meanfield_learning_rate(N, eps)), land, theta0, epochs * spe,
                   k_run, record_every=max(spe, 1) if epochs else 1,
                   observables=mnist_observables(test), progress=progress)
    return tr, tr.steps * eps
