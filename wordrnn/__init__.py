"""wordrnn: next-word prediction with stateful recurrent networks.

Importing the package is cheap; TensorFlow loads only when a model is built or
run without the LiteRT fast path.
"""

from __future__ import annotations

__version__ = "0.1.0"

from wordrnn.errors import WordRNNError, WordRNNWarning  # noqa: E402

# Heavier names load on first use (module ``__getattr__``), so ``import wordrnn`` stays cheap.
_LAZY = {
    "load": "predict.predictor",
    "Predictor": "predict.predictor",
    "Session": "predict.session",
    "evaluate": "evaluation.measure",
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", "WordRNNError", "WordRNNWarning", *_LAZY]
