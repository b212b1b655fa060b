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


class MixtureParts:
    """One interpolated next-word distribution kept as its parts: weights (network, cache, n-gram).

    Args:
        net: (V,) network distribution.
        weights: the three parts' weights, summing to one.
        cache: (V,) cache counts at any positive scale (``total`` at the same scale).
        ngram: the n-gram (unused when its weight is 0), ``history`` its (u, v) context.
    """

    def __init__(self, net: np.ndarray, weights: tuple[float, float, float], cache: np.ndarray, total: float,
                 ngram: Any, history: tuple[int, int]) -> None:
        self.net, self.weights, self.cache, self.total = net, weights, cache, total
        self.ngram, self.history = ngram, history

    def sample(self, rng: np.random.Generator) -> int:
        net, cache, ngram = self.weights
        pick = rng.random() * (net + cache + ngram)
        if pick < cache:
            return draw(self.cache, rng)
        if pick < cache + ngram:
            return self.ngram.sample(*self.history, rng)
        return draw(self.net, rng)

    def dense(self) -> np.ndarray:
        """The (V,) distribution itself (``Mixer.mix``), for samplers that reshape it (temperature...)."""
        net, cache, ngram = self.weights
        mixed = net * np.asarray(self.net, np.float64)
        if ngram:
            mixed += ngram * self.ngram.probabilities(np.array([self.history]))[0]
        if cache:
            mixed += cache * np.asarray(self.cache, np.float64) / self.total
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
        history, cache = state[split:]
        self.history = (int(history[0, 0]), int(history[0, 1]))
        self.cache = np.array(cache[0], np.float64)  # true counts = stored ones * scale
        self.scale = 1.0
        self.total = float(self.cache.sum())
        self.parts = MixtureParts(np.asarray(probs).reshape(-1), (1.0, 0.0, 0.0), self.cache, self.total,
                                  self.mixer.ngram, self.history)

    def feed(self, word: int) -> None:
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
        weights = self.mixer.part_weights(*self.history, self.total)
        return MixtureParts(net, weights, self.cache, self.total / self.scale, self.mixer.ngram, self.history)
