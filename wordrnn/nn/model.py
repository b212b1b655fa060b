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

from wordrnn.nn.adaptive import AdaptiveOutput, AdaptiveSoftmaxLoss
from wordrnn.nn.cells import JordanCell
from wordrnn.config import ModelConfig, TrainConfig


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
        if config.adaptive_softmax:
            outputs = AdaptiveOutput(config.vocab_size, config.adaptive_softmax, embedding, name="output")(hidden)
        else:
            outputs = TiedOutput(embedding, name="output")(hidden)
    elif config.adaptive_softmax:
        outputs = AdaptiveOutput(config.vocab_size, config.adaptive_softmax, name="output")(hidden)
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


def training_head(model: keras.Model, config: ModelConfig, train: TrainConfig) -> tuple:
    """What the train step runs instead of ``model`` and its full loss, as ``Engine``'s last two
    arguments (empty: nothing else). An adaptive output layer trains with its own loss (every
    cluster for every position under ``--xla``); a sampled softmax is only worth it when it samples
    fewer words than the vocabulary has."""
    if config.input_kind != "tokens":
        return ()
    if config.adaptive_softmax:
        return adaptive_training(model, dense=train.xla)
    if 0 < train.sampled_softmax < config.vocab_size - 1:
        return sampled_softmax_training(model, config, train.sampled_softmax)
    return ()


def _up_to_output(model: keras.Model, suffix: str) -> tuple[layers.Layer, keras.Model]:
    """``model``'s output layer, and ``model`` stopped at that layer's input (the same weights): what a
    training loss cheaper than the full output scores."""
    output = model.get_layer("output")
    return output, keras.Model(model.inputs, [output.input, *model.outputs[1:]], name=f"{model.name}_{suffix}")


def adaptive_training(model: keras.Model, dense: bool = False) -> tuple[keras.Model, AdaptiveSoftmaxLoss]:
    """A training model (``model`` up to its adaptive output layer) and that layer's exact loss."""
    output, train_model = _up_to_output(model, "adaptive")
    return train_model, AdaptiveSoftmaxLoss(output, dense)


def sampled_softmax_training(model: keras.Model, config: ModelConfig, num_sampled: int):
    """A training model and loss for a sampled softmax (token models only).

    The training model shares every weight with ``model`` but stops at the output layer's input;
    the loss (``SampledSoftmaxLoss``) scores the target against ``num_sampled`` words drawn from a
    Zipfian (log-uniform) distribution, which matches our frequency-ordered ids. The output layer's
    weights still train, so the full-softmax ``model`` predicts with them unchanged.
    """
    output, train_model = _up_to_output(model, "sampled")
    if config.tied:
        embeddings = model.get_layer("embedding").embeddings

        def rows(ids):
            return tf.gather(embeddings, ids)
    else:
        def rows(ids):
            return tf.transpose(tf.gather(output.kernel, ids, axis=1))

    return train_model, SampledSoftmaxLoss(rows, output.bias, config.vocab_size, num_sampled)


def _log_uniform(ids, vocab_size: int):
    """P(id) under the log-uniform sampler: (log(id + 2) - log(id + 1)) / log(vocab_size + 1), in float64."""
    ids = tf.cast(ids, tf.float64)
    return (tf.math.log(ids + 2.0) - tf.math.log(ids + 1.0)) / np.log(vocab_size + 1.0)


class SampledSoftmaxLoss:
    """Per-position sampled-softmax loss ``(targets, hidden) -> (B, T)``, as ``tf.nn.sampled_softmax_loss``
    with its defaults (unique log-uniform samples, log-q correction, accidental hits removed).

    It is written out here because the sampler op has no XLA kernel: with ``draw_outside()`` the
    engine draws the samples before each compiled step into variables the step reads, so
    ``--xla`` works with a sampled softmax. The expected count of every word follows from the
    number of tries the sampler needed, which its sampled words' expected counts reveal.

    Args:
        rows: ``ids -> (n, width)`` output-weight rows of those words.
        bias: the output bias (vocab_size,).
        vocab_size, num_sampled: the vocabulary and how many distinct words to sample (at most vocab_size - 1).
    """

    def __init__(self, rows, bias, vocab_size: int, num_sampled: int) -> None:
        self.rows, self.bias, self.vocab_size = rows, bias, int(vocab_size)
        self.num_sampled = min(int(num_sampled), self.vocab_size - 1)
        self._drawn: list[tf.Variable] | None = None

    def draw(self):
        """Sampled ids (num_sampled,), their expected counts, and the sampler's number of tries."""
        sampled, _, expected = tf.random.log_uniform_candidate_sampler(
            true_classes=tf.zeros((1, 1), tf.int64), num_true=1, num_sampled=self.num_sampled, unique=True,
            range_max=self.vocab_size)
        rarest = tf.argmax(sampled)  # the smallest probability: its count pins the tries down most exactly
        tries = tf.math.log1p(-tf.cast(expected[rarest], tf.float64)) / tf.math.log1p(-_log_uniform(sampled[rarest], self.vocab_size))
        return sampled, expected, tries

    def draw_outside(self):
        """Switch to samples drawn outside the step; returns the function that draws them (call it before each step)."""
        sampled, expected, tries = self.draw()
        self._drawn = [tf.Variable(v, trainable=False) for v in (sampled, expected, tries)]

        @tf.function
        def before_step():
            for variable, value in zip(self._drawn, self.draw()):
                variable.assign(value)

        return before_step

    def __call__(self, targets, hidden):
        sampled, expected, tries = self._drawn if self._drawn is not None else self.draw()
        labels = tf.reshape(tf.cast(targets, tf.int64), (-1,))
        flat = tf.reshape(hidden, (-1, hidden.shape[-1]))
        true_expected = -tf.math.expm1(tries * tf.math.log1p(-_log_uniform(labels, self.vocab_size)))
        true_logits = (tf.reduce_sum(flat * self.rows(labels), axis=-1) + tf.gather(self.bias, labels)
                       - tf.math.log(tf.cast(true_expected, flat.dtype)))
        sampled_logits = (tf.matmul(flat, self.rows(sampled), transpose_b=True) + tf.gather(self.bias, sampled)
                          - tf.math.log(tf.cast(expected, flat.dtype)))
        hits = tf.equal(labels[:, None], tf.cast(sampled, tf.int64)[None, :])
        sampled_logits = tf.where(hits, tf.cast(flat.dtype.min, flat.dtype), sampled_logits)
        logits = tf.concat([true_logits[:, None], sampled_logits], axis=1)
        return tf.reshape(tf.reduce_logsumexp(logits, axis=1) - true_logits, tf.shape(targets))


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
