"""Importing TensorFlow quietly.

TensorFlow's C++ runtime writes INFO lines (oneDNN, CPU features) straight to
file descriptor 2 before any log-level setting is read, which would clutter
every command's output. We point fd 2 at a temporary file while it loads and
replay what it wrote only if the import fails.

Keras also writes ``~/.keras/keras.json`` when it is first imported (and matplotlib its config and
font cache under ``~/.config`` and ``~/.cache``): files in the user's home that nobody asked for.
Unless the user chose a place (``KERAS_HOME``, ``MPLCONFIGDIR``), they go to a private temporary
directory that is removed when the process ends.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

_loaded: ModuleType | None = None
_private_dir: str | None = None


def private_library_home(variable: str) -> None:
    """Point the environment ``variable`` (``KERAS_HOME``, ``MPLCONFIGDIR``) at a private temporary
    directory, unless the user set it; call before the library is imported (it reads it then)."""
    global _private_dir
    if os.environ.get(variable):
        return
    if _private_dir is None:
        import atexit
        import shutil

        _private_dir = tempfile.mkdtemp(prefix="wordrnn-")  # mode 0700, a fresh name: nothing planted
        atexit.register(shutil.rmtree, _private_dir, ignore_errors=True)
    home = os.path.join(_private_dir, variable.lower())
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
    with quiet_stderr():
        import keras  # noqa: F401  (Keras 3 picks the TensorFlow backend)
        import tensorflow as tf

        tf.constant(0.0) + 1.0  # loads the kernels whose libraries also log at first use
    _loaded = tf
    return tf


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Hide what native code writes to file descriptor 2 inside the block; replay it if the block fails.

    Also used around LiteRT's interpreter set-up, which logs an INFO line that no option turns off.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
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
