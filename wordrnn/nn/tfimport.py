"""Importing TensorFlow quietly.

TensorFlow's C++ runtime writes INFO lines (oneDNN, CPU features) straight to
file descriptor 2 before any log-level setting is read, which would clutter
every command's output. We point fd 2 at a temporary file while it loads and
replay what it wrote only if the import fails.

Keras also writes ``~/.keras/keras.json`` when it is first imported (and matplotlib its config and
font cache under ``~/.config`` and ``~/.cache``): files in the user's home that nobody asked for.
Unless the user chose a place (``KERAS_HOME``, ``MPLCONFIGDIR``), they go to a private temporary
directory that is removed when the process ends.

TensorFlow's autograph also writes a ``__autograph_generated_file*.py`` into the temporary
directory for every function it converts, removed only at a normal exit: a ``kill -9`` during
training left hundreds. When the process is wordrnn's own command line (``own_temporary_files``),
Python's temporary directory becomes that private directory, named after the process, and the
next command that imports TensorFlow removes the directories of processes that no longer run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import BinaryIO

_loaded: ModuleType | None = None
_private_dir: str | None = None
_own_temporary_files = False
_PREFIX = "wordrnn-"


def own_temporary_files() -> None:
    """This process is wordrnn's command line: once TensorFlow loads, every temporary file it (or
    anything else here) makes goes into the private directory, which no crash leaves for long."""
    global _own_temporary_files
    _own_temporary_files = True


def _private() -> str:
    """The process's private directory (``wordrnn-<pid>-<random>``, mode 0700), made on first use."""
    global _private_dir
    if _private_dir is None:
        import atexit
        import shutil
        import tempfile

        _private_dir = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")  # a fresh name: nothing planted
        atexit.register(shutil.rmtree, _private_dir, ignore_errors=True)
    return _private_dir


def remove_orphans(root: str | None = None) -> list[str]:
    """Remove the private directories (ours: same owner) of wordrnn processes that no longer run."""
    import shutil
    import tempfile

    root = root or tempfile.gettempdir()
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        pid = entry.name[len(_PREFIX):].split("-", 1)[0]
        if not (entry.name.startswith(_PREFIX) and pid.isdigit()) or int(pid) == os.getpid():
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)  # still running (or not ours to signal): keep it
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
        except OSError:
            continue
    return removed


def private_library_home(variable: str) -> None:
    """Point the environment ``variable`` (``KERAS_HOME``, ``MPLCONFIGDIR``) at a private temporary
    directory, unless the user set it; call before the library is imported (it reads it then)."""
    if os.environ.get(variable):
        return
    home = os.path.join(_private(), variable.lower())
    os.makedirs(home, exist_ok=True)
    os.environ[variable] = home


def tensorflow() -> ModuleType:
    """The ``tensorflow`` module, imported once with its start-up chatter suppressed."""
    global _loaded
    if _loaded is not None:
        return _loaded
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        _loaded = sys.modules["tensorflow"]
        return _loaded
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    private_library_home("KERAS_HOME")
    if _own_temporary_files:
        import tempfile

        remove_orphans()
        tempfile.tempdir = _private()  # autograph's generated files land here, not loose in /tmp
    with quiet_stderr():
        import keras  # noqa: F401  (Keras 3 picks the TensorFlow backend)
        import tensorflow as tf

        tf.constant(0.0) + 1.0  # loads the kernels whose libraries also log at first use
    _loaded = tf
    return tf


def _capture_file() -> BinaryIO:
    """Where the hidden output goes: an anonymous in-memory file on Linux (nothing touches a disk,
    and a cold ``complete`` skips importing ``tempfile``), else an unnamed temporary file."""
    if hasattr(os, "memfd_create"):
        try:
            return os.fdopen(os.memfd_create("wordrnn-stderr", os.MFD_CLOEXEC), "w+b")
        except OSError:  # refused (an old kernel, a sandbox's filter): a temporary file then
            pass
    import tempfile

    return tempfile.TemporaryFile()


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Hide what native code writes to file descriptor 2 inside the block; replay it if the block fails.

    Also used around LiteRT's interpreter set-up, which logs an INFO line that no option turns off.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with _capture_file() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
