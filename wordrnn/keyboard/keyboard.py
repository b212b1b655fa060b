"""Typing line after line with live suggestions: what a suggestion bar runs on every keystroke.

``Keyboard`` keeps a ``Session`` in step with the line being typed (the committed context plus
the line's finished words): a keystroke costs at most one model step per changed word, and
committing a line reuses those steps, so the history is never recomputed, nor carried: after a
line only the recurrent state is kept, so a line costs the same in a session of any length. An
optional ``adapt.AdaptationCache`` learns from every committed line and is mixed into the suggestions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from wordrnn.keyboard.adapt import AdaptationCache, Distribution
from wordrnn.errors import WordRNNWarning
from wordrnn.predict.predictor import Predictor, Session
from wordrnn.text.tokenizer import EOS
from wordrnn.text.vocab import UNK_ID


@dataclass(frozen=True)
class Suggestions:
    """What the bar shows for typed text: the partial word, the ranked words, unknown finished words."""

    prefix: str
    words: list[tuple[str, float]]
    unknown: tuple[str, ...] = ()


class Keyboard:
    """Incremental suggestions for a person typing line after line, adapted to what they typed.

    ``suggest(line)`` keeps a ``Session`` in step with the line being typed (``committed
    context + the line's finished words``); ``commit(line)`` feeds the rest of the line and
    ``</s>`` and makes it the context, reusing the steps already run (no history is recomputed).
    ``context`` is a ``Session.continued`` one: the committed text is in its state, not its words.
    """

    def __init__(self, predictor: Predictor, cache: AdaptationCache | None = None) -> None:
        self.predictor = predictor
        self.cache = cache
        self.lines: list[str] = []
        self.reset()

    def reset(self) -> None:
        """Back to the start of a text: empty context, no committed lines (the cache is kept)."""
        self.context: Session = self.predictor.session()
        self.line: Session = self.context.copy()
        self.lines = []
        self._changed()

    def _changed(self) -> None:
        self._distribution: tuple[int, Distribution] | None = None  # (cache version, distribution)
        self._memo: tuple[Any, Suggestions] | None = None

    def _sync(self, words: list[str]) -> None:
        with warnings.catch_warnings():  # unknown words are reported in ``Suggestions.unknown``
            warnings.simplefilter("ignore", WordRNNWarning)
            changed = self.line.sync_words(words, base=len(self.context))
        if changed:
            self._changed()

    def distribution(self) -> Distribution:
        """The (adapted) next-word distribution after the context and the line's finished words."""
        version = self.cache.version if self.cache is not None else 0
        if self._distribution is None or self._distribution[0] != version:
            probs = self.line.visible_probabilities()
            previous = self.line.last_word or EOS
            self._distribution = (version, self.cache.adapt(probs, previous) if self.cache is not None
                                  else Distribution(probs.astype(np.float64), {}, self.predictor.vocab))
        return self._distribution[1]

    def suggest(self, text: str, k: int = 3) -> Suggestions:
        """Suggestions for ``text``, the current line up to the cursor (see ``Predictor.suggest``)."""
        key = (text, k, self.cache.version if self.cache is not None else 0)
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        words, prefix = self.predictor.tokenizer.split_context(text)
        self._sync(words)
        vocab = self.predictor.vocab
        unknown = tuple(dict.fromkeys(w for w in words if w != EOS and vocab.lookup(w) == UNK_ID))
        typed = text[len(text) - len(prefix):] if prefix else ""
        ranked = self.distribution().rank(prefix, k, self.line.lexicon() if prefix else None, typed)
        result = Suggestions(prefix, ranked, unknown)
        self._memo = (key, result)
        return result

    def commit(self, line: str) -> list[str]:
        """Make ``line`` part of the context (its words, then ``</s>``) and learn from it; returns what was fed."""
        words = self.predictor.tokenizer.tokenize(line)
        self._sync(words)
        if words and words[-1] != EOS:
            self.line.feed(EOS)
            words = [*words, EOS]
        self.context = self.line.continued()  # the context lives on in the state: no history is copied
        self.line = self.context.copy()
        self.lines.append(line)
        if self.cache is not None:
            self.cache.observe(words)
        self._changed()
        return words

    def forget(self) -> None:
        """Empty the adaptation cache (the context is kept)."""
        if self.cache is not None:
            self.cache.clear()
        self._changed()

    def text(self) -> str:
        """The committed lines as one text (what ``:save`` writes)."""
        return "".join(f"{line}\n" for line in self.lines)
