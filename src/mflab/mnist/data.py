"""MNIST arrays and the one-vs-rest task of SPEC A4.

Shapes: images are ``(n, 28, 28)`` uint8 (or ``(n, 784)`` when flattened, row-major,
pixel (r, c) at index 28 r + c), labels ``(n,)`` uint8 digits 0–9; n = 60000 for the
training set and 10000 for the test set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from mflab.mnist.files import MNIST_FILES, mnist_paths, read_idx
from mflab.validation import check_int

#: Mean and standard deviation of all training-set pixels after scaling to [0, 1]
#: (60000·784 values; the familiar 0.1307 / 0.3081), used by ``standardize=True``.
PIXEL_MEAN = 0.1306604762738429
PIXEL_STD = 0.30810780385646264


class MnistData(NamedTuple):
    """The four MNIST arrays (uint8): images ``(n, 28, 28)`` or ``(n, 784)``, labels ``(n,)``."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    flatten: bool = False,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
) -> MnistData:
    """Load MNIST from the four original gzipped IDX files, verified.

    Every file must have its canonical MD5 and a correct IDX header (magic 2051 for
    images, 2049 for labels; sizes (60000, 28, 28) / (10000, 28, 28) / (60000,) /
    (10000,); exact payload length), else :class:`~mflab.mnist.files.MnistFileError`.
    Where the files come from (user directory, cache, download) is described in
    :mod:`mflab.mnist.files`.

    Args:
      data_dir: directory with the files; default ``$MFLAB_MNIST_DIR`` if set.
      download: download files found nowhere into the cache (default True).
      cache_dir: cache directory; default ``$MFLAB_CACHE_DIR/mnist`` or ``~/.cache/mflab/mnist``.
      progress: tqdm bar while downloading.
      flatten: return images as ``(n, 784)`` instead of ``(n, 28, 28)``.
      mirrors: base URLs to download from (default ``files.DEFAULT_MIRRORS``).
      timeout: socket timeout in seconds per mirror.

    Returns:
      :class:`MnistData` of uint8 arrays.

    Reference: LeCun, Cortes & Burges, *The MNIST database* (IDX format); SPEC A4.
    """
    paths = mnist_paths(
        data_dir,
        download=download,
        cache_dir=cache_dir,
        mirrors=mirrors,
        progress=progress,
        timeout=timeout,
    )
    arrays = {k: read_idx(paths[k], s.magic, s.shape) for k, s in MNIST_FILES.items()}
    for k in ("train_labels", "test_labels"):
        if arrays[k].max() > 9:
            raise ValueError(f"{paths[k]}: label {arrays[k].max()} outside 0..9.")
    if flatten:
        for k in ("train_images", "test_images"):
            arrays[k] = arrays[k].reshape(arrays[k].shape[0], -1)
    return MnistData(**arrays)


class BinaryTask(NamedTuple):
    """One-vs-rest data: features ``x`` ``(n, 784)`` float, targets ``y`` ``(n,)`` in {−1, +1}."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def scale_pixels(images: np.ndarray, *, standardize: bool = False, dtype=np.float32) -> np.ndarray:
    """Map uint8 images to ``(n, 784)`` features.

    x = p / 255 ∈ [0, 1] (SPEC A4 default); with ``standardize``,
    x = (p/255 − μ) / s with μ = :data:`PIXEL_MEAN`, s = :data:`PIXEL_STD` the mean and
    standard deviation of all training pixels — one global affine map (per-pixel
    z-scores would divide the always-blank border pixels by 0).
    """
    x = images.reshape(images.shape[0], -1).astype(dtype) / dtype(255)
    if standardize:
        x = (x - dtype(PIXEL_MEAN)) / dtype(PIXEL_STD)
    return x


def one_vs_rest_labels(labels: np.ndarray, digit: int = 0, dtype=np.float32) -> np.ndarray:
    """y = +1 where the label is ``digit``, −1 elsewhere (SPEC A4, default digit 0)."""
    digit = _check_digit(digit)
    return np.where(labels == digit, 1, -1).astype(dtype)


def one_vs_rest(
    data: MnistData, digit: int = 0, *, standardize: bool = False, dtype=np.float32
) -> BinaryTask:
    """The SPEC A4 task: is the image the digit ``digit``? Features by :func:`scale_pixels`.

    Args:
      data: from :func:`load_mnist` (flattened or not).
      digit: the positive class, 0–9 (default 0, SPEC A4).
      standardize: global standardisation of the pixels (default False: pixels in [0, 1]).
      dtype: float dtype of features and targets (default float32).
    """
    return BinaryTask(
        scale_pixels(data.train_images, standardize=standardize, dtype=dtype),
        one_vs_rest_labels(data.train_labels, digit, dtype),
        scale_pixels(data.test_images, standardize=standardize, dtype=dtype),
        one_vs_rest_labels(data.test_labels, digit, dtype),
    )


def _check_digit(digit) -> int:
    return check_int("digit", digit, minimum=0, maximum=9)
