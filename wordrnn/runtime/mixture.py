"""Interpolating a network's predictions with a word cache (and optionally the n-gram).

A text keeps coming back to its own words: a name, a topic, a term defined two
pages earlier. A *unigram cache* (Kuhn & De Mori, 1990) remembers the words of
the text so far with exponentially decaying counts and lends them probability:

    p(w) = (1 - a g - b) p_net(w) + a g p_cache(w) + b p_ngram(w | u v),   g = n / (n + K)

where n is the (decayed) number of words in the cache: a cache of a few words says
little, so its weight grows with what it holds (half at K = ``cache_fill`` words). On a
long text g is close to 1; for the handful of words typed before a suggestion it stays
small, so a short context is not echoed back. With an n-gram, a and b may differ from
context to context: each row takes the pair of the bucket its history count c(u v) falls in
(``mixture_settings``), so the trigram is trusted where it knows the history and not where
it backs off. The weights and the decay are fitted on development text after training
(``evaluation.interpolation``), stored in the model's manifest as ``"interpolation"`` (the
n-gram, when used, as a file next to the weights) and applied by ``MixtureRunner`` around
any step runner, so ``evaluate``, suggestions, generation and the REPL all predict with the
same distribution. The cache lives in the recurrent state as one extra (B, V) tensor
(and the n-gram's two-word history as a (B, 2) one), so priming fills it and a
fresh state empties it, like every other state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wordrnn.errors import ModelFormatError
from wordrnn.runtime.parts import MixtureParts, PartsStream, PointerQuery
from wordrnn.runtime.pointer import Pointer, top_hidden_index
from wordrnn.runtime.mixture_settings import Interpolation
from wordrnn.text.vocab import EOS_ID

DECAYS = (0.99, 0.995, 0.998)


class Mixer:
    """Turns network distributions into interpolated ones, with its own per-stream state.

    State: ``[history (B, 2), cache (B, V)]`` as float32, in that order (both present even when
    unused, so the layout never depends on the weights). ``advance`` reads the word just fed
    in; ``mix`` then blends the network's distribution for the next word.
    """

    def __init__(self, settings: Interpolation, vocab_size: int, ngram: Any = None, units: int = 0) -> None:
        if settings.needs_ngram and ngram is None:
            raise ModelFormatError("the model interpolates an n-gram but has no n-gram file; the model directory is damaged")
        if ngram is not None and ngram.vocab_size != vocab_size:
            raise ModelFormatError("the model's n-gram covers a different vocabulary; the model directory is damaged")
        self.settings = settings
        self.vocab_size = vocab_size
        self.ngram = ngram
        self.pointer = (Pointer(settings.pointer, settings.pointer_theta, settings.pointer_size, units)
                        if settings.uses_pointer else None)
        self.state_sizes = [2, vocab_size, *(self.pointer.state_sizes if self.pointer else ())]

    def zero_state(self, batch: int = 1) -> list[np.ndarray]:
        pointer = self.pointer.zero_state(batch) if self.pointer else []
        return [np.zeros((batch, 2), np.float32), np.zeros((batch, self.vocab_size), np.float32), *pointer]

    def advance(self, inputs: np.ndarray, state: list[np.ndarray], hidden: np.ndarray | None = None) -> list[np.ndarray]:
        """The state after reading ``inputs`` (B,) word ids (new arrays: a state may be kept for undo).

        ``hidden`` is the network's top hidden state *before* the inputs, (B, d): with a continuous
        cache, each row pairs it with the word that followed it.
        """
        history, cache = state[:2]
        inputs = np.asarray(inputs, np.int64).reshape(-1)
        shifted = np.empty_like(history)
        shifted[:, 0] = history[:, 1]
        shifted[:, 1] = inputs
        cache = cache * np.float32(self.settings.cache_decay)
        rows = np.flatnonzero(inputs != EOS_ID)  # sentence ends carry no topic
        cache[rows, inputs[rows]] += 1.0
        if self.pointer is None:
            return [shifted, cache]
        return [shifted, cache, *self.pointer.advance(hidden, inputs, state[2:])]

    def weights(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cache a, n-gram b) per row, (B,) each: the bucket of each row's history count, or the global pair."""
        counts = self.ngram.history_counts(history) if self.settings.edges else None
        return self.settings.row_weights(counts, len(history))

    def mix(self, probs: np.ndarray, state: list[np.ndarray], hidden: np.ndarray | None = None) -> np.ndarray:
        """Interpolated next-word distributions (B, V) from the network's (B, V), each row with its own weights.

        ``hidden`` is the network's top hidden state after the last input (B, d), the continuous
        cache's query.
        """
        if not self.settings.active:
            return probs
        history, cache = state[:2]
        history = history.astype(np.int64)
        a, b = self.weights(history)
        totals = cache.sum(axis=1, dtype=np.float64)
        share = cache_share(a, totals, self.settings.cache_fill)[:, None]  # a g, 0 while the cache is empty
        b = b[:, None]
        mixed = (1.0 - share - b) * np.asarray(probs, np.float64)
        if b.any():
            mixed += b * self.ngram.probabilities(history)
        if a.any():
            mixed += share * cache / np.maximum(totals, 1e-30)[:, None]
        if self.pointer is not None:
            pointed = self.pointer.share(self.pointer.held(state[2:]), self.settings.cache_fill)[:, None]
            if pointed.any():
                mixed *= 1.0 - pointed
                mixed += pointed * self.pointer.probabilities(hidden, state[2:], self.vocab_size)
        return mixed.astype(np.float32)

    def part_weights(self, u: int, v: int, total: float, held: int = 0) -> tuple[float, float, float, float]:
        """The weights of network, cache, n-gram and continuous cache for one stream with history (u, v),
        a cache holding ``total`` (decayed) words and ``held`` pointer pairs: ``mix``'s, worked out in scalars."""
        settings = self.settings
        if not settings.active:
            return 1.0, 0.0, 0.0, 0.0
        a, b = settings.weights_for(self.ngram.history_count(u, v) if settings.edges else None)
        share = a * total / max(total + settings.cache_fill, 1e-30) if total > 0 else 0.0  # ``cache_share``
        pointed = settings.pointer * held / (held + settings.cache_fill) if held else 0.0  # ``Pointer.share``
        keep = 1.0 - pointed
        return keep * (1.0 - share - b), keep * share, keep * b, pointed

    def parts(self, probs: np.ndarray, state: list[np.ndarray], hidden: np.ndarray | None = None) -> MixtureParts:
        """One stream's (V,) network distribution and mixer state as ``MixtureParts``."""
        history, cache = state[:2]
        u, v = int(history[0, 0]), int(history[0, 1])
        total = float(cache[0].sum())  # float32's pairwise sum: exact enough for counts below 1e4
        held = int(self.pointer.held(state[2:])[0]) if self.pointer is not None else 0
        query = None if self.pointer is None else PointerQuery(self.pointer, hidden[0], state[2][0], state[3][0])
        return MixtureParts(probs, self.part_weights(u, v, total, held), cache[0], total, self.ngram, (u, v), query)


class MixtureRunner:
    """A step runner that interpolates another runner's word distributions (see ``Mixer``).

    Its state is the wrapped runner's state followed by the mixer's.
    """

    def __init__(self, base: Any, mixer: Mixer) -> None:
        self.base = base
        self.mixer = mixer
        self.input_kind = base.input_kind
        self.name = f"{getattr(base, 'name', 'runner')}+interpolation"
        self._split = len(base.state_sizes)
        self.state_sizes = [*base.state_sizes, *mixer.state_sizes]
        self.hidden_index = (top_hidden_index(base.config.cell, base.config.layers)
                             if mixer.pointer is not None else 0)  # unused without a continuous cache

    def __getattr__(self, name: str) -> Any:  # config, model... of the wrapped runner
        return getattr(self.__dict__["base"], name)

    def zero_state(self, batch: int = 1) -> list[np.ndarray]:
        return [*self.base.zero_state(batch), *self.mixer.zero_state(batch)]

    def step(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        probs, base_state = self.base.step(inputs, state[: self._split])
        mix_state = self.mixer.advance(inputs, state[self._split:], state[self.hidden_index])
        mixed = self.mixer.mix(probs, mix_state, base_state[self.hidden_index])
        return mixed, [*base_state, *mix_state]

    def parts_stream(self, probs: np.ndarray, state: list[np.ndarray]) -> PartsStream:
        """A stream of generation from ``(probs, state)`` whose distributions are kept as parts (for sampling)."""
        return PartsStream(self, probs, state)

    def sequence(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Every step's distribution for (B, T) inputs: the network runs the window at once, or step by
        step when the continuous cache needs every step's hidden state."""
        if self.mixer.pointer is not None:
            mixed = np.empty((*inputs.shape, self.mixer.vocab_size), np.float32)
            for t in range(inputs.shape[1]):
                mixed[:, t], state = self.step(inputs[:, t], state)
            return mixed, state
        probs, base_state = self.base.sequence(inputs, state[: self._split])
        mix_state = state[self._split:]
        mixed = np.empty(probs.shape, np.float32)
        for t in range(inputs.shape[1]):
            mix_state = self.mixer.advance(inputs[:, t], mix_state)
            mixed[:, t] = self.mixer.mix(probs[:, t], mix_state)
        return mixed, [*base_state, *mix_state]


def load_mixer(saved: Any) -> Mixer | None:
    """The mixer a model directory asks for (None when it interpolates nothing)."""
    data = saved.manifest.get("interpolation")
    if data is None or saved.vocab is None:
        return None
    settings = Interpolation.from_json(data)
    if not settings.active:
        return None
    ngram = None
    if settings.needs_ngram:
        from wordrnn.runtime.ngram import KneserNey

        ngram = KneserNey.from_arrays(saved.read_arrays("ngram"))
    return Mixer(settings, len(saved.vocab), ngram, saved.model_config.units)


def wrap(runner: Any, saved: Any) -> Any:
    """``runner`` wrapped in the model's interpolation, or unchanged when it has none."""
    mixer = load_mixer(saved)
    return runner if mixer is None else MixtureRunner(runner, mixer)


def cache_share(weight: float, totals: np.ndarray, fill: float) -> np.ndarray:
    """The cache's effective weight ``a n / (n + K)`` for caches holding ``totals`` (decayed) words."""
    totals = np.asarray(totals, np.float64)
    return weight * totals / np.maximum(totals + fill, 1e-30)


def cache_probabilities(ids: np.ndarray, decay: float) -> tuple[np.ndarray, np.ndarray]:
    """p_cache(target) and the cache's size at every position of a stream, without full vectors.

    ``ids`` are the inputs fed in order, from an empty cache; entry t describes the cache after
    reading ``ids[: t + 1]`` and its probability of ``ids[t + 1]`` (0 while it is empty).
    What ``Mixer`` computes, one target at a time.
    """
    ids = np.asarray(ids, np.int64)
    probs = np.zeros(max(len(ids) - 1, 0))
    totals = np.zeros_like(probs)
    value: dict[int, tuple[float, int]] = {}
    total = 0.0
    for t in range(len(ids) - 1):
        word = int(ids[t])
        if word != EOS_ID:
            old, last = value.get(word, (0.0, t))
            value[word] = (old * decay ** (t - last) + 1.0, t)
        total = total * decay + (word != EOS_ID)
        totals[t] = total
        if total > 0:
            old, last = value.get(int(ids[t + 1]), (0.0, t))
            probs[t] = old * decay ** (t - last) / total
    return probs, totals


def fit_weights(net: np.ndarray, cache: np.ndarray | None = None, fill_share: np.ndarray | None = None,
                ngram: np.ndarray | None = None) -> tuple[float, float, float]:
    """Weights (cache a, n-gram b) that maximise the likelihood of the targets; returns (a, b, perplexity).

    Each argument holds the targets' probabilities under one model; ``fill_share`` is the
    cache's ``n / (n + K)`` per position. A grid search (steps of 0.01 and 0.02): the
    likelihood is smooth in both weights and the grid is cheap next to running the network.
    """
    net = np.asarray(net, np.float64)
    cache_term = np.zeros_like(net) if cache is None else np.asarray(fill_share) * (np.asarray(cache) - net)
    ngram_term = np.zeros_like(net) if ngram is None else np.asarray(ngram, np.float64) - net
    cache_grid = np.arange(0.0, 0.61, 0.01) if cache is not None else np.zeros(1)
    ngram_grid = np.arange(0.0, 0.91, 0.02) if ngram is not None else np.zeros(1)
    best = (np.inf, 0.0, 0.0)
    for b in ngram_grid:
        base = net + b * ngram_term
        for a in cache_grid:
            if a + b >= 1:
                continue
            nll = -np.log(np.maximum(base + a * cache_term, 1e-300)).mean()
            if nll < best[0]:
                best = (nll, float(a), float(b))
    return best[1], best[2], float(np.exp(best[0]))
