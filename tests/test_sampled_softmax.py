"""The sampled-softmax loss written out for XLA: the same figures as TensorFlow's, and it compiles."""

from __future__ import annotations

import numpy as np
import pytest

from wordrnn.nn.tfimport import tensorflow

tf = tensorflow()

from wordrnn.config import ModelConfig, TrainConfig  # noqa: E402
from wordrnn.nn.model import SampledSoftmaxLoss, build_model, sampled_softmax_training, state_sizes  # noqa: E402
from wordrnn.train.batching import StreamBatches  # noqa: E402
from wordrnn.train.engine import Engine  # noqa: E402

VOCAB, WIDTH = 120, 8


def _loss_and_reference(labels: np.ndarray, seed: int = 0):
    """Our loss and ``tf.nn.sampled_softmax_loss`` on one draw of samples shared by both."""
    rng = np.random.default_rng(seed)
    weights = tf.constant(rng.normal(size=(VOCAB, WIDTH)), tf.float32)
    bias = tf.constant(rng.normal(size=(VOCAB,)), tf.float32)
    hidden = tf.constant(rng.normal(size=(*labels.shape, WIDTH)), tf.float32)
    ours = SampledSoftmaxLoss(lambda ids: tf.gather(weights, ids), bias, VOCAB, 20)
    tf.random.set_seed(seed)
    sampled, true_expected, expected = tf.random.log_uniform_candidate_sampler(
        true_classes=tf.reshape(tf.constant(labels, tf.int64), (-1, 1)), num_true=1, num_sampled=20, unique=True,
        range_max=VOCAB)
    reference = tf.nn.sampled_softmax_loss(weights, bias, tf.reshape(tf.constant(labels, tf.int64), (-1, 1)),
                                           tf.reshape(hidden, (-1, WIDTH)), 20, VOCAB,
                                           sampled_values=(sampled, true_expected, expected))
    rarest = int(np.argmax(sampled))
    p = (np.log(float(sampled[rarest]) + 2.0) - np.log(float(sampled[rarest]) + 1.0)) / np.log(VOCAB + 1.0)
    tries = np.log1p(-float(expected[rarest])) / np.log1p(-p)
    ours._drawn = [tf.Variable(sampled), tf.Variable(expected), tf.Variable(tf.constant(tries, tf.float64))]
    return ours(tf.constant(labels), hidden).numpy(), reference.numpy().reshape(labels.shape), true_expected


def test_same_loss_as_tensorflow_including_accidental_hits():
    labels = np.array([[0, 1, 2, 3, 5], [8, 13, 40, 77, 119]], dtype=np.int32)  # frequent ids are sampled: hits
    ours, reference, _ = _loss_and_reference(labels)
    assert ours.shape == labels.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)


def test_expected_counts_follow_from_the_number_of_tries():
    """The sampler reveals its tries through the sampled words' counts; the true words' counts follow."""
    labels = np.arange(VOCAB, dtype=np.int64).reshape(1, -1)
    _, _, true_expected = _loss_and_reference(labels.astype(np.int32), seed=3)
    loss = SampledSoftmaxLoss(lambda ids: ids, tf.zeros(VOCAB), VOCAB, 20)
    sampled, expected, tries = loss.draw()
    assert 20 <= float(tries) < 10_000
    p = (np.log(np.arange(VOCAB) + 2.0) - np.log(np.arange(VOCAB) + 1.0)) / np.log(VOCAB + 1.0)
    mine = -np.expm1(float(tries) * np.log1p(-p))
    np.testing.assert_allclose(mine[sampled.numpy()], expected.numpy(), rtol=1e-4)


@pytest.mark.parametrize("tied", [True, False])
def test_xla_engine_trains_with_a_sampled_softmax(tied):
    """--xla with --sampled-softmax used to fail: the sampler op has no XLA kernel. Now the loss falls."""
    import keras

    keras.utils.set_random_seed(0)
    config = ModelConfig(vocab_size=VOCAB, units=16, embedding=8, tied=tied)
    model = build_model(config)
    train_model, train_loss = sampled_softmax_training(model, config, 16)
    engine = Engine(model, None, TrainConfig(batch_size=4, window=6, xla=True, learning_rate=0.01),
                    state_sizes(config), train_model, train_loss)
    assert engine._before_step is not None  # samples are drawn outside the compiled step
    ids = (np.arange(4 * 6 * 20 + 1) * 7 % 30).astype(np.int32)  # a short repeating pattern to learn
    batches = StreamBatches(ids, 4, 6)
    losses = []
    for _ in range(6):
        states = engine.zero_states(4)
        total = count = 0.0
        for k in range(batches.num_windows):
            t, c, states = engine.train_window(*batches.batch(k), states)
            total, count = total + float(t), count + float(c)
        losses.append(total / count)
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0]
