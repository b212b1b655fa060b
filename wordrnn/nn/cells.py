"""Recurrent cells beyond Keras' own: the Jordan network.

An Elman network feeds its hidden state back (Keras' SimpleRNN); a Jordan
network feeds its *output* back into the hidden layer at the next step. Here
the Jordan cell's state is exactly its previous output, so priming and
feedback work the same way as for every other cell.
"""

from __future__ import annotations

from wordrnn.nn.tfimport import tensorflow

tf = tensorflow()
import keras  # noqa: E402  (after the quiet TensorFlow import)
from keras import activations, initializers, ops


@keras.saving.register_keras_serializable(package="wordrnn")
class JordanCell(keras.layers.Layer):
    """h_t = tanh(x_t W + y_{t-1} U + b);  y_t = tanh(h_t V + c);  state = y_t.

    Args:
        units: width of the hidden layer and of the output fed back.
        activation: non-linearity of both layers.
    """

    def __init__(self, units: int, activation: str = "tanh", **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape) -> None:
        dim = input_shape[-1]
        self.kernel = self.add_weight(shape=(dim, self.units), initializer="glorot_uniform", name="kernel")
        self.feedback_kernel = self.add_weight(
            shape=(self.units, self.units), initializer=initializers.Orthogonal(), name="feedback_kernel"
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.output_kernel = self.add_weight(shape=(self.units, self.units), initializer="glorot_uniform", name="output_kernel")
        self.output_bias = self.add_weight(shape=(self.units,), initializer="zeros", name="output_bias")
        super().build(input_shape)

    def call(self, inputs, states, training=False):
        previous_output = states[0] if isinstance(states, (list, tuple)) else states
        hidden = self.activation(ops.matmul(inputs, self.kernel) + ops.matmul(previous_output, self.feedback_kernel) + self.bias)
        output = self.activation(ops.matmul(hidden, self.output_kernel) + self.output_bias)
        return output, [output]

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation)}
