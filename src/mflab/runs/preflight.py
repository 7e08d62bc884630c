"""Checks made before a run creates anything: its size against the memory, its output path.

* **Size guard.** Every study config estimates the memory a run needs
  (:meth:`~mflab.runs.config.StudyConfig.memory_bytes`); :func:`check_memory` refuses a
  config whose estimate exceeds the machine's memory — the smallest of the physical
  memory (``os.sysconf``), a cgroup limit and ``ulimit -v`` — or a limit the user gives
  (``--max-memory 8G``), before anything is allocated or written.
* **Output paths.** :func:`check_new_dir` refuses a directory that cannot be created —
  a name or path too long for the filesystem, a path under a file, a folder that is not
  writable or not a real filesystem (``/proc``) — by looking, plus one probe directory
  created and removed at once, so a refused command leaves nothing behind.

Every refusal is a one-line :class:`~mflab.runs.config.ConfigError` (sizes) or
:class:`~mflab.runs.context.RunError` (paths); the command line exits 2 on both.
"""

from __future__ import annotations

import os
import re
import resource
import tempfile
from pathlib import Path

from mflab.errors import RunError
from mflab.runs.config import ConfigError

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
#: The longest file name a run writes below its directory (a metrics part being written).
_DEEPEST = "metrics-parts/part-00000.parquet.tmp"


def parse_size(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"1.5GiB"``, ``"2000000000"`` → bytes (K, M, G, T are
    powers of 1024; a trailing ``B``/``iB`` is optional). Raises ``ValueError``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([KMGTkmgt]?)(?:i?[Bb])?\s*", text)
    if not m:
        raise ValueError(f"a size like 8G, 512M or 2000000000 (bytes); got {text!r}")
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not 0 < value < 2**63:
        raise ValueError(f"a size > 0 bytes; got {text!r}")
    return int(value)


def format_size(n: float) -> str:
    """Bytes in the largest binary unit that keeps the number >= 1 (``"1.5 GiB"``)."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def machine_memory() -> int | None:
    """Memory this process may use: the least of physical memory, the cgroup limit and
    the address-space limit (``ulimit -v``), in bytes; None when none can be read."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    for path in _CGROUP_LIMITS:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max" or a huge number: no limit
            limits.append(int(text))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft)
    return min(limits) if limits else None


def check_memory(study: str, config, max_memory: int | None = None) -> int:
    """Refuse ``config`` when its estimated memory exceeds ``max_memory`` (bytes, when
    given) or else the machine's memory; returns the estimate."""
    need = int(config.memory_bytes())
    if max_memory is not None:
        limit, what = int(max_memory), "--max-memory"
    else:
        limit, what = machine_memory(), "this machine's memory"
    if limit is not None and need > limit:
        raise ConfigError(
            f"{study} needs about {format_size(need)} of memory by its config's estimate, "
            f"more than {what} ({format_size(limit)}); choose smaller sizes"
            + (" or raise --max-memory." if max_memory is not None else ".")
        )
    return need


def check_new_dir(path: Path | str, *, hidden_suffix: str = ".partial") -> Path:
    """Refuse a directory path that cannot be created (see the module docstring).

    ``hidden_suffix``: the run is first written as ``.NAME<suffix>``, so that name must
    fit too. Returns the absolute path. Creates nothing (one probe directory is made and
    removed in the nearest existing folder).
    """
    path = Path(os.path.abspath(path))
    anc = path
    while not os.path.lexists(anc):
        anc = anc.parent
    if not anc.is_dir():
        raise RunError(f"cannot create {path}: {anc} is a file, not a directory.")
    name_max = _pathconf(anc, "PC_NAME_MAX", 255)
    path_max = _pathconf(anc, "PC_PATH_MAX", 4096)
    for part in path.relative_to(anc).parts:
        if len(os.fsencode(part)) > name_max:
            raise RunError(f"cannot create {_short(str(path))}: the name {_short(part)!r} "
                           f"is longer than {name_max} bytes.")
    if len(os.fsencode(f".{path.name}{hidden_suffix}")) > name_max:
        raise RunError(f"the name {_short(path.name)!r} is too long: its hidden working name "
                       f"must fit in {name_max} bytes.")
    deepest = len(os.fsencode(str(path))) + len(hidden_suffix) + 2 + len(_DEEPEST)
    if deepest > path_max:
        raise RunError(f"the path {_short(str(path))} is too long: files below it would exceed "
                       f"{path_max} bytes.")
    if anc == path:
        return path
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mflab-probe-", dir=anc))
    except OSError as e:
        raise RunError(f"cannot create {_short(str(path))}: {anc} does not accept new "
                       f"directories ({e.strerror}).") from None
    return path


def _pathconf(path: Path, name: str, default: int) -> int:
    try:
        value = os.pathconf(path, name)
    except (OSError, ValueError, AttributeError):
        return default
    return value if value and value > 0 else default


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n // 2] + "…" + text[-n // 2 :]
