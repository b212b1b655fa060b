"""The vocabulary: words <-> ids, with ``</s>`` and ``<unk>`` always present.

Ids are ordered by frequency (ties alphabetically) so the file is stable and the
most common words have small ids. A case-folded sorted index makes a prefix
lookup two binary searches instead of a scan.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from wordrnn.errors import ConfigError, ModelFormatError, option
from wordrnn.text.tokenizer import EOS, UNK

EOS_ID = 0
UNK_ID = 1
SPECIALS = (EOS, UNK)
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")  # what str.isalnum accepts, found in one regex scan


def check_limits(max_size: int | None, min_count: int) -> None:
    """Refuse vocabulary limits that cannot work (called early, before any text is read)."""
    if min_count < 1:
        raise ConfigError(f"{option('min_count')} must be 1 or more, got {min_count}")
    if max_size is not None and max_size < len(SPECIALS) + 1:
        raise ConfigError(f"{option('max_vocab')} must be at least {len(SPECIALS) + 1}, got {max_size}")


class Vocabulary:
    """An immutable word list with counts.

    Args:
        words: every word, ``</s>`` and ``<unk>`` first.
        counts: training frequency of each word (used for reporting and the n-gram baseline).
    """

    def __init__(self, words: Sequence[str], counts: Sequence[int] | None = None,
                 display: Mapping[str, str] | None = None) -> None:
        if tuple(words[:2]) != SPECIALS:
            raise ModelFormatError("vocabulary must start with </s> and <unk>; the model directory is damaged")
        self.words: tuple[str, ...] = tuple(words)
        self.counts: tuple[int, ...] = tuple(map(int, counts)) if counts is not None else (0,) * len(words)
        if len(self.counts) != len(self.words):
            raise ModelFormatError("vocabulary counts do not match its words; the model directory is damaged")
        self._ids = dict(zip(self.words, range(len(self.words))))
        if len(self._ids) != len(self.words):
            raise ModelFormatError("vocabulary has duplicate words; the model directory is damaged")
        self.display = {w: d for w, d in (display or {}).items() if w in self._ids and d.casefold() == w.casefold()}
        # Built on first use (a cold ``complete "the next"`` needs neither): the case-folded sorted
        # index of ``prefix_ids``, and which words are typeable (-1: not yet known).
        self._folded: list[str] | None = None
        self._folded_ids = np.zeros(0, np.int64)
        self._asked = False  # whether ``prefix_ids`` answered once (by a scan; the index comes with the second)
        self._typeable = np.full(len(self.words), -1, np.int8)
        self._typeable[: len(SPECIALS)] = 0

    @classmethod
    def build(cls, counts: Counter[str], max_size: int | None = None, min_count: int = 1) -> Vocabulary:
        """Keep words seen at least ``min_count`` times, the ``max_size`` most frequent at most."""
        check_limits(max_size, min_count)
        ranked = sorted(
            ((w, c) for w, c in counts.items() if c >= min_count and w not in SPECIALS),
            key=lambda wc: (-wc[1], wc[0]),
        )
        if not ranked and any(w not in SPECIALS for w in counts):
            top, seen = max(((w, c) for w, c in counts.items() if w not in SPECIALS), key=lambda wc: wc[1])
            raise ConfigError(f"{option('min_count', min_count)} keeps no word but </s> and <unk>, so there would be "
                              f"nothing to predict (the most frequent word, {top!r}, is seen {seen} times); choose "
                              f"a {option('min_count')} of at most {seen}")
        if max_size is not None:
            ranked = ranked[: max_size - len(SPECIALS)]
        kept = {w for w, _ in ranked}
        unk = sum(c for w, c in counts.items() if w not in kept and w != EOS)
        return cls(list(SPECIALS) + [w for w, _ in ranked], [counts.get(EOS, 0), unk] + [c for _, c in ranked])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def id(self, word: str) -> int:
        """The id of a word as written, ``<unk>``'s id when unknown."""
        return self._ids.get(word, UNK_ID)

    def lookup(self, word: str) -> int:
        """The id of typed text: the word as written, else another capitalisation.

        A user typing "i" or "london" means "I" or "London"; a lower-case word takes the spelling
        the training text used most ("united" -> "United" when the corpus mostly capitalises it).
        """
        if word.islower():
            # typed in lower case: the writer may not bother with capitals, so take the most
            # frequent spelling ("united" -> "United" when the corpus mostly writes it so)
            forms = [f for f in dict.fromkeys((word, word.capitalize(), word.upper())) if f in self._ids]
            if forms:
                return max((self._ids[f] for f in forms), key=lambda i: (self.counts[i], i == self._ids.get(word)))
        for form in (word, word.lower(), word.capitalize(), word.upper()):
            if form in self._ids:
                return self._ids[form]
        return UNK_ID

    def knows(self, word: str) -> bool:
        """Whether typed text is a vocabulary word (in any capitalisation ``lookup`` accepts).

        A typed text ending on such a word ends on a finished word, not a partial one.
        """
        return self.lookup(word) != UNK_ID

    def typeable(self, ids: np.ndarray) -> np.ndarray:
        """For each of ``ids``, whether it is a word a person types: not ``</s>``/``<unk>``, with at
        least one letter or digit.

        Punctuation and corpus artefacts (``--``, Brown's quote tokens) are read as context and may
        be generated, but never offered as a suggestion. Only the words asked about are looked at
        (each once), so three suggestions never classify a whole vocabulary.
        """
        ids = np.asarray(ids, np.int64)
        known = self._typeable[ids]
        if (known < 0).any():
            search, words = _LETTER_OR_DIGIT.search, self.words
            for i in set(ids[known < 0].tolist()):  # (np.unique would import numpy.ma: 15 ms)
                self._typeable[i] = search(words[i]) is not None
            known = self._typeable[ids]
        return known.astype(bool)

    def encode(self, words: Iterable[str]) -> list[int]:
        """Ids of training words (exact spelling)."""
        ids = self._ids
        return [ids.get(w, UNK_ID) for w in words]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[int(i)] for i in ids]

    def prefix_ids(self, prefix: str) -> np.ndarray:
        """Ids of words starting with ``prefix`` (case-insensitive), specials excluded, in the order
        of their case-folded spelling (ties: lower id first).

        When the prefix has capitals, only words with exactly that prefix are kept. The first query
        scans the words (a one-shot ``complete`` asks one, and a scan costs about half of building
        the index); from the second on, a sorted index of the case-folded words answers by bisection.
        """
        folded = prefix.casefold()
        if self._folded is None and not self._asked:
            self._asked = True
            matches = sorted((self.words[i].casefold(), i) for i in self._scan(folded))
            ids = np.asarray([i for _, i in matches], dtype=np.int64)
        else:
            ids = self._indexed(folded)
        ids = ids[ids >= len(SPECIALS)]
        if prefix != prefix.lower():
            ids = np.asarray([i for i in ids if self.words[i].startswith(prefix)], dtype=np.int64)
        return ids

    def _scan(self, folded: str) -> list[int]:
        """Ids of the words whose case-folded spelling starts with ``folded``, in id order, by one pass.

        The words are joined into one case-folded text, one a line, and searched with ``str.find``:
        a quarter of the time of folding and testing 20,000 words one by one. A line break in a word
        (only a hand-made vocabulary file has one) would shift the lines, and one in the prefix would
        match across two words: then words are tested one by one.
        """
        if not folded:
            return list(range(len(self.words)))
        text = "\n" + "\n".join(self.words).casefold()
        if "\n" in folded or text.count("\n") != len(self.words):
            return [i for i, w in enumerate(map(str.casefold, self.words)) if w.startswith(folded)]
        needle, found, line, seen = "\n" + folded, [], -1, 0
        at = text.find(needle)
        while at >= 0:
            line += text.count("\n", seen, at + 1)  # the word at ``at`` is line number ``line``
            found.append(line)
            seen = at + 1
            at = text.find(needle, at + 1)
        return found

    def _indexed(self, folded: str) -> np.ndarray:
        """``prefix_ids``'s answer for a case-folded prefix from the sorted index (built on first use)."""
        if self._folded is None:
            casefolded = [w.casefold() for w in self.words]
            order = sorted(range(len(casefolded)), key=casefolded.__getitem__)  # stable: ties keep id order
            self._folded = [casefolded[i] for i in order]
            self._folded_ids = np.asarray(order, dtype=np.int64)
        lo = bisect.bisect_left(self._folded, folded)
        hi = bisect.bisect_left(self._folded, folded + "\U0010ffff")
        return self._folded_ids[lo:hi]

    def shown(self, word: str) -> str:
        """How a word is shown to the user: a case-folded model's word in its usual case ("i" -> "I")."""
        return self.display.get(word, word)

    def to_json(self) -> dict:
        data: dict = {"words": list(self.words), "counts": list(self.counts)}
        if self.display:
            data["display"] = dict(self.display)
        return data

    @classmethod
    def from_json(cls, data: object) -> Vocabulary:
        if not isinstance(data, dict) or not isinstance(data.get("words"), list):
            raise ModelFormatError("vocabulary file is not a word list; the model directory is damaged")
        words = data["words"]
        if not set(map(type, words)) <= {str}:
            raise ModelFormatError("vocabulary file holds non-text entries; the model directory is damaged")
        counts = data.get("counts")
        if counts is not None and not (isinstance(counts, list) and set(map(type, counts)) <= {int}
                                       and min(counts, default=0) >= 0):  # type(True) is bool, not int
            raise ModelFormatError("vocabulary counts are not whole numbers; the model directory is damaged")
        display = data.get("display", {})
        if not isinstance(display, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in display.items()):
            raise ModelFormatError("vocabulary display forms are not text; the model directory is damaged")
        return cls(words, counts, display)
