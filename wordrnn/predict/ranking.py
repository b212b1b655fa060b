"""Ranking suggestions: from a next-word distribution to the words a suggestion bar shows.

One rule for the API, ``complete``, the REPL and evaluation's keystroke simulation:

- only words a person types are offered: never ``</s>``/``<unk>``, and never a token without a
  letter or digit (punctuation, corpus artefacts such as ``--``);
- without a prefix, the most probable next words with their model probabilities;
- with a prefix, every word starting with it competes: vocabulary words with their probability,
  words outside the vocabulary (a lexicon, the user's own new words) with the share of the
  ``<unk>`` mass they get (``text.lexicon``), all renormalised over that prefix set, so the
  suggestions remain one probability distribution;
- words are shown in their usual case (``Vocabulary.shown``: a case-folded model's "i" is "I"),
  and a completion follows the case the user typed (``Th`` -> ``The``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from wordrnn.predict.sampling import check_k, top_ids
from wordrnn.text.lexicon import Lexicon
from wordrnn.text.vocab import UNK_ID, Vocabulary


def match_case(word: str, typed: str) -> str:
    """``word`` in the case the user is typing: ``Th`` gives ``The``, ``TH`` gives ``THE``."""
    if not typed or not typed[0].isupper() or word[:1].isupper():
        return word
    if len(typed) > 1 and typed.isupper():
        return word.upper()
    return word[:1].upper() + word[1:]


def open_candidates(probs: np.ndarray, lexicon: Lexicon | None, prefix: str, k: int) -> tuple[dict[str, float], float]:
    """The ``k`` most probable lexicon completions of ``prefix`` and the mass of all of them.

    Each word's probability is ``p(<unk>) * p_lexicon(word | not in vocabulary)``; the second
    value is that sum over every lexicon word with the prefix (for renormalising).
    """
    if lexicon is None or not prefix:
        return {}, 0.0
    words, p = lexicon.completions(prefix)
    if not words:
        return {}, 0.0
    unk = float(probs[UNK_ID])
    best = np.argsort(-p, kind="stable")[:k]
    return {words[i]: unk * float(p[i]) for i in best}, unk * float(p.sum())


def rank(probs: np.ndarray, vocab: Vocabulary, prefix: str = "", k: int = 3,
         extra: Mapping[str, float] | None = None, extra_mass: float | None = None,
         typed: str | None = None) -> list[tuple[str, float]]:
    """The ``k`` best suggestions from a next-word distribution, best first.

    Args:
        probs: (V,) next-word probabilities over ``vocab``.
        prefix: the partial word typed so far ("" for the next word).
        extra: words outside the vocabulary that may be offered (already matching ``prefix``),
            with their probabilities on the same scale as ``probs``.
        extra_mass: the probability of every such word with this prefix (default: the sum of
            ``extra``), so a prefix set is renormalised over all of them, shown or not.
        typed: the prefix as the user typed it, for its case (default: ``prefix``).

    Without a prefix the probabilities are the model's (they need not sum to one); with one they
    are renormalised over every word starting with it.
    """
    k = check_k(k)
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    extra = dict(extra or {})
    if prefix:
        ids = _offered_ids(vocab, prefix)
        weights = p[ids]
        total = float(weights.sum()) + (sum(extra.values()) if extra_mass is None else extra_mass)
        if not len(ids) and not extra:
            return []
        if total <= 0:
            weights, total = np.ones(len(ids)), float(len(ids) + len(extra)) or 1.0
        found = [(vocab.shown(vocab.words[ids[i]]), float(weights[i])) for i in top_ids(weights, k)] if len(ids) else []
        found = _merged(found, extra.items(), k)
        return [(match_case(w, typed or prefix), q / total) for w, q in found]
    found = [(vocab.shown(vocab.words[i]), float(p[i])) for i in top_typeable(p, vocab, k)]
    return _merged(found, extra.items(), k)


def top_typeable(p: np.ndarray, vocab: Vocabulary, k: int) -> np.ndarray:
    """Ids of the ``k`` most probable typeable words, best first (ties: lower id first).

    Looks at the best candidates only, widening the search while too few of them are typeable,
    rather than classifying all of a large vocabulary for three suggestions.
    """
    wanted = k + 16
    while True:
        candidates = top_ids(p, min(wanted, len(p)))
        kept = candidates[vocab.typeable(candidates)]
        if len(kept) >= k or len(candidates) == len(p):
            return kept[:k]
        wanted *= 4


def ends_on_finished_word(vocab: Vocabulary, prefix: str, completions: list[tuple[str, float]]) -> bool:
    """Whether typed text whose last word ``prefix`` has no space after it yet is a finished word.

    A keyboard cannot tell "the next" (finished: the next words are wanted) from "click the lin"
    (a word being typed: "link" is wanted), as both end on a vocabulary word. The model can: the
    word is finished when it is itself the most probable word starting with it (``completions``,
    ranked), not when a longer word is likelier.
    """
    return bool(prefix and completions) and vocab.knows(prefix) and completions[0][0].casefold() == prefix.casefold()


def _offered_ids(vocab: Vocabulary, prefix: str) -> np.ndarray:
    """Ids of the vocabulary words starting with ``prefix`` that a suggestion may offer (typeable ones)."""
    ids = vocab.prefix_ids(prefix)
    return ids[vocab.typeable(ids)] if len(ids) else ids


def best_completion(probs: np.ndarray, vocab: Vocabulary, prefix: str) -> tuple[str, float] | None:
    """The most probable typeable vocabulary word starting with ``prefix`` and its (unnormalised) probability."""
    ids = _offered_ids(vocab, prefix)
    if not len(ids):
        return None
    best = int(ids[int(np.argmax(np.asarray(probs)[ids]))])
    return vocab.shown(vocab.words[best]), float(probs[best])


def _merged(found: list[tuple[str, float]], extra, k: int) -> list[tuple[str, float]]:  # noqa: ANN001
    """Vocabulary suggestions and extra words together, most probable first (a word listed twice adds up)."""
    merged: dict[str, float] = {}
    for word, q in [*found, *extra]:
        merged[word] = merged.get(word, 0.0) + q
    return sorted(merged.items(), key=lambda wq: -wq[1])[:k]
