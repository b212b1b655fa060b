"""Importing TensorFlow quietly.

TensorFlow's C++ runtime writes INFO lines (oneDNN, CPU features) straight to
file descriptor 2 before any log-level setting is read, which would clutter
every command's output. We point fd 2 at a temporary file while it loads and
replay what it wrote only if the import fails.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

_loaded: ModuleType | None = None


def tensorflow() -> ModuleType:
    """The ``tensorflow`` module, imported once with its start-up chatter suppressed."""
    global _loaded
    if _loaded is not None:
        return _loaded
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        _loaded = sys.modules["tensorflow"]
        return _loaded
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
