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

from .saved import SavedModel


class StepRunner(Protocol):
    """What every runner provides."""

    state_sizes: list[int]
    input_kind: str

    def zero_state(self, batch: int = 1) -> list[np.ndarray]: ...

    def step(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]: ...


class KerasStep:
    """A compiled single step of a Keras model built by ``model.build_model`` (imports TensorFlow).

    Args:
        saved: the model directory to run.
        model: an already built Keras model (skips building one from ``saved``).
    """

    name = "keras"

    def __init__(self, saved: SavedModel, model=None) -> None:  # noqa: ANN001
        from .model import state_sizes
        from .tfimport import tensorflow

        tf = tensorflow()
        self.config = saved.model_config
        self.input_kind = self.config.input_kind
        self.state_sizes = state_sizes(self.config)
        self.model = model if model is not None else saved.build_keras()
        if self.input_kind == "tokens":
            input_spec = tf.TensorSpec((None,), tf.int32)
        else:
            input_spec = tf.TensorSpec((None, self.config.features), tf.float32)
        state_specs = [tf.TensorSpec((None, size), tf.float32) for size in self.state_sizes]
        tokens = self.input_kind == "tokens"
        keras_model = self.model

        @tf.function(input_signature=[input_spec, state_specs])
        def _step(inputs, states):
            outputs, *new_states = keras_model([inputs[:, None], *states], training=False)
            outputs = outputs[:, 0]
            if tokens:
                outputs = tf.nn.softmax(outputs, axis=-1)
            return outputs, new_states

        @tf.function(input_signature=[tf.TensorSpec((None, None), tf.int32) if tokens
                                      else tf.TensorSpec((None, None, self.config.features), tf.float32), state_specs])
        def _sequence(inputs, states):
            outputs, *new_states = keras_model([inputs, *states], training=False)
            if tokens:
                outputs = tf.nn.softmax(outputs, axis=-1)
            return outputs, new_states

        self._step = _step
        self._sequence = _sequence

    @classmethod
    def from_model(cls, model, config) -> KerasStep:  # noqa: ANN001
        """A runner for an in-memory model with no directory (e.g. the sine demo's, just trained)."""
        from pathlib import Path

        from .config import TokenizerConfig, TrainConfig

        return cls(SavedModel(Path(f"<in-memory {model.name}>"), {}, config, TokenizerConfig(), TrainConfig(), None),
                   model)

    def zero_state(self, batch: int = 1) -> list[np.ndarray]:
        return [np.zeros((batch, size), np.float32) for size in self.state_sizes]

    def step(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        dtype = np.int32 if self.input_kind == "tokens" else np.float32
        outputs, new_state = self._step(np.asarray(inputs, dtype), [np.asarray(s, np.float32) for s in state])
        return outputs.numpy(), [s.numpy() for s in new_state]

    def sequence(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Every step's outputs for (B, T) inputs at once (used to check and speed up priming)."""
        dtype = np.int32 if self.input_kind == "tokens" else np.float32
        outputs, new_state = self._sequence(np.asarray(inputs, dtype), [np.asarray(s, np.float32) for s in state])
        return outputs.numpy(), [s.numpy() for s in new_state]


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
    from .mixture import wrap

    return wrap(_base_runner(saved, runtime), saved)


def _base_runner(saved: SavedModel, runtime: str) -> StepRunner:
    import warnings

    from . import runtime_litert
    from .errors import ConfigError, ExportError, WordRNNWarning

    if runtime not in ("auto", "keras", "litert"):
        raise ConfigError(f"--runtime must be auto, keras or litert, got {runtime!r}")
    if runtime == "litert":
        return runtime_litert.LiteRTStep(saved)
    if runtime == "auto" and runtime_litert.available():
        try:
            return runtime_litert.LiteRTStep(saved)
        except ExportError as exc:
            warnings.warn(f"{exc}; running with TensorFlow instead (slower start)", WordRNNWarning, stacklevel=3)
    return KerasStep(saved)
