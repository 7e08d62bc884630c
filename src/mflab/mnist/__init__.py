"""MNIST: verified loading of the original files and the SPEC A4 problem on the one engine.

* :func:`load_mnist` — the four original gzipped IDX files, MD5- and header-checked,
  from a user directory, the cache, or a download (:mod:`mflab.mnist.files`).
* :func:`one_vs_rest`, :func:`mnist_sets` — digit-vs-rest targets y = ±1, pixels in [0, 1].
* :func:`train_mnist` — ŷ(x) = (1/N) Σ c_i sigmoid(⟨w_i, x⟩), the mean-field network of
  :mod:`mflab.meanfield`, trained by B1 on its landscape (mean-field SGD) through
  :func:`mflab.run`, recording c_i, |w_i| and test metrics per epoch.
* :func:`w1_to_reference` — W1 distance of each N's units to the largest-N ones.
"""

from mflab.mnist.data import (
    PIXEL_MEAN,
    PIXEL_STD,
    BinaryTask,
    MnistData,
    load_mnist,
    one_vs_rest,
    one_vs_rest_labels,
    scale_pixels,
)
from mflab.mnist.files import (
    DEFAULT_MIRRORS,
    ENV_CACHE_DIR,
    ENV_DATA_DIR,
    MNIST_FILES,
    MnistFileError,
    MnistFileSpec,
    default_cache_dir,
    mnist_paths,
    read_idx,
    verify_file,
)
from mflab.mnist.metrics import w1, w1_to_reference
from mflab.mnist.train import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_STEP_SIZE,
    mnist_observables,
    mnist_sets,
    train_mnist,
)

__all__ = [
    "load_mnist", "MnistData", "MnistFileError", "MnistFileSpec", "MNIST_FILES",
    "DEFAULT_MIRRORS", "ENV_DATA_DIR", "ENV_CACHE_DIR", "default_cache_dir", "mnist_paths",
    "read_idx", "verify_file", "BinaryTask", "one_vs_rest", "one_vs_rest_labels",
    "scale_pixels", "PIXEL_MEAN", "PIXEL_STD", "mnist_sets", "mnist_observables",
    "train_mnist", "DEFAULT_STEP_SIZE", "DEFAULT_BATCH_SIZE", "w1", "w1_to_reference",
]
