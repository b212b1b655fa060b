"""The Kneser-Ney trigram: a brute-force reference, normalisation, fall-back, round trip, bad input."""

from __future__ import annotations

import io
from collections import Counter, defaultdict

import numpy as np
import pytest

from wordrnn.errors import CorpusError, ModelFormatError
from wordrnn.runtime.ngram import KneserNey, _discounts, histories


def reference(ids: list[int], vocab_size: int):
    """Interpolated modified Kneser-Ney written the slow, obvious way (dicts and loops)."""
    stream = [0] + list(ids)
    tri = Counter(zip(stream, stream[1:], stream[2:]))
    bi_cont = Counter((v, w) for (_, v, w) in tri)
    uni_cont = Counter(w for (_, w) in bi_cont)
    d1 = _discounts(np.array([uni_cont.get(w, 0) for w in range(vocab_size)]))
    d2 = _discounts(np.array(list(bi_cont.values())))
    d3 = _discounts(np.array(list(tri.values())))

    def disc(count, d):
        return count - d[min(count, 3) - 1]

    total1 = sum(uni_cont.values())
    kept1 = {w: disc(c, d1) / total1 for w, c in uni_cont.items()}
    rest1 = 1 - sum(kept1.values())
    p1 = [kept1.get(w, 0.0) + rest1 / vocab_size for w in range(vocab_size)]
    after_v = defaultdict(dict)
    for (v, w), c in bi_cont.items():
        after_v[v][w] = c
    after_uv = defaultdict(dict)
    for (u, v, w), c in tri.items():
        after_uv[(u, v)][w] = c

    def p2(w, v):
        row = after_v.get(v)
        if not row:
            return p1[w]
        total = sum(row.values())
        backoff = sum(c - disc(c, d2) for c in row.values()) / total
        return (disc(row[w], d2) / total if w in row else 0.0) + backoff * p1[w]

    def p3(w, u, v):
        row = after_uv.get((u, v))
        if not row:
            return p2(w, v)
        total = sum(row.values())
        backoff = sum(c - disc(c, d3) for c in row.values()) / total
        return (disc(row[w], d3) / total if w in row else 0.0) + backoff * p2(w, v)

    return p3


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(0)
    # A Zipf-ish stream over 40 ids with sentence ends, long enough for counts of 1..4+.
    ids = np.minimum(rng.zipf(1.4, 3000), 39)
    ids[rng.random(3000) < 0.1] = 0
    return ids.tolist()


def test_matches_brute_force_reference(corpus):
    kn = KneserNey.train(np.array(corpus), 40)
    p3 = reference(corpus, 40)
    contexts = [(0, 0), (1, 2), (2, 1), (corpus[5], corpus[6]), (39, 39), (7, 0)]
    probs = kn.probabilities(np.array(contexts))
    for row, (u, v) in zip(probs, contexts):
        expected = [p3(w, u, v) for w in range(40)]
        np.testing.assert_allclose(row, expected, rtol=1e-9, atol=1e-12)


def test_distributions_sum_to_one_everywhere(corpus):
    kn = KneserNey.train(np.array(corpus), 45)  # ids 40..44 never occur: they still get mass
    u, v = np.meshgrid(np.arange(45), np.arange(45))
    probs = kn.probabilities(np.stack([u.ravel(), v.ravel()], 1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert (probs > 0).all()


def test_seen_continuations_beat_unseen_ones():
    ids = np.array([2, 3, 4, 0] * 50 + [2, 5, 0])
    kn = KneserNey.train(ids, 6)
    after_2_3 = kn.probabilities(np.array([[2, 3]]))[0]
    assert after_2_3.argmax() == 4
    unseen = kn.probabilities(np.array([[1, 1]]))[0]  # id 1 never occurs: the unigram level
    np.testing.assert_allclose(unseen, kn.unigram)


def test_round_trip_through_plain_npz(corpus):
    kn = KneserNey.train(np.array(corpus), 40)
    buffer = io.BytesIO()
    np.savez(buffer, **kn.to_arrays())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as archive:
        again = KneserNey.from_arrays({k: archive[k] for k in archive.files})
    history = histories(np.array(corpus), 0, 50)
    np.testing.assert_array_equal(kn.probabilities(history), again.probabilities(history))


def test_bad_input():
    with pytest.raises(CorpusError):
        KneserNey.train(np.array([], dtype=np.int64), 5)
    with pytest.raises(CorpusError):
        KneserNey.train(np.array([1, 7]), 5)
    arrays = KneserNey.train(np.array([2, 3, 0, 2, 3, 0]), 5).to_arrays()
    with pytest.raises(ModelFormatError):
        KneserNey.from_arrays({k: v for k, v in arrays.items() if k != "unigram"})
    with pytest.raises(ModelFormatError):
        KneserNey.from_arrays({**arrays, "bi_indptr": arrays["bi_indptr"][:-1]})


def test_histories_start_with_sentence_ends():
    np.testing.assert_array_equal(histories(np.array([0, 5, 6, 7]), 1, 4), [[0, 0], [0, 5], [5, 6]])


def test_pruned_model_moves_the_mass_of_rare_trigrams_to_the_back_off(corpus):
    full = KneserNey.train(np.array(corpus), 40)
    pruned = KneserNey.train(np.array(corpus), 40, min_trigram_count=2)
    assert len(pruned.tri_words) < len(full.tri_words) and (pruned.tri_counts >= 2).all()
    contexts = np.array([(u, v) for u in range(0, 40, 3) for v in range(40)])
    probs = pruned.probabilities(contexts)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(pruned.unigram, full.unigram)
    # Seen-twice trigrams keep their discounted share (same context totals as the full model).
    key = pruned.tri_contexts[0]
    u, v = divmod(int(key), 40)
    row = slice(pruned.tri_indptr[0], pruned.tri_indptr[1])
    here, there = pruned.probabilities(np.array([[u, v]]))[0], full.probabilities(np.array([[u, v]]))[0]
    for word in pruned.tri_words[row]:
        assert here[word] == pytest.approx(there[word], rel=0.5)
    buffer = io.BytesIO()
    np.savez(buffer, **pruned.to_arrays())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as archive:
        again = KneserNey.from_arrays({k: archive[k] for k in archive.files})
    np.testing.assert_array_equal(again.probabilities(contexts), probs)
