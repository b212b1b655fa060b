"""Model builders: input head -> recurrent stack with explicit state -> output head.

The Keras model takes ``[inputs, *states]`` and returns ``[outputs, *new_states]``.
No layer is ``stateful=True``: the batch size is not baked in, so weights trained
on 64 streams run unchanged on one, and the caller (engine, generator, export)
owns the state. Token models output logits; series models output values.
"""

from __future__ import annotations

from wordrnn.nn.tfimport import tensorflow

tf = tensorflow()
import keras  # noqa: E402  (after the quiet TensorFlow import)
import numpy as np
from keras import layers, ops

from wordrnn.nn.cells import JordanCell
from wordrnn.config import ModelConfig


def state_sizes(config: ModelConfig) -> list[int]:
    """Widths of every state tensor, in the order the model takes and returns them."""
    per_layer = 2 if config.cell == "lstm" else 1
    return [config.units] * (per_layer * config.layers)


class TiedOutput(layers.Layer):
    """Logits from the embedding matrix (weight tying): h E^T + b."""

    def __init__(self, embedding: layers.Embedding, **kwargs) -> None:
        super().__init__(**kwargs)
        self.embedding = embedding

    def build(self, input_shape) -> None:
        self.bias = self.add_weight(shape=(self.embedding.input_dim,), initializer="zeros", name="bias")
        super().build(input_shape)

    def call(self, inputs):
        return ops.matmul(inputs, ops.transpose(self.embedding.embeddings)) + self.bias


def _recurrent_layer(config: ModelConfig, index: int) -> layers.Layer:
    common = dict(return_sequences=True, return_state=True, name=f"rnn_{index}")
    rdrop = config.recurrent_dropout
    if config.cell == "lstm":
        return layers.LSTM(config.units, recurrent_dropout=rdrop, **common)
    if config.cell == "gru":
        return layers.GRU(config.units, recurrent_dropout=rdrop, **common)
    if config.cell == "elman":
        return layers.SimpleRNN(config.units, recurrent_dropout=rdrop, **common)
    return layers.RNN(JordanCell(config.units, name=f"jordan_cell_{index}"), **common)


def build_model(config: ModelConfig) -> keras.Model:
    """The network for a config, with fresh weights (load saved ones with ``set_weights``)."""
    if config.input_kind == "tokens":
        inputs = keras.Input(shape=(None,), dtype="int32", name="tokens")
        embedding = layers.Embedding(config.vocab_size, config.embedding, name="embedding")
        hidden = embedding(inputs)
    else:
        inputs = keras.Input(shape=(None, config.features), dtype="float32", name="values")
        embedding = None
        hidden = inputs
    if config.dropout:
        hidden = layers.Dropout(config.dropout, name="input_dropout")(hidden)

    sizes = state_sizes(config)
    states_in = [keras.Input(shape=(size,), dtype="float32", name=f"state_{i}") for i, size in enumerate(sizes)]
    states_out = []
    per_layer = len(sizes) // config.layers
    for index in range(config.layers):
        initial = states_in[index * per_layer : (index + 1) * per_layer]
        sequence, *new_states = _recurrent_layer(config, index)(hidden, initial_state=initial)
        states_out.extend(new_states)
        hidden = sequence
        if config.dropout:
            hidden = layers.Dropout(config.dropout, name=f"dropout_{index}")(hidden)

    if config.input_kind == "series":
        outputs = layers.Dense(config.features, name="output")(hidden)
    elif config.tied:
        if config.units != config.embedding:
            hidden = layers.Dense(config.embedding, name="projection")(hidden)
        outputs = TiedOutput(embedding, name="output")(hidden)
    else:
        outputs = layers.Dense(config.vocab_size, name="output")(hidden)
    return keras.Model([inputs, *states_in], [outputs, *states_out], name=f"wordrnn_{config.cell}")


def count_parameters(model: keras.Model) -> int:
    return int(sum(int(ops.size(w)) for w in model.trainable_weights))


def loss_function(config: ModelConfig):
    """Per-position loss (B, T): softmax cross-entropy on token logits, squared error on values."""
    if config.input_kind == "tokens":

        def token_loss(targets, logits):
            return keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)

        return token_loss

    def series_loss(targets, values):
        return ops.mean(ops.square(values - targets), axis=-1)

    return series_loss


def sampled_softmax_training(model: keras.Model, config: ModelConfig, num_sampled: int):
    """A training model and loss for a sampled softmax (token models only).

    The training model shares every weight with ``model`` but stops at the output layer's input;
    the loss scores the target against ``num_sampled`` words drawn from a Zipfian (log-uniform)
    distribution, which matches our frequency-ordered ids. The output layer's weights still train,
    so the full-softmax ``model`` predicts with them unchanged.
    """
    output = model.get_layer("output")
    train_model = keras.Model(model.inputs, [output.input, *model.outputs[1:]], name=f"{model.name}_sampled")
    vocab_size = config.vocab_size
    num_sampled = min(int(num_sampled), vocab_size - 1)

    def sampled_loss(targets, hidden):
        if config.tied:
            weights = model.get_layer("embedding").embeddings
        else:
            weights = ops.transpose(output.kernel)
        shape = tf.shape(targets)
        loss = tf.nn.sampled_softmax_loss(
            weights=weights, biases=output.bias, labels=tf.reshape(tf.cast(targets, tf.int64), (-1, 1)),
            inputs=tf.reshape(hidden, (-1, hidden.shape[-1])), num_sampled=num_sampled, num_classes=vocab_size)
        return tf.reshape(loss, shape)

    return train_model, sampled_loss


def get_weight_arrays(model: keras.Model) -> dict[str, np.ndarray]:
    """Every weight by its stable path (layer names are fixed by ``build_model``)."""
    return {w.path: ops.convert_to_numpy(w) for w in model.weights}


def set_weight_arrays(model: keras.Model, arrays: dict[str, np.ndarray], source: str = "weights") -> None:
    """Load weights by path after checking names and shapes, so a mismatch never half-loads."""
    from wordrnn.errors import ModelFormatError

    expected = {w.path: tuple(w.shape) for w in model.weights}
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ModelFormatError(
            f"{source} do not match the model's config (missing {missing[:3]}, unexpected {extra[:3]}); "
            "the model directory is damaged or mixed up"
        )
    for path, shape in expected.items():
        if tuple(arrays[path].shape) != shape:
            raise ModelFormatError(
                f"{source}: {path} has shape {tuple(arrays[path].shape)} but the config needs {shape}; "
                "the weights do not belong to this vocabulary or config"
            )
    for weight in model.weights:
        weight.assign(arrays[weight.path].astype(weight.dtype))
