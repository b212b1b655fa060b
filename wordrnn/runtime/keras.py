"""The Keras step runner: one compiled recurrent step of a model built by ``nn.model`` (imports TensorFlow).

The step is a ``tf.function`` with a fixed signature, compiled once (never ``model.predict`` in a loop).
"""

from __future__ import annotations

import numpy as np

from wordrnn.store.saved import SavedModel


class KerasStep:
    """A compiled single step of a Keras model built by ``model.build_model`` (imports TensorFlow).

    Args:
        saved: the model directory to run.
        model: an already built Keras model (skips building one from ``saved``).
    """

    name = "keras"

    def __init__(self, saved: SavedModel, model=None) -> None:  # noqa: ANN001
        from wordrnn.nn.model import state_sizes
        from wordrnn.nn.tfimport import tensorflow

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

        from wordrnn.config import TokenizerConfig, TrainConfig

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
