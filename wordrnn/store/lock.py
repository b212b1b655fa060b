"""The training lock on a model directory: one trainer at a time, stale locks taken over.

Kept apart from the storage format in ``checkpoint.py``: this is process coordination.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

from wordrnn.durable import pid_alive
from wordrnn.errors import LockedError, ModelFormatError, ResourceError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "train.lock"
# Never through a planted symlink (ELOOP instead), and never blocking on a planted FIFO.
_NO_TRICKS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def _not_regular(path: Path) -> ModelFormatError:
    return ModelFormatError(f"{path} is not a regular file (a symbolic link, directory or device); wordrnn "
                            "never writes through one: remove it and try again")


def _open_regular(path: Path, flags: int) -> int:
    """Open the lock file without following a symlink; refuse anything but a regular file.

    A model directory may hold files planted by someone else (``ln -s ~/notes.txt X/train.lock``):
    following them would write our PID into a file outside the directory, or hang on a FIFO.
    """
    try:
        fd = os.open(path, flags | _NO_TRICKS, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EMLINK):  # EMLINK: FreeBSD's ELOOP
            raise _not_regular(path) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_regular(path)
    return fd


class TrainingLock:
    """An exclusive lock on a model directory; a lock left by a dead process is taken over.

    The lock is an ``flock`` on ``train.lock``, so the kernel releases it when its process dies
    (even by ``kill -9``) and two processes starting at once can never both win; the file holds
    the owner's PID for the error message. Without ``fcntl`` (Windows) the PID alone decides.
    """

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_FILE
        self._fd: int | None = None

    def _refuse(self, pid: int | None) -> LockedError:
        who = f"process {pid}" if pid else "another process"
        return LockedError(f"{self.path.parent}: {who} is already training into it; wait for it or stop it")

    def __enter__(self) -> TrainingLock:
        try:
            return self._enter()
        except OSError as exc:  # a full disk or a read-only directory, before any training
            raise ResourceError(f"{self.path.parent}: cannot create {LOCK_FILE} ({exc.strerror or exc}); "
                                "free some disk space or choose a writable directory") from None

    def _enter(self) -> TrainingLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover - Windows
            return self._enter_by_pid()
        for _ in range(20):
            fd = _open_regular(self.path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise self._refuse(lock_owner(self.path.parent)) from None
            try:
                same = os.lstat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous owner removed the file between our open and flock: retry
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                os.close(fd)
                self.path.unlink(missing_ok=True)
                raise
            self._fd = fd
            return self
        raise LockedError(f"{self.path.parent}: could not take the training lock; try again")

    def _enter_by_pid(self) -> TrainingLock:  # pragma: no cover - Windows
        for _ in range(2):
            try:
                fd = _open_regular(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pid = _read_pid(self.path)
                if pid and pid != os.getpid() and pid_alive(pid):
                    raise self._refuse(pid) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{os.getpid()}\n")
            return self
        raise LockedError(f"{self.path.parent}: could not take the training lock; remove {self.path} if no training runs")

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)  # while still holding the lock, so no one locks a removed file
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_pid(path: Path) -> int | None:
    try:
        fd = _open_regular(path, os.O_RDONLY)
    except (OSError, ModelFormatError):
        return None
    try:
        return int(os.read(fd, 64).split()[0])
    except (OSError, ValueError, IndexError):
        return None
    finally:
        os.close(fd)


def lock_owner(directory: Path) -> int | None:
    """The PID of the live process training into ``directory`` (0 when unknown), or None when none is."""
    path = Path(directory) / LOCK_FILE
    if fcntl is None:  # pragma: no cover - Windows
        pid = _read_pid(path)
        return pid if pid and pid != os.getpid() and pid_alive(pid) else None
    try:
        fd = _open_regular(path, os.O_RDONLY)
    except (OSError, ModelFormatError):  # none, or planted: not a trainer's lock (taking it is refused)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        for _ in range(50):  # the owner writes its PID right after locking
            pid = _read_pid(path)
            if pid:
                return pid
            time.sleep(0.01)
        return 0
    finally:
        os.close(fd)  # also drops our shared lock, if we got it
    return None
