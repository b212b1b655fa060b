"""Session adaptation: a cache of the user's own words and word pairs, mixed into the model's predictions.

People keep coming back to their own words (names, terms, phrases) that a model trained on other
text ranks low or does not know at all. A cache of what they typed can (Kuhn & De Mori, 1990).
``AdaptationCache`` keeps recency-weighted counts ``c`` of the words typed (every count fades by
``decay`` per word typed) and of word pairs, and predicts

    p(w | h) = (1 - a) p_model(w | h) + a p_cache(w | v)              (v: the previous word)
    p_cache(w | v) = (c(v, w) + b p_uni(w)) / (c(v) + b),   p_uni(w) = c(w) / sum of all c

with ``a`` the adaptation weight and the pair counts smoothed towards the word counts with
strength ``b`` (``PAIR_PRIOR``). Words the vocabulary lacks are learned too and offered with their
cache share (``keyboard.Keyboard`` applies it while a person types). Nothing here writes a file
unless asked (``save``): what people type can be private.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.durable import write_durable
from wordrnn.errors import AdaptCacheError, ConfigError, option
from wordrnn.keyboard.cachefile import FORMAT, VERSION, read_cache_file, validated
from wordrnn.predict.ranking import open_candidates, rank
from wordrnn.text.lexicon import Lexicon
from wordrnn.text.tokenizer import EOS, MAX_TOKEN_CHARS
from wordrnn.text.vocab import SPECIALS, UNK_ID, Vocabulary

DEFAULT_WEIGHT = 0.2
DEFAULT_DECAY = 0.998  # per word typed: a word typed 350 words ago counts half
PAIR_PRIOR = 1.0
MAX_NEW_WORDS = 5000  # words outside the vocabulary kept (the weakest are dropped beyond)
MAX_CONTEXTS = 20000  # previous words with pair counts
MAX_FOLLOWERS = 200  # next words kept per previous word
_LETTER = re.compile(r"\w")
_RESCALE_BELOW = 1e-200


def check_weight(weight: float) -> float:
    """Validate the cache's share of the suggestions (before any model is loaded).

    Adaptation is turned off by having no cache at all (``Keyboard(predictor, cache=None)``).
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < 1:
        raise ConfigError(f"{option('weight')} must be above 0 and below 1, got {weight!r} "
                          f"(use {option('cache', None)} to turn it off)")
    return float(weight)


def _starts(word: str, prefix: str) -> bool:
    """``Vocabulary.prefix_ids``'s rule for one word: case-insensitive unless the prefix has capitals."""
    return word.casefold().startswith(prefix.casefold()) and (prefix == prefix.lower() or word.startswith(prefix))


@dataclass(frozen=True)
class Distribution:
    """A next-word distribution over the vocabulary (``probs``) plus words it lacks (``extra``)."""

    probs: np.ndarray
    extra: dict[str, float]
    vocab: Vocabulary

    def rank(self, prefix: str = "", k: int = 3, lexicon: Lexicon | None = None,
             typed: str | None = None) -> list[tuple[str, float]]:
        """The ``k`` best suggestions, exactly as ``ranking.rank`` ranks, with the cache's new words
        and the lexicon's (both outside the vocabulary) competing for a prefix."""
        extra = {w: p for w, p in self.extra.items() if _starts(w, prefix)}
        mass = sum(extra.values())
        found, lexicon_mass = open_candidates(self.probs, lexicon, prefix, k)
        for word, p in found.items():
            extra[word] = extra.get(word, 0.0) + p
        return rank(self.probs, self.vocab, prefix, k, extra, mass + lexicon_mass, typed)


class AdaptationCache:
    """Recency-weighted word and word-pair counts of typed text (see the module docstring).

    Counts are stored divided by a running scale (``decay`` ** words typed), so fading every
    count costs one multiplication per word instead of touching each of them.

    Args:
        vocab: the model's vocabulary (known words are counted under its spelling).
        weight: the cache's share ``a`` of the mixed distribution, in (0, 1).
        decay: how much every count keeps per word typed, in (0, 1].
    """

    def __init__(self, vocab: Vocabulary, weight: float = DEFAULT_WEIGHT, decay: float = DEFAULT_DECAY) -> None:
        if not 0 < decay <= 1:
            raise ConfigError(f"the cache decay must be above 0 and at most 1, got {decay!r}")
        self.vocab = vocab
        self.weight = check_weight(weight)
        self.decay = float(decay)
        self.version = 0  # changes whenever the predictions would
        self.clear()

    def clear(self) -> None:
        """Forget everything learned."""
        self._words = np.zeros(len(self.vocab))  # stored counts of vocabulary words
        self._new: dict[str, float] = {}  # stored counts of words outside the vocabulary
        self._pairs: dict[str, dict[str, float]] = {}  # previous word -> next word -> stored count
        self._pair_totals: dict[str, float] = {}
        self._total = 0.0
        self._scale = 1.0
        self._previous = EOS
        self.version += 1

    def __len__(self) -> int:
        """How many different words it has learned."""
        return int(np.count_nonzero(self._words)) + len(self._new)

    def canonical(self, word: str) -> str:
        """The spelling a word is counted under: the vocabulary's (``i`` -> ``I``) or as typed."""
        word_id = self.vocab.lookup(word)
        return self.vocab.words[word_id] if word_id != UNK_ID else word

    def learnable(self, word: str) -> bool:
        """Vocabulary words and new words with a letter or digit (never ``</s>``/``<unk>``)."""
        if word in SPECIALS:
            return False
        return word in self.vocab or (len(word) <= MAX_TOKEN_CHARS and _LETTER.search(word) is not None)

    def observe(self, words: Iterable[str]) -> None:
        """Learn from typed words in order (``</s>`` ends a line: the next word starts one)."""
        for word in words:
            key = self.canonical(word)
            if self.learnable(key):
                self._scale *= self.decay
                add = 1.0 / self._scale
                word_id = self.vocab.id(key)
                if word_id != UNK_ID:
                    self._words[word_id] += add
                else:
                    self._new[key] = self._new.get(key, 0.0) + add
                self._total += add
                followers = self._pairs.setdefault(self._previous, {})
                followers[key] = followers.get(key, 0.0) + add
                self._pair_totals[self._previous] = self._pair_totals.get(self._previous, 0.0) + add
                if len(followers) > MAX_FOLLOWERS:
                    self._prune_followers(self._previous)
                if self._scale < _RESCALE_BELOW:
                    self._rescale()
            self._previous = key
        self._prune()
        self.version += 1

    def adapt(self, probs: np.ndarray, previous: str = EOS) -> Distribution:
        """The mixed distribution after ``previous`` given the model's (V,) ``probs``."""
        probs = np.asarray(probs, np.float64).reshape(-1)
        if self._total <= 0:
            return Distribution(probs, {}, self.vocab)
        a, total = self.weight, self._total
        words = self._words * (a / total)
        new = {w: c * (a / total) for w, c in self._new.items()}
        previous = self.canonical(previous)
        followers = self._pairs.get(previous)
        if followers:
            count = self._pair_totals[previous] * self._scale
            words *= PAIR_PRIOR / (count + PAIR_PRIOR)
            new = {w: p * (PAIR_PRIOR / (count + PAIR_PRIOR)) for w, p in new.items()}
            share = a * self._scale / (count + PAIR_PRIOR)
            for word, c in followers.items():
                word_id = self.vocab.id(word)
                if word_id != UNK_ID:
                    words[word_id] += c * share
                else:
                    new[word] = new.get(word, 0.0) + c * share
        return Distribution((1.0 - a) * probs + words, new, self.vocab)

    def _rescale(self) -> None:
        s = self._scale
        self._words *= s
        self._new = {w: c * s for w, c in self._new.items()}
        self._pairs = {v: {w: c * s for w, c in f.items()} for v, f in self._pairs.items()}
        self._pair_totals = {v: c * s for v, c in self._pair_totals.items()}
        self._total *= s
        self._scale = 1.0

    def _prune_followers(self, previous: str) -> None:
        followers = self._pairs[previous]
        keep = sorted(followers.items(), key=lambda wc: -wc[1])[: MAX_FOLLOWERS * 4 // 5]
        self._pairs[previous] = dict(keep)
        self._pair_totals[previous] = sum(c for _, c in keep)

    def _prune(self) -> None:
        if len(self._new) > MAX_NEW_WORDS:
            keep = dict(sorted(self._new.items(), key=lambda wc: -wc[1])[: MAX_NEW_WORDS * 4 // 5])
            self._total -= sum(c for w, c in self._new.items() if w not in keep)
            self._new = keep
        if len(self._pairs) > MAX_CONTEXTS:
            kept = sorted(self._pair_totals, key=self._pair_totals.__getitem__, reverse=True)[: MAX_CONTEXTS * 4 // 5]
            self._pairs = {v: self._pairs[v] for v in kept}
            self._pair_totals = {v: self._pair_totals[v] for v in kept}

    def to_json(self) -> dict[str, Any]:
        """Counts by spelling (portable between models); faded-out entries are left out."""
        s = self._scale
        words = {self.vocab.words[i]: float(self._words[i] * s) for i in np.flatnonzero(self._words)}
        words.update((w, c * s) for w, c in self._new.items())
        pairs = {v: {w: c * s for w, c in f.items() if c * s > 1e-9} for v, f in self._pairs.items()}
        return {"format": FORMAT, "version": VERSION, "words": {w: round(c, 9) for w, c in words.items() if c > 1e-9},
                "pairs": {v: {w: round(c, 9) for w, c in f.items()} for v, f in pairs.items() if f}}

    @classmethod
    def from_json(cls, data: Any, vocab: Vocabulary, weight: float = DEFAULT_WEIGHT, decay: float = DEFAULT_DECAY,
                  source: str = "the cache") -> AdaptationCache:
        """A cache from ``to_json``'s data; raises ``AdaptCacheError`` for anything else."""
        words, pairs = validated(data, source)
        cache = cls(vocab, weight, decay)
        for word, count in words.items():
            key = cache.canonical(word)
            if cache.learnable(key):
                word_id = vocab.id(key)
                if word_id != UNK_ID:
                    cache._words[word_id] += count
                else:
                    cache._new[key] = cache._new.get(key, 0.0) + count
                cache._total += count
        for previous, followers in pairs.items():
            merged = cache._pairs.setdefault(cache.canonical(previous), {})
            for word, count in followers.items():
                key = cache.canonical(word)
                if cache.learnable(key):
                    merged[key] = merged.get(key, 0.0) + count
        cache._pairs = {v: f for v, f in cache._pairs.items() if f}
        cache._pair_totals = {v: sum(f.values()) for v, f in cache._pairs.items()}
        for previous in [v for v, f in cache._pairs.items() if len(f) > MAX_FOLLOWERS]:
            cache._prune_followers(previous)
        cache._prune()
        return cache

    def save(self, path: str | Path) -> None:
        """Write the cache as JSON, atomically, readable by the user only (mode 0600)."""
        try:
            write_durable(path, json.dumps(self.to_json(), ensure_ascii=False).encode("utf-8"), private=True)
        except OSError as exc:
            raise AdaptCacheError(f"cannot write the cache {path}: {exc.strerror or exc}; "
                                  "check the directory and free space") from None

    @classmethod
    def load(cls, path: str | Path, vocab: Vocabulary, weight: float = DEFAULT_WEIGHT,
             decay: float = DEFAULT_DECAY) -> AdaptationCache:
        """The cache saved at ``path``, or an empty one when the file does not exist yet."""
        data = read_cache_file(path)
        if data is None:
            return cls(vocab, weight, decay)
        return cls.from_json(data, vocab, weight, decay, source=str(path))
