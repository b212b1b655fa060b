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
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401  (Keras 3 picks the TensorFlow backend)
            import tensorflow as tf

            tf.constant(0.0) + 1.0  # loads the kernels whose libraries also log at first use
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    _loaded = tf
    return tf
