"""Train the SPEC A4 network on one-vs-rest MNIST by mean-field SGD, epoch by epoch.

One epoch = one pass over a fresh random permutation of the training set, cut into
⌊n/m⌋ mini-batches of size m (the last n mod m samples of the permutation are left
out of that epoch), run as one jitted ``lax.scan``; Python only runs between epochs
(test evaluation, records, divergence check, progress bar). Step k of the run uses
s_k = ε ξ(k ε) (SPEC Part A), so epoch e ends at mean-field time t = ε · e · ⌊n/m⌋,
the same for every N: histograms at equal epochs are comparable across N.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from mflab.driver import DivergenceError
from mflab.mnist.data import MnistData, load_mnist, one_vs_rest
from mflab.mnist.network import MnistParams, evaluate, init_params, sgd_step
from mflab.optimizers.base import check_int, check_positive

#: Defaults. ε = 0.1 with m = 100: a scan over ε ∈ {0.01, 0.03, 0.1, 0.3, 1} at N = 10, 100,
#: 1000 (2 epochs, pixels in [0, 1]) trained stably at every ε (test accuracy 0.99 after one
#: epoch from ε = 0.1 up); 0.1 moves the c_i well away from their initial law within one
#: epoch (t = 60) while keeping the SGD noise per step small (docs/benchmarks-mnist.md).
DEFAULT_STEP_SIZE = 0.1
DEFAULT_BATCH_SIZE = 100


def epoch_batches(key: jax.Array, n: int, batch_size: int) -> jax.Array:
    """Indices of one epoch: a permutation of range(n) cut into ``(n // m, m)`` batches."""
    perm = jax.random.permutation(key, n)
    nb = n // batch_size
    return perm[: nb * batch_size].reshape(nb, batch_size)


@partial(jax.jit, static_argnames=("batch_size", "xi"))
def train_epoch(params, key, x, y, step_size, k0, *, batch_size, xi=None):
    """One epoch of :func:`~mflab.mnist.network.sgd_step` over shuffled mini-batches.

    Args:
      params: :class:`MnistParams`.
      key: PRNG key of this epoch (its permutation, :func:`epoch_batches`).
      x, y: training features ``(n, d)`` and targets ``(n,)``.
      step_size: ε.
      k0: global index of the epoch's first step (for the schedule ξ).
      batch_size: m.
      xi: schedule ξ(t) (jax-traceable, static), or None for ξ ≡ 1.

    Returns:
      new params and the ``(n // m,)`` batch risks before each step.
    """
    idx = epoch_batches(key, x.shape[0], batch_size)
    eps = jnp.asarray(step_size, params.c.dtype)

    def body(p, inp):
        k, ib = inp
        s = eps if xi is None else eps * jnp.asarray(xi(k * eps), p.c.dtype)
        return sgd_step(p, x[ib], y[ib], s)

    ks = k0 + jnp.arange(idx.shape[0])
    return jax.lax.scan(body, params, (ks, idx))


_evaluate = jax.jit(evaluate, static_argnames=("chunk",))


@dataclass
class MnistTrainResult:
    """What :func:`train_mnist` returns (numpy arrays, ready for ``np.savez``).

    Attributes:
      N: hidden units.
      record_epochs: ``(R,)`` epochs at which θ was recorded (0 = initialisation).
      c: ``(R, N)`` output weights c_i at those epochs.
      w_norm: ``(R, N)`` |w_i| at those epochs.
      epochs: ``(E + 1,)`` 0..E, the epochs of the evaluations below.
      time: ``(E + 1,)`` mean-field time t = ε k at the end of each epoch.
      test_risk: ``(E + 1,)`` test-set mean of (y − ŷ)².
      test_accuracy: ``(E + 1,)`` test-set fraction with sign ŷ = y.
      train_risk: ``(E,)`` mean over epoch e's mini-batches of the batch risk before each step.
      params: final θ (numpy ``c`` ``(N,)``, ``w`` ``(N, 784)``).
      wall_time: seconds, compilation and evaluation included.
      config: the arguments of the run (JSON-able).
    """

    N: int
    record_epochs: np.ndarray
    c: np.ndarray
    w_norm: np.ndarray
    epochs: np.ndarray
    time: np.ndarray
    test_risk: np.ndarray
    test_accuracy: np.ndarray
    train_risk: np.ndarray
    params: MnistParams
    wall_time: float
    config: dict = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save (everything but the final ``w``, which is ``(N, 784)``)."""
        return {
            k: np.asarray(getattr(self, k))
            for k in (
                "record_epochs",
                "c",
                "w_norm",
                "epochs",
                "time",
                "test_risk",
                "test_accuracy",
                "train_risk",
            )
        }


def train_mnist(
    key: jax.Array,
    N: int,
    *,
    epochs: int = 5,
    batch_size: int = DEFAULT_BATCH_SIZE,
    step_size: float = DEFAULT_STEP_SIZE,
    digit: int = 0,
    record_epochs: Sequence[int] | None = None,
    kappa: float = 1.0,
    c_init: str = "uniform",
    c_scale: float = 1.0,
    standardize: bool = False,
    xi: Callable | None = None,
    n_train: int | None = None,
    data: MnistData | None = None,
    dtype=jnp.float32,
    progress: bool = True,
) -> MnistTrainResult:
    """SPEC A4: train ŷ(x) = (1/N) Σ c_i sigmoid(⟨w_i, x⟩) on "digit vs rest" by mean-field SGD.

    Update (SPEC Part A; :mod:`mflab.mnist.network`): θ_i ← θ_i + 2 s_k (1/m) Σ_b
    (y_b − ŷ(x_b)) ∇_θ σ*(x_b; θ_i), s_k = ε ξ(k ε), y = ±1, pixels in [0, 1].

    Args:
      key: PRNG key; ``split(key)`` gives the initialisation key and the epochs' keys
        (epoch e shuffles with ``fold_in(k_epochs, e)``).
      N: hidden units.
      epochs: passes over the training set (default 5).
      batch_size: m (default 100).
      step_size: ε (default 0.1, see :data:`DEFAULT_STEP_SIZE`).
      digit: positive class (default 0, SPEC A4).
      record_epochs: epochs (0..epochs) at which c and |w| are recorded
        (default: every epoch).
      kappa, c_init, c_scale: initial law, :func:`~mflab.mnist.network.init_params`
        (defaults w ~ N(0, I/784), c ~ U[−1, 1]).
      standardize: globally standardised pixels (:func:`~mflab.mnist.data.scale_pixels`).
      xi: step schedule ξ(t), a jax-traceable function (default None: ξ ≡ 1).
      n_train: train on the first ``n_train`` training images only (default: all 60000).
      data: :class:`MnistData` (default: :func:`load_mnist` with its defaults).
      dtype: float dtype of data and parameters (default float32).
      progress: tqdm bar over epochs.

    Returns:
      :class:`MnistTrainResult`.

    Raises:
      DivergenceError: the test risk became NaN/inf (names the epoch; lower ε).

    Reference: SPEC A4; Sirignano & Spiliopoulos, SIAM J. Appl. Math. 2020 (the LLN).
    """
    N = check_int("N", N)
    epochs = check_int("epochs", epochs, minimum=0)
    batch_size = check_int("batch_size", batch_size)
    step_size = check_positive("step_size", step_size)
    rec = list(range(epochs + 1)) if record_epochs is None else sorted(set(record_epochs))
    if any(isinstance(e, bool) or int(e) != e or not 0 <= e <= epochs for e in rec):
        raise ValueError(f"record_epochs must be integers in 0..{epochs}; got {record_epochs!r}.")
    config = dict(
        N=N,
        epochs=epochs,
        batch_size=batch_size,
        step_size=step_size,
        digit=int(digit),
        record_epochs=[int(e) for e in rec],
        kappa=kappa,
        c_init=c_init,
        c_scale=c_scale,
        standardize=standardize,
        xi=None if xi is None else getattr(xi, "__name__", repr(xi)),
        n_train=n_train,
        dtype=np.dtype(dtype).name,
    )
    t0 = time.perf_counter()
    data = load_mnist(progress=progress) if data is None else data
    task = one_vs_rest(data, digit, standardize=standardize, dtype=np.dtype(dtype).type)
    x_train, y_train = task.x_train, task.y_train
    if n_train is not None:
        n_train = check_int("n_train", n_train)
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    if batch_size > x_train.shape[0]:
        raise ValueError(f"batch_size {batch_size} exceeds the {x_train.shape[0]} samples.")
    x_train, y_train = jnp.asarray(x_train), jnp.asarray(y_train)
    x_test, y_test = jnp.asarray(task.x_test), jnp.asarray(task.y_test)
    steps = x_train.shape[0] // batch_size

    k_init, k_epochs = jax.random.split(key)
    params = init_params(
        k_init, N, x_train.shape[1], kappa=kappa, c_init=c_init, c_scale=c_scale, dtype=dtype
    )
    risk, acc, train_risk = [], [], []
    cs, ws = [], []

    def record(e, p):
        r, a = _evaluate(p, x_test, y_test)
        r, a = float(r), float(a)
        if not np.isfinite(r):
            raise DivergenceError(
                f"test risk became {r} after epoch {e} (N={N}, step_size={step_size}, "
                f"batch_size={batch_size}). Lower step_size."
            )
        risk.append(r)
        acc.append(a)
        if e in rec:
            cs.append(np.asarray(p.c))
            ws.append(np.asarray(jnp.linalg.norm(p.w, axis=1)))

    record(0, params)
    for e in tqdm(range(1, epochs + 1), disable=not progress, desc=f"MNIST N={N}", unit="epoch"):
        params, batch_risk = train_epoch(
            params,
            jax.random.fold_in(k_epochs, e),
            x_train,
            y_train,
            step_size,
            (e - 1) * steps,
            batch_size=batch_size,
            xi=xi,
        )
        train_risk.append(float(jnp.mean(batch_risk)))
        record(e, params)
    ep = np.arange(epochs + 1)
    return MnistTrainResult(
        N=N,
        record_epochs=np.asarray(rec, dtype=np.int64),
        c=np.stack(cs),
        w_norm=np.stack(ws),
        epochs=ep,
        time=step_size * steps * ep,
        test_risk=np.asarray(risk),
        test_accuracy=np.asarray(acc),
        train_risk=np.asarray(train_risk),
        params=MnistParams(np.asarray(params.c), np.asarray(params.w)),
        wall_time=time.perf_counter() - t0,
        config=config,
    )


def train_mnist_sweep(key: jax.Array, Ns: Sequence[int], **kwargs) -> dict[int, MnistTrainResult]:
    """:func:`train_mnist` for each N in ``Ns`` (key ``fold_in(key, N)``), data loaded once.

    N changes array shapes, so this is a loop, not a vmap. ``kwargs`` go to
    :func:`train_mnist`.
    """
    if kwargs.get("data") is None:
        kwargs["data"] = load_mnist(progress=kwargs.get("progress", True))
    return {int(N): train_mnist(jax.random.fold_in(key, int(N)), N, **kwargs) for N in Ns}
