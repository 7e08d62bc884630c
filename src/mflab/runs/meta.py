"""Provenance of a run: package and dependency versions, git commit, host, times."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import os
import platform
import subprocess
import sys
from pathlib import Path

#: Distributions whose versions every run records.
TRACKED_PACKAGES = (
    "mflab", "jax", "jaxlib", "optax", "numpy", "scipy", "matplotlib", "pandas", "pyarrow",
)


def now_iso() -> str:
    """Local time with UTC offset, seconds resolution (ISO 8601)."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def versions() -> dict[str, str | None]:
    """Installed version of python and of each tracked distribution (None when absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(path: Path | None = None) -> dict[str, object] | None:
    """HEAD commit of the repository holding the mflab sources, and whether the tree is dirty.

    None when mflab is not run from a git checkout or git is unavailable.
    """
    here = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(dirty)}


def host() -> dict[str, object]:
    """Host name, OS, CPU count and the JAX backend's devices."""
    info: dict[str, object] = {
        "node": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "executable": sys.executable,
    }
    try:
        import jax

        info["jax_devices"] = [str(d) for d in jax.devices()]
    except Exception as e:  # noqa: BLE001 - provenance must not break a run
        info["jax_devices"] = f"unavailable: {e}"
    return info
