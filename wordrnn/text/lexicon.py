"""Open-vocabulary completion: the words a person may type beyond the model's vocabulary.

A network predicts over a fixed vocabulary; everything else is ``<unk>``. A keyboard must still
complete any word its user starts typing, so a model directory may carry a *lexicon*: a large
list of words outside its vocabulary with their relative frequencies (a maintained frequency
list such as ``wordfreq``'s, plus the rarer words of the training text). The ``<unk>`` mass is
spread over it::

    p(w | context) = p(<unk> | context) * p_lexicon(w | w not in the vocabulary)

so vocabulary words and lexicon words remain one probability distribution, and a typed prefix
ranks both together (``Lexicon.completions``). Lexicon words are stored case-folded; the
vocabulary decides which words are "known" with its own case rule (``Vocabulary.lookup``).
"""

from __future__ import annotations

import bisect
import io
import operator
import re
from collections.abc import Iterable, Mapping

import numpy as np

from wordrnn.errors import ModelFormatError
from wordrnn.text.vocab import UNK_ID, Vocabulary

MAX_WORD_CHARS = 40
_WORD = re.compile(r"^[^\W\d_][\w'\-.]*$")  # starts with a letter; no spaces, no markup


def typeable(word: str) -> bool:
    """A word worth offering: starts with a letter, no spaces or symbols, not absurdly long."""
    return len(word) <= MAX_WORD_CHARS and _WORD.match(word) is not None


class Lexicon:
    """Words outside a vocabulary with p(word | not in the vocabulary), searchable by prefix.

    Args:
        words: distinct case-folded words (none of them in the model's vocabulary).
        weights: their relative frequencies (any positive scale; normalised here).
    """

    def __init__(self, words: Iterable[str], weights: Iterable[float]) -> None:
        words = list(words)
        weights = np.asarray(weights if isinstance(weights, np.ndarray) else list(weights), np.float64)
        if len(words) != len(weights):
            raise ModelFormatError("the lexicon's words and frequencies do not match; the model directory is damaged")
        if len(weights) and not (np.isfinite(weights).all() and (weights > 0).all()):
            raise ModelFormatError("the lexicon holds invalid frequencies; the model directory is damaged")
        if not all(map(operator.lt, words, words[1:])):  # a stored lexicon is strictly sorted: one C-speed pass
            order = sorted(range(len(words)), key=words.__getitem__)
            words, weights = [words[i] for i in order], weights[order]
            if not all(map(operator.lt, words, words[1:])):  # sorted: a repeated word sits next to itself
                raise ModelFormatError("the lexicon lists a word twice; the model directory is damaged")
        self.words = words
        total = float(weights.sum()) or 1.0
        self.probs = (weights / total).astype(np.float64) if len(words) else np.zeros(0)
        self.floor = float(self.probs.min()) if len(words) else 0.0
        self.ceiling = float(self.probs.max()) if len(words) else 0.0
        self._index: dict[str, int] | None = None  # word -> position, built when first looked up

    def _position(self, word: str) -> int | None:
        if self._index is None:  # not needed to complete a prefix, so not paid for by `complete`
            self._index = {w: i for i, w in enumerate(self.words)}
        return self._index.get(word.casefold())

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._position(word) is not None

    @classmethod
    def build(cls, vocab: Vocabulary, frequencies: Mapping[str, float]) -> Lexicon:
        """Keep the typeable words of ``frequencies`` that ``vocab`` does not know, case-folded."""
        kept: dict[str, float] = {}
        for word, weight in frequencies.items():
            folded = word.casefold()
            if weight > 0 and typeable(folded) and vocab.lookup(folded) == UNK_ID and vocab.lookup(word) == UNK_ID:
                kept[folded] = kept.get(folded, 0.0) + float(weight)
        return cls(kept, kept.values())

    def probability(self, word: str) -> float:
        """p(word | not in the vocabulary); 0 for a word the lexicon lacks."""
        i = self._position(word)
        return float(self.probs[i]) if i is not None else 0.0

    def completions(self, prefix: str) -> tuple[list[str], np.ndarray]:
        """Lexicon words starting with ``prefix`` (case-insensitive) and their p(word | not in vocabulary)."""
        folded = prefix.casefold()
        lo = bisect.bisect_left(self.words, folded)
        hi = bisect.bisect_left(self.words, folded + "\U0010ffff")
        return self.words[lo:hi], self.probs[lo:hi]

    def to_bytes(self) -> bytes:
        """A compressed ``.npz`` (UTF-8 words joined by newlines, float32 probabilities): no pickles."""
        buffer = io.BytesIO()
        text = "\n".join(self.words).encode("utf-8")
        np.savez_compressed(buffer, words=np.frombuffer(text, np.uint8), probs=self.probs.astype(np.float32))
        return buffer.getvalue()

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Lexicon:
        """Rebuild from ``to_bytes``' arrays (as ``checkpoint.read_arrays`` returns them), checked."""
        try:
            raw, probs = arrays["words"], arrays["probs"]
            if raw.dtype != np.uint8 or raw.ndim != 1 or probs.ndim != 1:
                raise ValueError
            words = bytes(raw).decode("utf-8").split("\n") if raw.size else []
        except (KeyError, ValueError, UnicodeDecodeError):
            raise ModelFormatError("the lexicon file is not a word list; the model directory is damaged") from None
        return cls(words, probs)


def wordfreq_frequencies(count: int, language: str = "en") -> dict[str, float]:
    """The ``count`` most frequent words of ``language`` from ``wordfreq`` with their frequencies.

    wordfreq is maintained frequency data built from many sources (subtitles, web text, books,
    Wikipedia...): the everyday words a person types. It is imported only here, when a lexicon
    is built, never when one is used.
    """
    import wordfreq

    table = wordfreq.get_frequency_dict(language)
    return {w: table[w] for w in wordfreq.top_n_list(language, count)}
