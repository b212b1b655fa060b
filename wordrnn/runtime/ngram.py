"""The interpolated Kneser-Ney trigram: the baseline every neural model is compared with.

Counts live in NumPy arrays (compressed sparse rows keyed by context), so training
on a million tokens takes a second and one call returns the full next-word
distribution for a whole batch of contexts, which is what top-k accuracy, the
keystroke simulation and interpolation with a recurrent network need. It is
trained on the same id stream (and vocabulary) as the networks, so the numbers
are comparable. Saved as plain arrays (``.npz`` without pickles).

    p1(w)     = max(N(.w) - D1, 0) / N(..)          + D1 n1 / N(..)       * 1/V
    p2(w|v)   = max(N(.vw) - D2, 0) / N(.v.)        + D2 n(v.) / N(.v.)    * p1(w)
    p3(w|u v) = max(c(uvw) - D3, 0) / c(uv.)        + D3 n(uv.) / c(uv.)   * p2(w|v)

``N(.x)`` are continuation counts (distinct left neighbours), ``c`` raw counts,
``n(x.)`` the number of distinct words after a context, ``D = n1 / (n1 + 2 n2)``
per order. An unseen context falls back to the next lower order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from wordrnn.errors import CorpusError, ModelFormatError
from wordrnn.text.vocab import EOS_ID

FORMAT = "kneser-ney-3"


def _discounts(counts: np.ndarray) -> np.ndarray:
    """Modified Kneser-Ney discounts (Chen & Goodman) for counts 1, 2 and 3+."""
    n1, n2, n3, n4 = (int(np.count_nonzero(counts == k)) for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:  # tiny corpora: one plain discount
        return np.full(3, 0.5 if n1 == 0 else min(max(n1 / (n1 + 2 * n2), 0.05), 0.95))
    y = n1 / (n1 + 2 * n2)
    found = np.array([1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3])
    return np.clip(found, 0.05, np.array([0.95, 1.95, 2.95]))


def _discounted(counts: np.ndarray, discounts: np.ndarray) -> np.ndarray:
    return counts - discounts[np.minimum(counts, 3).astype(np.int64) - 1]


class _SamplingTables(NamedTuple):
    """What ``KneserNey.sample`` searches: per level (trigram, bigram) the running sums of the
    discounted counts, each row's total count, the row pointers and the words; the unigram's
    running sum."""

    trigram: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    bigram: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    unigram: np.ndarray


def _rows(indptr: np.ndarray, rows: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(batch row, flat entry index) of every stored entry of the given CSR rows (found only)."""
    starts = np.where(found, indptr[rows], 0)
    lengths = np.where(found, indptr[rows + 1] - starts, 0)
    owner = np.repeat(np.arange(len(rows)), lengths)
    total = int(lengths.sum())
    first = np.cumsum(lengths) - lengths
    entries = np.arange(total) - np.repeat(first - starts, lengths)
    return owner, entries


class KneserNey:
    """An interpolated Kneser-Ney trigram over a fixed vocabulary of ``vocab_size`` ids.

    Build with ``KneserNey.train(ids, vocab_size)``; ``probabilities(history)`` gives (B, V)
    next-word distributions for (B, 2) histories (previous-but-one id, previous id).

    Probabilities and back-off weights are derived per query from the rows it touches
    (``_level``), not for every stored row at load time: a cold ``complete`` reads one context.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        try:
            self.vocab_size = int(arrays["vocab_size"])
            self.discounts = np.asarray(arrays["discounts"], np.float64)
            self.unigram = np.asarray(arrays["unigram"], np.float64)
            self.bi_indptr = np.asarray(arrays["bi_indptr"], np.int64)
            # words and counts stay in their compact stored types; a query converts what it touches
            self.bi_words = np.asarray(arrays["bi_words"])
            self.bi_counts = np.asarray(arrays["bi_counts"])
            self.tri_contexts = np.asarray(arrays["tri_contexts"], np.int64)
            self.tri_indptr = np.asarray(arrays["tri_indptr"], np.int64)
            self.tri_words = np.asarray(arrays["tri_words"])
            self.tri_counts = np.asarray(arrays["tri_counts"])
            # Pruned models store each context's full count (pruned trigrams included).
            self.tri_totals = np.asarray(arrays["tri_totals"], np.float64) if "tri_totals" in arrays else None
        except KeyError as exc:
            raise ModelFormatError(f"n-gram file lacks {exc.args[0]}; the model directory is damaged") from None
        v = self.vocab_size
        if (self.unigram.shape != (v,) or self.bi_indptr.shape != (v + 1,) or self.discounts.shape != (3, 3)
                or len(self.tri_indptr) != len(self.tri_contexts) + 1 or self.bi_indptr[-1] != len(self.bi_words)
                or self.tri_indptr[-1] != len(self.tri_words)
                or (self.tri_totals is not None and self.tri_totals.shape != self.tri_contexts.shape)):
            raise ModelFormatError("n-gram arrays are inconsistent; the model directory is damaged")
        if not all(a.dtype.kind in "ui" and (a.size == 0 or (a.min() >= low and a.max() < high))
                   for a, low, high in ((self.bi_words, 0, v), (self.tri_words, 0, v), (self.bi_counts, 1, 2**32),
                                        (self.tri_counts, 1, 2**32))):
            raise ModelFormatError("n-gram words or counts are out of range; the model directory is damaged")
        self._tables: _SamplingTables | None = None  # for ``sample``, built on first use

    @classmethod
    def train(cls, ids: np.ndarray, vocab_size: int, min_trigram_count: int = 1) -> KneserNey:
        """Count a token-id stream (sentences already ending in ``</s>``); one ``</s>`` is prepended.

        ``min_trigram_count`` > 1 prunes rarer trigrams (a count cut-off): their discounted mass
        moves to their context's back-off weight, so every distribution still sums to 1, and the
        lower orders are counted from all trigrams as before. Most trigrams occur once, so a
        cut-off of 2 keeps about a quarter of them.
        """
        ids = np.asarray(ids, np.int64)
        if ids.size == 0:
            raise CorpusError("the training text holds no words; give the n-gram some sentences")
        if ids.min() < 0 or ids.max() >= vocab_size:
            raise CorpusError("token ids fall outside the vocabulary; encode the text with the same vocabulary")
        v = np.int64(vocab_size)
        stream = np.concatenate([[EOS_ID], ids])
        tri_keys, tri_counts = np.unique((stream[:-2] * v + stream[1:-1]) * v + stream[2:], return_counts=True)
        # Continuation counts: distinct left neighbours of each bigram, then of each word.
        bi_keys, bi_cont = np.unique(tri_keys % (v * v), return_counts=True)
        uni_cont = np.bincount(bi_keys % v, minlength=vocab_size).astype(np.float64)
        discounts = np.stack([_discounts(uni_cont), _discounts(bi_cont), _discounts(tri_counts)])
        seen = uni_cont > 0
        kept = np.where(seen, _discounted(np.maximum(uni_cont, 1), discounts[0]), 0.0) / uni_cont.sum()
        unigram = kept + (1.0 - kept.sum()) / vocab_size
        pruned: dict[str, np.ndarray] = {}
        if min_trigram_count > 1:
            contexts, starts = np.unique(tri_keys // v, return_index=True)
            totals = np.add.reduceat(tri_counts, starts)
            keep = tri_counts >= min_trigram_count
            tri_keys, tri_counts = tri_keys[keep], tri_counts[keep]
            pruned["tri_totals"] = totals[np.isin(contexts, tri_keys // v)]
        tri_contexts, tri_starts = np.unique(tri_keys // v, return_index=True)
        word_dtype = np.uint16 if vocab_size <= 65535 else np.uint32
        count_dtype = np.uint16 if max(tri_counts.max(initial=0), bi_cont.max()) <= 65535 else np.uint32
        return cls({
            **pruned,
            "vocab_size": np.int64(vocab_size),
            "discounts": discounts,
            "unigram": unigram,
            "bi_indptr": np.searchsorted(bi_keys // v, np.arange(vocab_size + 1)),
            "bi_words": (bi_keys % v).astype(word_dtype),
            "bi_counts": bi_cont.astype(count_dtype),
            "tri_contexts": tri_contexts,
            "tri_indptr": np.append(tri_starts, len(tri_keys)),
            "tri_words": (tri_keys % v).astype(word_dtype),
            "tri_counts": tri_counts.astype(count_dtype),
        })

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Compact arrays for ``checkpoint.write_manifest`` (``.npz``, no pickles)."""
        word_dtype = np.uint16 if self.vocab_size <= 65535 else np.uint32
        top = max(self.bi_counts.max(initial=0), self.tri_counts.max(initial=0))
        count_dtype = np.uint16 if top <= 65535 else np.uint32
        index_dtype = np.uint32 if len(self.tri_words) + len(self.bi_words) < 2**32 else np.int64
        context_dtype = np.uint32 if self.vocab_size**2 < 2**32 else np.int64
        arrays = {
            "vocab_size": np.int64(self.vocab_size),
            "discounts": self.discounts,
            "unigram": self.unigram,
            "bi_indptr": self.bi_indptr.astype(index_dtype),
            "bi_words": self.bi_words.astype(word_dtype),
            "bi_counts": self.bi_counts.astype(count_dtype),
            "tri_contexts": self.tri_contexts.astype(context_dtype),
            "tri_indptr": self.tri_indptr.astype(index_dtype),
            "tri_words": self.tri_words.astype(word_dtype),
            "tri_counts": self.tri_counts.astype(count_dtype),
        }
        if self.tri_totals is not None:
            arrays["tri_totals"] = self.tri_totals.astype(np.uint32)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> KneserNey:
        """Rebuild from ``to_arrays`` output (shapes and consistency are checked)."""
        return cls(arrays)

    @property
    def size(self) -> int:
        """Stored n-gram entries (bigram and trigram types)."""
        return int(len(self.bi_words) + len(self.tri_words))

    def probabilities(self, history: np.ndarray) -> np.ndarray:
        """Next-word distributions (B, V) float64 for histories (B, 2) of (u, v) ids.

        Each row sums to 1 over the whole vocabulary, ``</s>`` and ``<unk>`` included.
        """
        history = np.asarray(history, np.int64).reshape(-1, 2)
        u, v = history[:, 0], history[:, 1]
        batch = len(history)
        probs = np.broadcast_to(self.unigram, (batch, self.vocab_size)).copy()
        # Bigram level: scale the unigram by the back-off weight, then add discounted continuation counts.
        owner, entries, values, backoff = self._level(self.bi_indptr, self.bi_counts, self.discounts[1],
                                                      v, np.ones(batch, bool))
        probs *= backoff[:, None]
        probs[owner, self.bi_words[entries]] += values
        # Trigram level, only where the context (u, v) was seen.
        row, found = self._context_rows(u, v)
        if found.any():
            totals = self.tri_totals[row] if self.tri_totals is not None else None
            owner, entries, values, backoff = self._level(self.tri_indptr, self.tri_counts, self.discounts[2],
                                                          row, found, totals)
            probs[found] *= backoff[found][:, None]
            probs[owner, self.tri_words[entries]] += values
        return probs


    def sample(self, u: int, v: int, rng: np.random.Generator) -> int:
        """One word drawn from p3(w | u v), level by level, without building the (V,) distribution.

        Each level's stored entries hold ``1 - backoff`` of its mass; the rest is the next lower
        level's distribution, down to the unigram. Exactly ``probabilities``' distribution; each
        level is a binary search in the running sums of its discounted counts (``_SamplingTables``,
        made on the first draw), so a word costs microseconds, even after "the".
        """
        tables = self._sampling_tables()
        row = self._context_row(u, v)
        levels = [(tables.bigram, v)] if row is None else [(tables.trigram, row), (tables.bigram, v)]
        for (running, totals, indptr, words), row in levels:
            start, end = int(indptr[row]), int(indptr[row + 1])
            draw = rng.random() * totals[row]  # the row's mass in count units
            base = running[start]
            if end > start and draw < running[end] - base:
                index = int(np.searchsorted(running, base + draw, side="right")) - 1
                return int(words[min(max(index, start), end - 1)])
        draw = rng.random() * tables.unigram[-1]
        return min(int(np.searchsorted(tables.unigram, draw, side="right")), self.vocab_size - 1)

    def _sampling_tables(self) -> _SamplingTables:
        if self._tables is None:
            self._tables = _SamplingTables(
                self._level_table(self.tri_indptr, self.tri_counts, self.tri_words, self.discounts[2], self.tri_totals),
                self._level_table(self.bi_indptr, self.bi_counts, self.bi_words, self.discounts[1], None),
                np.cumsum(self.unigram))
        return self._tables

    @staticmethod
    def _level_table(indptr: np.ndarray, counts: np.ndarray, words: np.ndarray, discounts: np.ndarray,
                     totals: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(running sums of discounted counts from 0, each row's total count, indptr, words) of one level."""
        counts = counts.astype(np.float64)
        running = np.concatenate([[0.0], np.cumsum(_discounted(counts, discounts))])
        if totals is None:
            raw = np.concatenate([[0.0], np.cumsum(counts)])
            totals = raw[indptr[1:]] - raw[indptr[:-1]]
        return running, np.asarray(totals, np.float64), indptr, words

    def history_count(self, u: int, v: int) -> float:
        """``history_counts`` of one history (u, v), in scalars (asked at every generated word)."""
        row = self._context_row(u, v)
        if row is None:
            return 0.0
        if self.tri_totals is not None:
            return float(self.tri_totals[row])
        return float(self.tri_counts[self.tri_indptr[row]:self.tri_indptr[row + 1]].sum())

    def _context_row(self, u: int, v: int) -> int | None:
        """The row of the stored trigram context (u, v), None when it has none."""
        key = u * self.vocab_size + v
        row = int(np.searchsorted(self.tri_contexts, key))
        return row if row < len(self.tri_contexts) and int(self.tri_contexts[row]) == key else None

    def history_counts(self, history: np.ndarray) -> np.ndarray:
        """How often each (B, 2) history (u, v) was followed by a word in the training text, (B,) float64.

        This says how much the trigram level knows about a context, which is what the mixture's
        per-context weights key on. 0 means the trigram level has nothing for it: never seen, or
        (in a pruned model) every trigram after it fell below the cut-off, so it backs off.
        """
        history = np.asarray(history, np.int64).reshape(-1, 2)
        row, found = self._context_rows(history[:, 0], history[:, 1])
        if self.tri_totals is not None:
            return np.where(found, self.tri_totals[row] if len(self.tri_totals) else 0.0, 0.0)
        owner, entries = _rows(self.tri_indptr, row, found)
        return np.bincount(owner, weights=self.tri_counts[entries], minlength=len(row)).astype(np.float64)

    @staticmethod
    def _level(indptr: np.ndarray, counts: np.ndarray, discounts: np.ndarray, rows: np.ndarray, found: np.ndarray,
               totals: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One level's stored entries for a batch of rows: (batch row, entry, probability, back-off weight).

        An entry's probability is its discounted count over its row's total (``totals``: each
        row's full count, kept by pruned models; else the sum of the row); the back-off weight of
        a row is the mass its entries leave (1 for a row with none).
        """
        owner, entries = _rows(indptr, rows, found)
        counts = counts[entries].astype(np.float64)
        if totals is None:
            totals = np.bincount(owner, weights=counts, minlength=len(rows))
        values = _discounted(counts, discounts) / totals[owner] if len(entries) else np.zeros(0)
        return owner, entries, values, 1.0 - np.bincount(owner, weights=values, minlength=len(rows))

    def _context_rows(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, found) of each context (u, v) among the stored trigram contexts (row is valid where found)."""
        keys = u * self.vocab_size + v
        row = np.searchsorted(self.tri_contexts, keys)
        row = np.minimum(row, max(len(self.tri_contexts) - 1, 0))
        found = (self.tri_contexts[row] == keys) if len(self.tri_contexts) else np.zeros(len(keys), bool)
        return row, found


def histories(ids: np.ndarray, start: int, stop: int) -> np.ndarray:
    """(u, v) histories of positions ``start..stop-1`` of a stream; ``</s>`` before its beginning."""
    ids = np.asarray(ids, np.int64)
    positions = np.arange(start, stop)
    u = np.where(positions >= 2, ids[np.maximum(positions - 2, 0)], EOS_ID)
    v = np.where(positions >= 1, ids[np.maximum(positions - 1, 0)], EOS_ID)
    return np.stack([u, v], axis=1)
