"""Display forms for a case-folded model: which capitalisation a word usually has ("i" -> "I").

A model trained on lower-cased text (``--lowercase``) can learn from sources that lost their
case, but its suggestions should look like English. The table maps a lower-case word to the
spelling cased text uses for it most often, counting only words that do not start a sentence
(where every word is capitalised), and only when that spelling wins a clear majority.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

MIN_SEEN = 3  # occurrences (not sentence-initial) before a capitalisation is trusted
MAJORITY = 0.6


def truecase_table(sentences: Iterable[list[str]]) -> dict[str, str]:
    """Lower-case word -> its usual spelling, for the words usually written otherwise.

    Args:
        sentences: token lists of cased text, one sentence each (its first token is skipped).
    """
    forms: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for sentence in sentences:
        for token in sentence[1:]:
            if any(c.isalpha() for c in token):
                forms[token.lower()][token] += 1
    table = {}
    for lower, counts in forms.items():
        spelling, count = counts.most_common(1)[0]
        total = sum(counts.values())
        if spelling != lower and total >= MIN_SEEN and count >= MAJORITY * total:
            table[lower] = spelling
    return table
