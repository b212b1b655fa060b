"""wordrnn: next-word prediction with stateful recurrent networks.

Importing the package is cheap; TensorFlow loads only when a model is built or
run without the LiteRT fast path.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import WordRNNError  # noqa: E402

__all__ = ["__version__", "WordRNNError"]
