"""MNIST loader: canonical files, refusal of corrupt ones, the offline error, the download path.

The real files are read from ``shared/data/mnist`` beside the checkout (override with
``MFLAB_MNIST_DIR``); tests needing them are skipped when they are absent. Expected
shapes and label counts are those published with the data (shared/data/mnist/README.md),
not values produced by mflab.
"""

from __future__ import annotations

import gzip
import http.server
import shutil
import socket
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from mflab.mnist import (
    ENV_CACHE_DIR,
    ENV_DATA_DIR,
    MNIST_FILES,
    MnistFileError,
    default_cache_dir,
    load_mnist,
    mnist_paths,
    read_idx,
    verify_file,
)

_DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared/data/mnist"
NAMES = [s.filename for s in MNIST_FILES.values()]
# Label counts per digit 0-9, from shared/data/mnist/README.md.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def shared_dir():
    import os

    d = Path(os.environ.get(ENV_DATA_DIR) or _DEFAULT_DIR)
    missing = [n for n in NAMES if not (d / n).is_file()]
    if missing:
        pytest.skip(f"MNIST files {missing} not in {d} (set {ENV_DATA_DIR} to their directory)")
    return d


@pytest.fixture(scope="module")
def mnist(shared_dir, tmp_path_factory):
    return load_mnist(
        shared_dir, download=False, cache_dir=tmp_path_factory.mktemp("cache"), progress=False
    )


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    """Keep the user's MFLAB_* variables out of every test (the fixture above read them)."""
    monkeypatch.delenv(ENV_CACHE_DIR, raising=False)
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)


def _copy(src: Path, dst: Path, *, truncate: int | None = None, flip: int | None = None):
    """Copy the four files; cut file number ``truncate`` in half, flip a byte of ``flip``."""
    dst.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(NAMES):
        raw = bytearray((src / name).read_bytes())
        if i == truncate:
            raw = raw[: len(raw) // 2]
        if i == flip:
            raw[len(raw) // 2] ^= 0xFF
        (dst / name).write_bytes(bytes(raw))
    return dst


# ----------------------------------------------------------------------- real files


def test_shapes_dtypes_and_label_counts(mnist):
    assert mnist.train_images.shape == (60000, 28, 28)
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_labels.shape == (60000,) and mnist.test_labels.shape == (10000,)
    for a in mnist:
        assert a.dtype == np.uint8
    # 8-bit greyscale: 0 background, 255 full ink (README); both occur.
    assert mnist.train_images.min() == 0 and mnist.train_images.max() == 255
    np.testing.assert_array_equal(np.bincount(mnist.train_labels, minlength=10), TRAIN_COUNTS)
    np.testing.assert_array_equal(np.bincount(mnist.test_labels, minlength=10), TEST_COUNTS)


def test_flatten_is_row_major(shared_dir, mnist, tmp_path):
    flat = load_mnist(shared_dir, download=False, cache_dir=tmp_path, flatten=True)
    assert flat.train_images.shape == (60000, 784) and flat.test_images.shape == (10000, 784)
    # pixel (r, c) of image k sits at column 28 r + c
    np.testing.assert_array_equal(flat.test_images[7, 28 * 13 + 5], mnist.test_images[7, 13, 5])
    np.testing.assert_array_equal(flat.train_labels, mnist.train_labels)


def test_env_vars_select_directories(shared_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_DATA_DIR, str(shared_dir))
    paths = mnist_paths(download=False, cache_dir=tmp_path / "empty")
    assert {p.parent for p in paths.values()} == {shared_dir}
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "mnist"


# ------------------------------------------------------------------ corrupt files


def test_truncated_copy_is_refused(shared_dir, tmp_path):
    bad = _copy(shared_dir, tmp_path / "bad", truncate=3)  # t10k-labels cut in half
    with pytest.raises(MnistFileError, match="MD5.*truncated"):
        load_mnist(bad, download=False, cache_dir=tmp_path / "cache")
    # The header/length check refuses it on its own, without the MD5.
    with pytest.raises(MnistFileError, match="gzip"):
        read_idx(bad / NAMES[3], 2049, (10000,))


def test_wrong_md5_copy_is_refused_even_with_a_good_cache(shared_dir, tmp_path):
    bad = _copy(shared_dir, tmp_path / "bad", flip=1)  # one byte of train-labels flipped
    good_cache = _copy(shared_dir, tmp_path / "cache")
    with pytest.raises(MnistFileError, match=f"MD5.*{MNIST_FILES['train_labels'].md5}"):
        load_mnist(bad, download=False, cache_dir=good_cache)
    with pytest.raises(MnistFileError, match="MD5"):
        verify_file(bad / NAMES[1], MNIST_FILES["train_labels"])


def test_idx_header_checks(tmp_path):
    payload = bytes(range(10)) * 3  # 30 labels
    good = (2049).to_bytes(4, "big") + (30).to_bytes(4, "big") + payload
    cases = {
        "magic": (2051).to_bytes(4, "big") + good[4:],
        "sizes": good[:4] + (31).to_bytes(4, "big") + payload,
        "payload": good[:-1],
        "header": good[:6],
    }
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(good))
    np.testing.assert_array_equal(read_idx(p, 2049, (30,)), np.frombuffer(payload, np.uint8))
    for what, raw in cases.items():
        p.write_bytes(gzip.compress(raw))
        with pytest.raises(MnistFileError, match=what):
            read_idx(p, 2049, (30,))


# ------------------------------------------------------------ offline and download


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_without_files_says_where_to_put_them(tmp_path):
    empty, cache = tmp_path / "empty", tmp_path / "cache"
    empty.mkdir()
    with pytest.raises(MnistFileError) as e:
        load_mnist(empty, download=False, cache_dir=cache)
    msg = str(e.value)
    for needed in (ENV_DATA_DIR, str(empty), str(cache), NAMES[0], "download=True"):
        assert needed in msg
    # With download allowed but no reachable mirror: every mirror's failure plus the advice.
    url = f"http://127.0.0.1:{_closed_port()}/mnist/"
    with pytest.raises(MnistFileError) as e:
        load_mnist(empty, cache_dir=cache, mirrors=[url], progress=False, timeout=5)
    assert url + NAMES[0] in str(e.value) and ENV_DATA_DIR in str(e.value)
    assert list(cache.iterdir()) == []  # no partial file left behind


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(shared_dir, tmp_path):
    """HTTP server on 127.0.0.1 serving /good/ (the shared files) and /bad/ (corrupt copies)."""
    root = tmp_path / "www"
    (root / "good").mkdir(parents=True)
    for n in NAMES:
        (root / "good" / n).symlink_to(shared_dir / n)
    (root / "bad").mkdir()
    raw = (shared_dir / NAMES[0]).read_bytes()
    (root / "bad" / NAMES[0]).write_bytes(raw[: len(raw) // 3])  # truncated train-images
    raw = bytearray((shared_dir / NAMES[3]).read_bytes())
    raw[100] ^= 1
    (root / "bad" / NAMES[3]).write_bytes(bytes(raw))  # one bit flipped; the others 404
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_download_skips_corrupt_mirror_and_caches_only_good_files(server, mnist, tmp_path):
    cache = tmp_path / "cache"
    got = load_mnist(
        tmp_path / "nowhere",
        cache_dir=cache,
        mirrors=[f"{server}/bad/", f"{server}/good/"],
        progress=False,
        timeout=5,
    )
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES)  # no *.part left
    for key, spec in MNIST_FILES.items():
        verify_file(cache / spec.filename, spec)
        np.testing.assert_array_equal(getattr(got, key), getattr(mnist, key))
    # Second call: served from the cache, no network needed.
    again = load_mnist(cache_dir=cache, download=False)
    np.testing.assert_array_equal(again.test_labels, mnist.test_labels)


def test_corrupt_download_is_refused_and_not_cached(server, shared_dir, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(MnistFileError, match="MD5") as e:
        load_mnist(cache_dir=cache, mirrors=[f"{server}/bad/"], progress=False, timeout=5)
    assert NAMES[0] in str(e.value)
    assert list(cache.iterdir()) == []
    # Three files already cached; the bad mirror's t10k-labels has one flipped bit: it is
    # refused, named in the error, and not added to the cache.
    for n in NAMES[:3]:
        shutil.copy(shared_dir / n, cache / n)
    with pytest.raises(MnistFileError, match="MD5") as e:
        load_mnist(cache_dir=cache, mirrors=[f"{server}/bad/"], progress=False, timeout=5)
    assert NAMES[3] in str(e.value)
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES[:3])
