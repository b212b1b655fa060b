"""Durable, atomic file replacement: the one way wordrnn writes a file it may later read back.

Standard library only, so every layer can use it (the model directory, prepared datasets, the
REPL's cache and saved text). The bytes go to a temporary file in the same directory, named
``.NAME.tmp-PID`` so a later clean-up can tell a dead writer's leftovers from a live one's; it is
flushed and fsynced, then ``os.replace`` swaps it in (atomic on POSIX). A crash, a full disk or
Ctrl-C at any point leaves either the old file or the new one, never a mix, and no temporary file.
"""

from __future__ import annotations

import os
from pathlib import Path


def temporary_name(path: Path) -> Path:
    """Where ``write_durable`` stages ``path``'s new bytes (``.NAME.tmp-PID``, in the same directory)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (another user's process counts too): a file named after a dead
    process is a leftover of a killed run, which the next run may remove."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_durable(path: str | Path, data: bytes, private: bool = False) -> None:
    """Replace ``path`` by a file holding ``data``, atomically and durably.

    Args:
        private: create the file readable by its owner only (0600), e.g. a user's typed text.

    Raises:
        OSError: the write failed (callers word it for their file); the previous file is intact.
    """
    path = Path(path)
    tmp = temporary_name(path)
    tmp.unlink(missing_ok=True)  # a leftover of a killed run that had this PID
    mode = 0o600 if private else 0o666

    def opener(name: str, flags: int) -> int:  # a new file, never through a planted link
        return os.open(name, flags | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)

    try:
        with open(tmp, "wb", opener=opener) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_dir(path: str | Path) -> None:
    """Make a directory's new entries (a replaced file) survive a power cut; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
