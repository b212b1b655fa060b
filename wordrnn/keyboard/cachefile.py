"""The adaptation cache's file (``wordrnn repl --cache``): its format, and telling it from other files.

Apart from the cache's arithmetic (``adapt.py``) because the REPL must check a file before it
writes or deletes it: ``:save-cache FILE`` and ``:forget`` touch only files that are wordrnn
caches, so a mistyped name can never replace or delete someone's notes.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from wordrnn.errors import AdaptCacheError, option

FORMAT = "wordrnn-adaptation-cache"
VERSION = 1
MAX_FILE_BYTES = 32 << 20


def validated(data: Any, source: str) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    def bad(what: str) -> AdaptCacheError:
        return AdaptCacheError(f"{source} is not a usable wordrnn adaptation cache ({what}); delete it or give "
                               f"another {option('cache_path', metavar='FILE')}")

    def counts(value: Any, what: str) -> dict[str, float]:
        if not isinstance(value, dict):
            raise bad(f"{what} is not an object")
        for key, count in value.items():
            if isinstance(count, bool) or not isinstance(count, (int, float)) or not 0 <= count < 1e300:
                raise bad(f"{what} has a count that is not a number of 0 or more for {key[:40]!r}")
        return {k: float(c) for k, c in value.items()}

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise bad("no format marker")
    if data.get("version") != VERSION:
        raise bad(f"format version {data.get('version')!r}, this wordrnn reads version {VERSION}")
    pairs = data.get("pairs", {})
    if not isinstance(pairs, dict):
        raise bad("pairs is not an object")
    return counts(data.get("words", {}), "words"), {v: counts(f, "pairs") for v, f in pairs.items()}


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path``, a regular file of at most ``MAX_FILE_BYTES``: a FIFO would block the
    REPL before it starts and a device (/dev/zero) would be read forever."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AdaptCacheError(f"{path} is not a regular file, so not an adaptation cache; give another "
                                  f"{option('cache_path', metavar='FILE')}")
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise AdaptCacheError(f"{path} is larger than {MAX_FILE_BYTES >> 20} MB, too large for an adaptation "
                              f"cache; delete it or give another {option('cache_path', metavar='FILE')}")
    return data


def read_cache_file(path: str | Path) -> dict[str, Any] | None:
    """The checked JSON data of a cache file (None when it does not exist); never unpickles anything."""
    path = Path(path)
    try:
        text = _read_regular(path).decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AdaptCacheError(f"cannot read the cache {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise AdaptCacheError(f"{path} is not valid JSON, so not an adaptation cache; delete it or give another "
                              f"{option('cache_path', metavar='FILE')}") from None
    validated(data, str(path))  # refused here, before any model is loaded
    return data


def is_cache_file(path: str | Path) -> bool:
    """Whether ``path`` is a regular file holding a wordrnn adaptation cache (one wordrnn wrote).

    Checked without following a symlink or opening anything but a regular file, so asking never
    hangs on a FIFO or reads a device.
    """
    try:
        if not stat.S_ISREG(Path(path).lstat().st_mode):
            return False
        return read_cache_file(path) is not None
    except (OSError, AdaptCacheError):
        return False
