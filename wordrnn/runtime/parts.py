"""Sampling from a mixture without adding its parts: what generation does at every word.

``Mixer.mix`` adds three (V,) vectors (network, cache, n-gram); a sampler needs one word, so it
can pick a part with probability equal to its weight and then a word from that part: the same
distribution, at the cost of one two-level draw (the network's or the cache's) or two n-gram
rows. ``PartsStream`` keeps one generated stream's mixer state in scalars and one private cache
vector updated in place, so a word costs no (V,)-sized NumPy work beyond the network's own step
and the draw: a cache that decays by d per word is stored unscaled, its true counts being the
stored ones times a running scale (d to the number of words read), and a draw needs only the
counts' proportions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wordrnn.runtime.draw import draw
from wordrnn.text.vocab import EOS_ID

_RESCALE = 1e-150  # fold the running scale back into the stored counts before it underflows


class PointerQuery:
    """The continuous cache's part of one distribution, worked out only when a draw picks it.

    ``keys`` (N * d) and ``words`` (N,) are the pairs held (any order), ``hidden`` (d,) the query.
    """

    def __init__(self, pointer: Any, hidden: np.ndarray, keys: np.ndarray, words: np.ndarray) -> None:
        self.pointer, self.hidden, self.keys, self.words = pointer, hidden, keys, words

    def attention(self) -> tuple[np.ndarray, np.ndarray]:
        """(word ids, weights summing to one) of the pairs held."""
        return self.pointer.attention(self.hidden, self.keys, self.words)


class MixtureParts:
    """One interpolated next-word distribution kept as its parts: weights (network, cache, n-gram, pointer).

    Args:
        net: (V,) network distribution.
        weights: the parts' weights, summing to one (a fourth, the continuous cache's, may be left out).
        cache: (V,) cache counts at any positive scale (``total`` at the same scale).
        ngram: the n-gram (unused when its weight is 0), ``history`` its (u, v) context.
        pointer: the continuous cache's ``PointerQuery`` (unused when its weight is 0).
    """

    def __init__(self, net: np.ndarray, weights: tuple[float, ...], cache: np.ndarray, total: float,
                 ngram: Any, history: tuple[int, int], pointer: PointerQuery | None = None) -> None:
        self.net, self.weights, self.cache, self.total = net, (*weights, 0.0)[:4], cache, total
        self.ngram, self.history, self.pointer = ngram, history, pointer

    def sample(self, rng: np.random.Generator) -> int:
        net, cache, ngram, pointed = self.weights
        pick = rng.random() * (net + cache + ngram + pointed)
        if pick < cache:
            return draw(self.cache, rng)
        if pick < cache + ngram:
            return self.ngram.sample(*self.history, rng)
        if pick < cache + ngram + pointed:
            words, weights = self.pointer.attention()
            return int(words[draw(weights, rng)])
        return draw(self.net, rng)

    def dense(self) -> np.ndarray:
        """The (V,) distribution itself (``Mixer.mix``), for samplers that reshape it (temperature...)."""
        net, cache, ngram, pointed = self.weights
        mixed = net * np.asarray(self.net, np.float64)
        if ngram:
            mixed += ngram * self.ngram.probabilities(np.array([self.history]))[0]
        if cache:
            mixed += cache * np.asarray(self.cache, np.float64) / self.total
        if pointed:
            words, weights = self.pointer.attention()
            np.add.at(mixed, words, pointed * weights)
        return mixed.astype(np.float32)


class PartsStream:
    """One stream of generation over a ``MixtureRunner``: ``parts`` is the next word's distribution,
    ``feed(word)`` reads a word (the network steps, the mixer advances in place).

    Starts from ``(probs, state)``: a session's next-word distribution (already mixed, so it is the
    first word's only part) and runner state, which it copies and never changes.
    """

    def __init__(self, runner: Any, probs: np.ndarray, state: list[np.ndarray]) -> None:
        self.base, self.mixer = runner.base, runner.mixer
        split = len(self.base.state_sizes)
        self.state = state[:split]
        self.hidden_index = runner.hidden_index
        history, cache, *pointer = state[split:]
        self.ring = PointerRing(self.mixer.pointer, pointer) if pointer else None
        self.history = (int(history[0, 0]), int(history[0, 1]))
        self.cache = np.array(cache[0], np.float64)  # true counts = stored ones * scale
        self.scale = 1.0
        self.total = float(self.cache.sum())
        self.parts = MixtureParts(np.asarray(probs).reshape(-1), (1.0, 0.0, 0.0), self.cache, self.total,
                                  self.mixer.ngram, self.history)

    def feed(self, word: int) -> None:
        if self.ring is not None:
            self.ring.add(self.state[self.hidden_index][0], word)
        probs, self.state = self.base.step(np.array([word]), self.state)
        decay = self.mixer.settings.cache_decay
        self.history = (self.history[1], word)
        self.scale *= decay
        self.total *= decay
        if word != EOS_ID:  # sentence ends carry no topic
            self.cache[word] += 1.0 / self.scale
            self.total += 1.0
        if self.scale < _RESCALE:
            self.cache *= self.scale
            self.scale = 1.0
        self.parts = self._parts(probs[0])

    def _parts(self, net: np.ndarray) -> MixtureParts:
        ring = self.ring
        weights = self.mixer.part_weights(*self.history, self.total, ring.held if ring is not None else 0)
        query = ring.query(self.state[self.hidden_index][0]) if ring is not None else None
        return MixtureParts(net, weights, self.cache, self.total / self.scale, self.mixer.ngram, self.history, query)


class PointerRing:
    """One generated stream's continuous-cache pairs, written in place over the oldest (order does not
    matter to the attention): a word costs one (d,) copy, and the attention is worked out only when drawn."""

    def __init__(self, pointer: Any, state: list[np.ndarray]) -> None:
        self.pointer = pointer
        self.keys = np.array(state[0][0], np.float32).reshape(pointer.size, pointer.units)
        self.words = np.array(state[1][0], np.float32)
        self.held = int((self.words >= 0).sum())
        self.next = 0  # the state keeps the oldest pair first

    def add(self, hidden: np.ndarray, word: int) -> None:
        if not hidden.any():  # a zero state read nothing (``Pointer.advance``)
            return
        self.held += self.words[self.next] < 0
        self.keys[self.next] = hidden
        self.words[self.next] = word
        self.next = (self.next + 1) % self.pointer.size

    def query(self, hidden: np.ndarray) -> PointerQuery:
        return PointerQuery(self.pointer, np.array(hidden), self.keys, self.words)
