"""Step runners: one recurrent step ``(inputs, state) -> (outputs, state)`` for inference.

Everything that predicts (suggestions, generation, the sine demo, the REPL)
runs on a ``StepRunner``; priming and feedback are plain loops over ``step``.
``KerasStep`` compiles the step once with a fixed signature (never
``model.predict`` in a loop); ``open_runner`` picks the fastest runner a model
directory supports.

Token models take ids (B,) and return next-word probabilities (B, V); series
models take values (B, F) and return the predicted next values (B, F).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from wordrnn.runtime.keras import KerasStep
from wordrnn.store.saved import SavedModel


class StepRunner(Protocol):
    """What every runner provides."""

    state_sizes: list[int]
    input_kind: str

    def zero_state(self, batch: int = 1) -> list[np.ndarray]: ...

    def step(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]: ...


def open_runner(saved: SavedModel, runtime: str = "auto") -> StepRunner:
    """The runner for a model directory.

    Args:
        runtime: "keras" (TensorFlow), "litert" (the exported step; an error if unusable),
            or "auto" (LiteRT when an export is present and loads, else Keras: with a
            ``WordRNNWarning`` when the export is missing, damaged or stale, silently when the
            ``ai_edge_litert`` package is not installed).

    A model whose manifest has an ``"interpolation"`` (a word cache, an n-gram) gets its runner
    wrapped in ``mixture.MixtureRunner``, so every prediction uses the same distribution as
    ``wordrnn evaluate``.

    Raises:
        ExportError: ``runtime="litert"`` and the export or the LiteRT runtime is unusable.
    """
    from wordrnn.runtime.mixture import wrap

    return wrap(_base_runner(saved, runtime), saved)


def _base_runner(saved: SavedModel, runtime: str) -> StepRunner:
    import warnings

    from wordrnn.runtime import litert as runtime_litert
    from wordrnn.errors import ConfigError, ExportError, WordRNNWarning, option

    if runtime not in ("auto", "keras", "litert"):
        raise ConfigError(f"{option('runtime')} must be auto, keras or litert, got {runtime!r}")
    if runtime == "litert":
        return runtime_litert.LiteRTStep(saved)
    if runtime == "auto" and runtime_litert.available():
        try:
            return runtime_litert.LiteRTStep(saved)
        except ExportError as exc:
            warnings.warn(f"{exc.marked}; running with TensorFlow instead (slower start)", WordRNNWarning, stacklevel=3)
    return KerasStep(saved)
