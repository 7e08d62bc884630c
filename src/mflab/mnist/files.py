"""The four original MNIST files: where to find them, how to fetch them, how to check them.

A file is accepted only if its MD5 equals the canonical sum below (the sums published
with the original database, LeCun, Cortes & Burges) and its IDX header is right
(magic number, dimensions, sizes, exact payload length). Sources, in order:

1. a directory the user gives: the ``data_dir`` argument, else the environment
   variable ``MFLAB_MNIST_DIR``;
2. the cache: the ``cache_dir`` argument, else ``$MFLAB_CACHE_DIR/mnist``, else
   ``$XDG_CACHE_HOME/mflab/mnist``, else ``~/.cache/mflab/mnist``;
3. a download from the first mirror that serves a correct file, streamed into a
   temporary ``*.part`` file in the cache, MD5-checked, and only then renamed into
   place (``os.replace`` is atomic), so a corrupt or truncated download never lands
   in the cache.

A file that is present but wrong (bad MD5, bad header, truncated) is refused with
:class:`MnistFileError`; it is never silently replaced or skipped.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from mflab.errors import MnistFileError

ENV_DATA_DIR = "MFLAB_MNIST_DIR"
ENV_CACHE_DIR = "MFLAB_CACHE_DIR"

#: Mirrors of the original gzipped IDX files, tried in order (each URL + file name).
#: yann.lecun.com is the original host but often refuses downloads; the two cloud
#: mirrors are the ones torchvision and TensorFlow's tutorials use.
DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


class MnistFileSpec(NamedTuple):
    """One canonical file: name, MD5, compressed size, IDX magic and dimensions."""

    filename: str
    md5: str
    nbytes: int
    magic: int  # 2051 images, 2049 labels
    shape: tuple[int, ...]


#: Canonical files (sizes and MD5 sums of the originals; shared/data/mnist/README.md).
MNIST_FILES: dict[str, MnistFileSpec] = {
    "train_images": MnistFileSpec(
        "train-images-idx3-ubyte.gz",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        9912422,
        2051,
        (60000, 28, 28),
    ),
    "train_labels": MnistFileSpec(
        "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881, 2049, (60000,)
    ),
    "test_images": MnistFileSpec(
        "t10k-images-idx3-ubyte.gz",
        "9fb629c4189551a2d022fa330f9573f3",
        1648877,
        2051,
        (10000, 28, 28),
    ),
    "test_labels": MnistFileSpec(
        "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542, 2049, (10000,)
    ),
}


# ------------------------------------------------------------------------ locations


def default_cache_dir() -> Path:
    """``$MFLAB_CACHE_DIR/mnist``, else ``$XDG_CACHE_HOME/mflab/mnist``, else ``~/.cache/...``."""
    root = os.environ.get(ENV_CACHE_DIR)
    if root:
        return Path(root).expanduser() / "mnist"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mflab" / "mnist"


def search_dirs(data_dir: str | os.PathLike | None, cache_dir: str | os.PathLike | None) -> list:
    """The directories searched, in order: user directory (argument or env), then cache."""
    dirs = []
    user = data_dir if data_dir is not None else os.environ.get(ENV_DATA_DIR) or None
    if user is not None:
        dirs.append(Path(user).expanduser())
    dirs.append(Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir())
    return dirs


# ------------------------------------------------------------------------- checking


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex MD5 digest of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, spec: MnistFileSpec) -> None:
    """Refuse ``path`` unless its size and MD5 are the canonical ones for ``spec``."""
    path = Path(path)
    size = path.stat().st_size
    digest = md5sum(path)
    if digest != spec.md5:
        hint = " (truncated?)" if size < spec.nbytes else ""
        raise MnistFileError(
            f"{path}: MD5 {digest}, size {size} bytes{hint}; the canonical {spec.filename} has "
            f"MD5 {spec.md5} and {spec.nbytes} bytes. The file is corrupt or not the original: "
            "delete it (mflab will download it again) or replace it with the original."
        )


def read_idx(path: str | os.PathLike, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """Decode one gzipped IDX file of unsigned bytes and check its header.

    Format (shared/data/mnist/README.md): big-endian uint32 magic (0x0000 08 nd:
    2051 for 3-D images, 2049 for 1-D labels), then ``nd`` uint32 sizes, then the
    row-major uint8 payload, whose length must be exactly the product of the sizes.

    Args:
      path: the ``.gz`` file.
      magic: the expected magic number.
      shape: the expected sizes (the header must match them exactly).

    Returns:
      uint8 array of shape ``shape``.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # bad gzip magic, truncated stream, bad CRC
        raise MnistFileError(f"{path}: not a complete gzip file ({e}).") from e
    nd = len(shape)
    head = 4 * (1 + nd)
    if len(raw) < head:
        raise MnistFileError(f"{path}: {len(raw)} bytes, shorter than an IDX header ({head}).")
    got_magic = int.from_bytes(raw[:4], "big")
    if got_magic != magic:
        raise MnistFileError(
            f"{path}: IDX magic number {got_magic}, expected {magic} "
            f"(2051 = images, 2049 = labels)."
        )
    dims = tuple(int.from_bytes(raw[4 * (1 + k) : 4 * (2 + k)], "big") for k in range(nd))
    if dims != tuple(shape):
        raise MnistFileError(f"{path}: IDX sizes {dims}, expected {tuple(shape)}.")
    expected = int(np.prod(shape))
    if len(raw) - head != expected:
        raise MnistFileError(
            f"{path}: payload of {len(raw) - head} bytes, expected {expected} for shape {shape}."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(shape).copy()


# ------------------------------------------------------------------------- fetching


def download_file(
    spec: MnistFileSpec,
    cache_dir: Path,
    mirrors: Sequence[str],
    *,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download ``spec`` into ``cache_dir`` from the first mirror that serves a correct file.

    Each attempt streams into a temporary ``*.part`` file in ``cache_dir`` while
    hashing; the file is moved into place only if its MD5 is canonical, and deleted
    otherwise. Raises :class:`MnistFileError` listing every mirror's failure.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / spec.filename
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + spec.filename
        fd, tmp = tempfile.mkstemp(prefix=spec.filename + ".", suffix=".part", dir=cache_dir)
        try:
            h = hashlib.md5()
            req = urllib.request.Request(url, headers={"User-Agent": "mflab"})
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(req, timeout=timeout) as r:
                total = int(r.headers.get("Content-Length") or 0) or None
                with tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=spec.filename,
                    disable=not progress,
                    leave=False,
                ) as bar:
                    while block := r.read(1 << 16):
                        out.write(block)
                        h.update(block)
                        bar.update(len(block))
            if h.hexdigest() != spec.md5:
                raise MnistFileError(f"MD5 {h.hexdigest()} != canonical {spec.md5}")
            os.replace(tmp, target)
            return target
        except (OSError, ValueError, http.client.HTTPException) as e:  # URLError, timeouts: OSError
            failures.append(f"  {url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise MnistFileError(
        f"could not download {spec.filename}; every mirror failed:\n" + "\n".join(failures)
    )


def mnist_paths(
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> dict[str, Path]:
    """Find (or download) the four canonical files and check their MD5; return their paths.

    Args:
      data_dir: directory holding the files (default: ``$MFLAB_MNIST_DIR`` if set).
      download: fetch a file missing everywhere from ``mirrors`` into the cache.
      cache_dir: cache directory (default :func:`default_cache_dir`).
      mirrors: base URLs to try in order (default :data:`DEFAULT_MIRRORS`).
      progress: show a tqdm bar per download.
      timeout: seconds to wait on a mirror's socket.

    Returns:
      ``{"train_images": path, "train_labels": ..., "test_images": ..., "test_labels": ...}``.

    Raises:
      MnistFileError: a file is corrupt (wherever it was found), or missing and could
        not be downloaded; the message says where to put the files.
    """
    dirs = search_dirs(data_dir, cache_dir)
    cache = dirs[-1]
    mirrors = DEFAULT_MIRRORS if mirrors is None else tuple(mirrors)
    paths = {}
    for key, spec in MNIST_FILES.items():
        found = next((d / spec.filename for d in dirs if (d / spec.filename).is_file()), None)
        if found is None:
            if not download:
                raise MnistFileError(_missing_message(spec, dirs, "download=False"))
            try:
                found = download_file(spec, cache, mirrors, progress=progress, timeout=timeout)
            except MnistFileError as e:
                raise MnistFileError(f"{e}\n{_missing_message(spec, dirs, 'offline?')}") from e
        verify_file(found, spec)
        paths[key] = found
    return paths


def _missing_message(spec: MnistFileSpec, dirs: list, why: str) -> str:
    names = ", ".join(s.filename for s in MNIST_FILES.values())
    searched = ", ".join(str(d) for d in dirs)
    return (
        f"MNIST file {spec.filename} not found ({why}); searched: {searched}. "
        f"Put the four original files ({names}) in a directory and pass it as data_dir or set "
        f"{ENV_DATA_DIR}=/that/directory; or put them in the cache {dirs[-1]} "
        f"(set {ENV_CACHE_DIR} to move the cache); or allow the download (download=True) "
        f"from a machine with network access."
    )
