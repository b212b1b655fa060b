"""Ranking suggestions: typed words only, one distribution over vocabulary and lexicon, typed case."""

from __future__ import annotations

import numpy as np
import pytest

from wordrnn.predict.ranking import match_case, open_candidates, rank
from wordrnn.text.lexicon import Lexicon
from wordrnn.text.vocab import SPECIALS, UNK_ID, Vocabulary

VOCAB = Vocabulary([*SPECIALS, "the", "you", "young", "your", "--", "``", ",", "yo-yo"], [0] * 10)
PROBS = np.array([0.05, 0.2, 0.1, 0.15, 0.1, 0.05, 0.2, 0.05, 0.05, 0.05])  # </s> <unk> the you young your -- `` , yo-yo


def test_punctuation_and_specials_are_never_suggested():
    words = [w for w, _ in rank(PROBS, VOCAB, k=10)]
    assert words == ["you", "the", "young", "your", "yo-yo"]


def test_without_a_prefix_probabilities_are_the_models():
    assert rank(PROBS, VOCAB, k=1) == [("you", pytest.approx(0.15))]


def test_lexicon_words_share_the_unknown_mass_and_the_prefix_set_is_renormalised():
    lexicon = Lexicon(["yoga", "yours"], [1, 3])  # p(yours | not in vocabulary) = 0.75
    extra, mass = open_candidates(PROBS, lexicon, "yo", k=3)
    assert extra == {"yours": pytest.approx(0.2 * 0.75), "yoga": pytest.approx(0.2 * 0.25)}
    assert mass == pytest.approx(0.2)
    ranked = rank(PROBS, VOCAB, "yo", k=10, extra=extra, extra_mass=mass)
    total = 0.15 + 0.1 + 0.05 + 0.05 + 0.2  # you young your yo-yo + the unknown mass
    expected = {"you": 0.15, "yours": 0.15, "young": 0.1, "your": 0.05, "yo-yo": 0.05, "yoga": 0.05}
    assert dict(ranked) == {w: pytest.approx(q / total) for w, q in expected.items()}
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    assert sum(p for _, p in ranked) == pytest.approx(1.0)


def test_the_mass_of_lexicon_words_not_shown_still_counts():
    lexicon = Lexicon(["yoga", "yours", "yokel"], [1, 1, 2])
    extra, mass = open_candidates(PROBS, lexicon, "yo", k=1)
    assert list(extra) == ["yokel"] and mass == pytest.approx(PROBS[UNK_ID])
    ranked = dict(rank(PROBS, VOCAB, "yo", k=10, extra=extra, extra_mass=mass))
    assert sum(ranked.values()) < 1.0  # yoga and yours hold the rest


def test_no_lexicon_or_no_prefix_gives_no_open_candidates():
    assert open_candidates(PROBS, None, "yo", 3) == ({}, 0.0)
    assert open_candidates(PROBS, Lexicon(["yoga"], [1]), "", 3) == ({}, 0.0)


def test_completions_follow_the_typed_case():
    assert match_case("the", "Th") == "The"
    assert match_case("the", "TH") == "THE"
    assert match_case("the", "th") == "the"
    assert match_case("iPhone", "I") == "IPhone" and match_case("Paris", "p") == "Paris"
    assert [w for w, _ in rank(PROBS, VOCAB, "yo", k=2, typed="Yo")] == ["You", "Young"]


def test_a_typed_word_is_finished_only_when_it_is_its_own_best_completion():
    from wordrnn.predict.ranking import ends_on_finished_word

    assert ends_on_finished_word(VOCAB, "you", [("you", 0.6), ("young", 0.3)])
    assert ends_on_finished_word(VOCAB, "You", [("you", 0.6)])  # case as typed does not matter
    assert not ends_on_finished_word(VOCAB, "you", [("young", 0.6), ("you", 0.3)])  # still typing "young"
    assert not ends_on_finished_word(VOCAB, "yo", [("yo", 0.9)])  # not a vocabulary word
    assert not ends_on_finished_word(VOCAB, "", [("you", 0.9)]) and not ends_on_finished_word(VOCAB, "you", [])


def test_top_typeable_matches_ranking_over_the_whole_vocabulary():
    """The widening search finds what masking every word would, even when most top words are punctuation."""
    from wordrnn.predict.ranking import top_typeable
    from wordrnn.text.vocab import Vocabulary

    rng = np.random.default_rng(5)
    words = ["</s>", "<unk>"] + [("," * (i + 1)) if i % 3 else f"w{i}" for i in range(600)]
    vocab = Vocabulary(words)
    typeable = np.array([i >= 2 and any(c.isalnum() for c in w) for i, w in enumerate(words)])
    for trial in range(40):
        p = rng.random(len(words)) ** 8
        if trial % 2:
            p[~typeable] += 1.0  # every punctuation token beats every word
        k = int(rng.integers(1, 30))
        expected = [i for i in np.lexsort((np.arange(len(p)), -p)) if typeable[i]][:k]
        assert top_typeable(p, Vocabulary(words), k).tolist() == expected
        assert vocab.typeable(np.array(expected)).all()
