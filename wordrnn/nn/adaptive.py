"""The adaptive softmax (Grave et al. 2017, "Efficient softmax approximation for GPUs"): a normalised
distribution over the whole vocabulary, trained on its exact likelihood (nothing sampled), that
costs a fraction of a full softmax to train.

Word ids are ordered by frequency, so the ``head`` most frequent words cover most of the text. The
head softmax scores those words at full width plus one entry per *tail cluster*; each cluster holds
a band of rarer words, scored at a narrower width (a quarter of the previous band's) after a
projection. A word's probability is its head probability, or its cluster's head probability times
its probability within the cluster, so the distribution sums to one. The head and the bands grow
by 4x (``size.adaptive_clusters``): with a head of 2,000 words over 17.7k, clusters hold ids
2,000-8,000 (width 24 of 96) and 8,000-17,714 (width 6).

Training (``AdaptiveSoftmaxLoss``) scores each position's head and only the cluster its target
falls in, so the rare bands cost in proportion to how often they occur: what makes it cheap. The
layer's ``call`` returns the full vocabulary's log-probabilities, which every consumer of logits
(validation, the LiteRT export, prediction) reads unchanged: the softmax of log-probabilities is
the distribution itself.

With tied embeddings the head scores words with their embedding rows and each cluster with its
embedding rows mapped to the cluster's width, so the embedding stays the model's one word table.
"""

from __future__ import annotations

from wordrnn.nn.tfimport import tensorflow

tf = tensorflow()
from keras import layers, ops  # noqa: E402  (after the quiet TensorFlow import)

from wordrnn.nn.size import adaptive_clusters  # noqa: E402


class AdaptiveOutput(layers.Layer):
    """Log-probabilities of every word from a hidden state, by the adaptive softmax.

    Args:
        vocab_size: words in the vocabulary (ids in frequency order).
        head: how many of the most frequent words the head scores directly.
        embedding: the embedding layer to tie to (its width must be the hidden width), or None.
    """

    def __init__(self, vocab_size: int, head: int, embedding: layers.Embedding | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.head = int(vocab_size), min(int(head), int(vocab_size))
        self.embedding = embedding

    def build(self, input_shape) -> None:
        width = int(input_shape[-1])
        self.bands = adaptive_clusters(self.vocab_size, self.head, width)
        entries = self.head + len(self.bands)
        if self.embedding is None:
            self.head_kernel = self.add_weight(shape=(width, self.head), initializer="glorot_uniform", name="head_kernel")
        self.cluster_kernel = self.add_weight(shape=(width, len(self.bands)), initializer="glorot_uniform",
                                              name="cluster_kernel") if self.bands else None
        self.head_bias = self.add_weight(shape=(entries,), initializer="zeros", name="head_bias")
        self.tails = []
        for index, (start, end, band_width) in enumerate(self.bands):
            projection = self.add_weight(shape=(width, band_width), initializer="glorot_uniform",
                                         name=f"tail_{index}_projection")
            if self.embedding is None:  # (band_width, words): the band's own output rows
                rows = self.add_weight(shape=(band_width, end - start), initializer="glorot_uniform", name=f"tail_{index}_kernel")
            else:  # (embedding, band_width): maps the band's embedding rows to its width
                rows = self.add_weight(shape=(width, band_width), initializer="glorot_uniform", name=f"tail_{index}_map")
            bias = self.add_weight(shape=(end - start,), initializer="zeros", name=f"tail_{index}_bias")
            self.tails.append((projection, rows, bias))
        super().build(input_shape)

    def head_logits(self, hidden):
        """Scores of the head's words and of each cluster ``(..., head + clusters)``."""
        if self.embedding is None:
            words = ops.matmul(hidden, self.head_kernel)
        else:
            words = ops.matmul(hidden, ops.transpose(self.embedding.embeddings[: self.head]))
        if self.cluster_kernel is not None:
            words = ops.concatenate([words, ops.matmul(hidden, self.cluster_kernel)], axis=-1)
        return words + self.head_bias

    def tail_logits(self, hidden, index: int):
        """Scores of cluster ``index``'s words ``(..., words in the band)``, given the band's hidden states."""
        projection, rows, bias = self.tails[index]
        if self.embedding is None:
            out = rows
        else:
            start, end, _ = self.bands[index]
            out = ops.transpose(ops.matmul(self.embedding.embeddings[start:end], rows))
        return ops.matmul(ops.matmul(hidden, projection), out) + bias

    def call(self, inputs):
        head = ops.log_softmax(self.head_logits(inputs), axis=-1)
        parts = [head[..., : self.head]]
        for index in range(len(self.bands)):
            cluster = head[..., self.head + index: self.head + index + 1]
            parts.append(cluster + ops.log_softmax(self.tail_logits(inputs, index), axis=-1))
        return ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


class AdaptiveSoftmaxLoss:
    """Per-position negative log-likelihood ``(targets, hidden) -> (B, T)`` under an ``AdaptiveOutput``.

    Exactly ``-log p(target)`` of the layer's full distribution, but each cluster's softmax is
    computed only for the positions whose target lies in it (gathered, then scattered back). XLA
    needs static shapes, so with ``dense=True`` (the engine's ``--xla``) every cluster is computed
    for every position and the target's cluster selected: the same values, less saving.
    Being exact (``exact``), the engine validates with it too, instead of the full output.
    """

    exact = True

    def __init__(self, output: AdaptiveOutput, dense: bool = False) -> None:
        self.output, self.dense = output, dense

    def __call__(self, targets, hidden):
        layer = self.output
        labels = tf.reshape(tf.cast(targets, tf.int32), (-1,))
        flat = tf.reshape(hidden, (-1, hidden.shape[-1]))
        starts = tf.constant([start for start, _, _ in layer.bands] or [layer.vocab_size], tf.int32)
        band = tf.reduce_sum(tf.cast(labels[:, None] >= starts[None, :], tf.int32), axis=1)  # 0: the head
        head_index = tf.where(band == 0, labels, layer.head + band - 1)
        loss = -tf.gather(tf.nn.log_softmax(layer.head_logits(flat)), head_index, batch_dims=1)
        for index, (start, end, _) in enumerate(layer.bands):
            inside = band == index + 1
            if self.dense:
                within = tf.clip_by_value(labels - start, 0, end - start - 1)
                picked = tf.gather(tf.nn.log_softmax(layer.tail_logits(flat, index)), within, batch_dims=1)
                loss -= tf.where(inside, picked, tf.zeros_like(picked))
                continue
            rows = tf.where(inside)[:, 0]
            picked = tf.gather(tf.nn.log_softmax(layer.tail_logits(tf.gather(flat, rows), index)),
                               tf.gather(labels, rows) - start, batch_dims=1)
            loss = tf.tensor_scatter_nd_sub(loss, rows[:, None], picked)
        return tf.reshape(loss, tf.shape(targets))

