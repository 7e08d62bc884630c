"""Advisory locks: one writer per run directory (or sweep / reproduce directory).

A writer holds ``DIR/.lock``, a small JSON file naming it (pid, host, start time,
command) and locked with ``fcntl.flock``. The kernel drops a flock when its process
ends — normally, by ``kill -9`` or by the OOM killer — so liveness needs no guessing:

* a lock file that can be locked again is **stale** (its writer is gone): ``resume``
  takes it over and writes its own name into it;
* one that cannot is **held by a live writer**: a second writer is refused with a
  message naming it (pid, host, start, command).

Where the filesystem has no flock (some network mounts), the recorded pid decides: on
this host it is alive or not (``os.kill(pid, 0)``); on another host it is presumed alive.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from mflab.errors import LockHeld, RunError

LOCK_NAME = ".lock"


def _owner_record() -> dict[str, Any]:
    from mflab.runs.meta import now_iso

    return {"pid": os.getpid(), "host": socket.gethostname(), "started": now_iso(),
            "command": " ".join(["mflab", *sys.argv[1:]]) if sys.argv else "mflab"}


def read_owner(directory: Path) -> dict[str, Any] | None:
    """The record in ``directory/.lock`` (None when absent or unreadable)."""
    try:
        data = json.loads((Path(directory) / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe(owner: dict[str, Any] | None) -> str:
    """``pid 123 on host h since T: mflab run ...`` (or a placeholder)."""
    if not owner:
        return "a process that has not written its name yet"
    return (f"pid {owner.get('pid')} on host {owner.get('host')} since {owner.get('started')}: "
            f"{owner.get('command')}")


class RunLock:
    """A held lock on a directory; release it with :meth:`release`."""

    def __init__(self, path: Path, fd: int):
        self.path = Path(path)
        self._fd: int | None = fd

    def stamp(self) -> None:
        """Write this process's name (pid, host, start, command) into the lock file."""
        data = (json.dumps(_owner_record()) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def moved_to(self, directory: Path) -> None:
        """The locked directory was renamed to ``directory`` (the lock stays held)."""
        self.path = Path(directory) / LOCK_NAME

    def release(self, *, remove: bool = False) -> None:
        """Drop the lock; with ``remove``, delete the lock file first (a finished directory
        keeps no lock file). Idempotent."""
        if self._fd is None:
            return
        if remove:
            with contextlib.suppress(OSError):
                if os.path.samestat(os.fstat(self._fd), os.stat(self.path)):
                    os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


def acquire(directory: Path | str, *, stamp: bool = True) -> RunLock:
    """Lock ``directory`` for this process (taking over a stale lock) or raise
    :class:`LockHeld` naming the live writer. The directory must exist. With
    ``stamp=False`` the file keeps the previous writer's name until :meth:`RunLock.stamp`
    (so a takeover that is then refused changes nothing)."""
    directory = Path(directory)
    path = directory / LOCK_NAME
    for _ in range(20):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunError(f"cannot lock {directory}: {e.strerror}.") from None
        try:
            held = not _try_flock(fd, path)
        except BaseException:
            os.close(fd)
            raise
        if held:
            os.close(fd)
            owner = describe(read_owner(directory))
            raise LockHeld(f"{directory} is being written by a live run ({owner}); "
                           "wait for it to finish or stop it.")
        try:  # the file may have been removed and re-created between open and flock
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        lock = RunLock(path, fd)
        if stamp:
            lock.stamp()
        return lock
    raise RunError(f"cannot lock {directory}: its lock file keeps changing.")


def live_owner(directory: Path | str) -> dict[str, Any] | None:
    """The record of the live writer of ``directory``, or None when nobody holds it."""
    path = Path(directory) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        free = _try_flock(fd, path, fcntl.LOCK_SH)
    finally:
        os.close(fd)  # also drops the probe's shared lock
    return None if free else (read_owner(directory) or {})


def _try_flock(fd: int, path: Path, mode: int = fcntl.LOCK_EX) -> bool:
    """Take the flock without waiting: True if taken, False if a live process holds it."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as e:  # no flock here (ENOLCK, EOPNOTSUPP): the recorded pid decides
        if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            raise
        return not _recorded_owner_alive(path.parent)


def _recorded_owner_alive(directory: Path) -> bool:
    owner = read_owner(directory)
    if not owner or owner.get("pid") == os.getpid():
        return False
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except (ValueError, TypeError, KeyError, OverflowError):  # no usable pid: stale
        return False
    return True
