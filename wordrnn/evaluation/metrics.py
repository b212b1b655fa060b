"""The metrics of a word model's predictions, the way the field measures them (the protocol the
README explains under "Measuring quality").

From each target's full next-word distribution:

- **perplexity**: exp of the mean negative log-probability over all targets
  (``</s>`` and ``<unk>`` included), and the same in bits per word;
- **top-k accuracy**: over targets that are not ``</s>``, how often the target is
  among the k most probable words; ``<unk>``/``</s>`` are never candidates, an
  ``<unk>`` target is a miss; equal probabilities rank the lower (more frequent) id first;
- **KSR@3**: keystroke savings with a three-word suggestion bar, typing each word's
  original spelling letter by letter (``1 - keys pressed / keys needed``). The bar is the one
  ``complete`` and the REPL show (``predict.ranking``): words a person types only, so punctuation
  and corpus artefacts never take a place on it and are typed key by key;
- the out-of-vocabulary rate over words (``</s>`` excluded).

Networks and n-grams alike hand (probabilities, target positions) pairs to ``score``
(``evaluation.streams`` makes them); nothing here knows which model made them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from wordrnn.errors import CorpusError, ModelFormatError
from wordrnn.text.lexicon import Lexicon
from wordrnn.text.vocab import EOS_ID, SPECIALS, UNK_ID, Vocabulary

TOP_KS = (1, 3, 5)
BAR = 3  # suggestions on the bar in the keystroke simulation


class MetricAccumulator:
    """Adds up the metrics of predicted distributions against their targets.

    Args:
        vocab: the vocabulary the distributions are over (its order breaks ties).
        lexicon: the model's open-vocabulary lexicon, if it has one: an out-of-vocabulary word it
            holds can then be tapped in the keystroke simulation (with the probability
            ``p(<unk>) p_lexicon(word)``, competing with every word of the typed prefix, as the
            suggestion bar ranks it), and the open-vocabulary perplexity is reported too.
    """

    def __init__(self, vocab: Vocabulary, lexicon: Lexicon | None = None) -> None:
        self.vocab = vocab
        self.lexicon = lexicon
        self._open: dict[str, np.ndarray] = {}  # prefix -> sorted p_lexicon of its completions
        self.nll_open = 0.0
        self.oov_in_lexicon = 0
        self._words = np.asarray(vocab.words, dtype=object)
        self._candidates: dict[str, np.ndarray] = {}
        self._typeable = vocab.typeable(np.arange(len(vocab)))  # what the bar may show
        self.tokens = 0
        self.nll = 0.0
        self.words = 0
        self.oov = 0
        self.hits = dict.fromkeys(TOP_KS, 0)
        self.keys = 0
        self.cost = 0

    def candidates(self, prefix: str) -> np.ndarray:
        """Vocabulary ids the bar may show (specials and untypeable tokens excluded) whose spelling
        starts with ``prefix`` exactly."""
        found = self._candidates.get(prefix)
        if found is None:
            ids = self.vocab.prefix_ids(prefix)
            keep = [w.startswith(prefix) and t for w, t in zip(self._words[ids], self._typeable[ids])] if len(ids) else []
            found = self._candidates[prefix] = ids[np.asarray(keep, bool)] if len(ids) else ids
        return found

    def add(self, probs: np.ndarray, targets: np.ndarray, spellings: Sequence[str]) -> None:
        """Score (n, V) distributions against n target ids whose text spellings are ``spellings``."""
        probs = np.asarray(probs)
        targets = np.asarray(targets, np.int64)
        rows = np.arange(len(targets))
        target_p = probs[rows, targets]
        self.nll -= float(np.log(np.maximum(target_p.astype(np.float64), 1e-300)).sum())
        if self.lexicon is not None:
            self._add_open(target_p, targets, spellings)
        self.tokens += len(targets)
        word = targets != EOS_ID
        known = word & (targets != UNK_ID)
        self.words += int(word.sum())
        self.oov += int((targets == UNK_ID).sum())
        ranks, bar = self._ranks(probs[known], targets[known], target_p[known], self._typeable)
        for k in TOP_KS:
            self.hits[k] += int((ranks < k).sum())
        shown = known & self._typeable[targets]
        bar_rank = dict(zip(np.flatnonzero(known).tolist(), bar.tolist()))
        for i in np.flatnonzero(word).tolist():
            spelling = spellings[i]
            self.keys += len(spelling) + 1
            if known[i] and not shown[i]:  # punctuation, an artefact: never on the bar, typed in full
                self.cost += len(spelling) + 1
                continue
            rank = bar_rank.get(i)
            self.cost += self._keystrokes(probs[i], int(targets[i]), float(target_p[i]), spelling, rank)

    @staticmethod
    def _ranks(probs: np.ndarray, targets: np.ndarray, target_p: np.ndarray,
               typeable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each target's rank among the non-special words, and among the typeable ones (its place on
        the bar): more probable first, then lower id. One comparison of the (n, V) rows serves both."""
        if not len(targets):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        words = probs[:, len(SPECIALS):]
        ids = np.arange(len(SPECIALS), probs.shape[1])
        counted = (words > target_p[:, None]) | ((words == target_p[:, None]) & (ids[None, :] < targets[:, None]))
        return counted.sum(axis=1), (counted & typeable[len(SPECIALS):][None, :]).sum(axis=1)

    def _add_open(self, target_p: np.ndarray, targets: np.ndarray, spellings: Sequence[str]) -> None:
        """Open-vocabulary log-loss: an unknown word gets ``p(<unk>) p_lexicon(word)`` (floored)."""
        assert self.lexicon is not None
        p = target_p.astype(np.float64)
        for i in np.flatnonzero(targets == UNK_ID).tolist():
            share = self.lexicon.probability(spellings[i])
            self.oov_in_lexicon += share > 0
            p[i] *= max(share, self.lexicon.floor)
        self.nll_open -= float(np.log(np.maximum(p, 1e-300)).sum())

    def _lexicon_above(self, prefix: str, threshold: float) -> int:
        """How many lexicon completions of ``prefix`` have p_lexicon above ``threshold``."""
        if self.lexicon is None:
            return 0
        found = self._open.get(prefix)
        if found is None:
            found = self._open[prefix] = np.sort(self.lexicon.completions(prefix)[1])
        return int(len(found) - np.searchsorted(found, threshold, side="right"))

    def _keystrokes(self, probs: np.ndarray, target: int, target_p: float, spelling: str, rank: int | None) -> int:
        """Keys pressed to enter ``spelling`` and its space with a 3-word bar (``rank``: its rank
        among the words the bar may show, or None for ``<unk>``).

        The bar without a prefix offers vocabulary words only; once a letter is typed, lexicon
        words (if any) compete too, and an unknown target in the lexicon can be tapped.
        """
        unk = float(probs[UNK_ID])
        if rank is None:  # <unk>: typed in full unless the lexicon completes it
            share = self.lexicon.probability(spelling) if self.lexicon is not None else 0.0
            if share <= 0:
                return len(spelling) + 1
            target_p = unk * share
            for typed in range(1, len(spelling)):
                p = probs[self.candidates(spelling[:typed])]
                # ties among lexicon words count against the target (>=, minus itself): never optimistic
                shown = int((p > target_p).sum()) + self._lexicon_above(spelling[:typed], share * (1 - 1e-9)) - 1
                if shown < BAR:
                    return typed + 1
            return len(spelling) + 1
        if rank < BAR:
            return 1
        for typed in range(1, len(spelling)):
            ids = self.candidates(spelling[:typed])
            p = probs[ids]
            shown = int((p > target_p).sum()) + int(((p == target_p) & (ids < target)).sum())
            if unk > 0:
                shown += self._lexicon_above(spelling[:typed], target_p / unk)
            if shown < BAR:
                return typed + 1
        return len(spelling) + 1

    def result(self) -> dict[str, Any]:
        """The metrics so far (fractions in 0..1)."""
        if not self.tokens:
            raise CorpusError("nothing was evaluated; the text holds no words")
        mean = self.nll / self.tokens
        words = max(self.words, 1)
        return {
            "ppl": math.exp(mean),
            "bits": mean / math.log(2),
            **{f"top{k}": self.hits[k] / words for k in TOP_KS},
            "ksr3": 1.0 - self.cost / self.keys if self.keys else 0.0,
            "oov_rate": self.oov / words,
            **({"ppl_open": math.exp(self.nll_open / self.tokens), "lexicon": len(self.lexicon),
                "oov_completable": self.oov_in_lexicon / self.oov if self.oov else 0.0} if self.lexicon is not None else {}),
            "tokens": self.tokens,
            "words": self.words,
            "vocab": len(self.vocab),
        }

def score(distributions: Iterable[tuple[np.ndarray, np.ndarray]], vocab: Vocabulary, ids: np.ndarray,
          tokens: Sequence[str], lexicon: Lexicon | None = None) -> dict[str, Any]:
    """Metrics of (probabilities, positions) pairs against the stream ``ids`` spelled ``tokens``."""
    acc = MetricAccumulator(vocab, lexicon)
    for probs, positions in distributions:
        if probs.shape[-1] != len(vocab):
            raise ModelFormatError(
                f"the model predicts {probs.shape[-1]} words but its vocabulary has {len(vocab)}; "
                "the model directory mixes files of different models"
            )
        acc.add(probs, ids[positions], [tokens[i] for i in positions.tolist()])
    return acc.result()
