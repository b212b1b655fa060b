"""The open-vocabulary lexicon: words outside the vocabulary, by prefix, stored without pickles."""

from __future__ import annotations

import io

import numpy as np
import pytest

from wordrnn.errors import ModelFormatError
from wordrnn.text.lexicon import Lexicon, typeable, wordfreq_frequencies
from wordrnn.text.vocab import SPECIALS, Vocabulary

VOCAB = Vocabulary([*SPECIALS, "the", "you", "young", "Paris", "."], [0, 0, 9, 8, 7, 6, 5])


def test_build_keeps_typeable_words_the_vocabulary_lacks_case_folded():
    lexicon = Lexicon.build(VOCAB, {"you": 5.0, "yours": 2.0, "Yoga": 1.0, "paris": 3.0, "!!": 4.0, "a b": 1.0,
                                    "yoyo": 0.0, "123": 2.0})
    assert sorted(lexicon.words) == ["yoga", "yours"]  # known words (any case), symbols, zero counts dropped
    assert lexicon.probability("yours") == pytest.approx(2 / 3)
    assert lexicon.probability("YOGA") == pytest.approx(1 / 3)
    assert lexicon.probability("you") == 0.0
    assert "Yours" in lexicon and "you" not in lexicon


def test_completions_are_the_words_with_the_prefix_and_their_share():
    lexicon = Lexicon(["yoga", "yours", "zebra", "yo-yo"], [1, 2, 3, 4])
    words, probs = lexicon.completions("Yo")
    assert words == ["yo-yo", "yoga", "yours"]
    assert probs.tolist() == pytest.approx([0.4, 0.1, 0.2])
    assert lexicon.completions("q") == ([], pytest.approx(np.zeros(0)))
    assert lexicon.completions("")[0] == sorted(lexicon.words)


def test_round_trip_through_bytes_keeps_every_probability():
    lexicon = Lexicon(["ünïcode", "yours", "zebra"], [1, 2, 3])
    with np.load(io.BytesIO(lexicon.to_bytes()), allow_pickle=False) as data:
        again = Lexicon.from_arrays(dict(data))
    assert again.words == lexicon.words
    assert again.probs == pytest.approx(lexicon.probs)


@pytest.mark.parametrize("arrays", [
    {"probs": np.ones(1, np.float32)},
    {"words": np.frombuffer(b"a\nb", np.uint8), "probs": np.ones(1, np.float32)},
    {"words": np.frombuffer(b"a\nb\na", np.uint8), "probs": np.ones(3, np.float32)},
    {"words": np.frombuffer(b"\xff\xfe", np.uint8), "probs": np.ones(1, np.float32)},
    {"words": np.frombuffer(b"a\nb", np.uint8), "probs": np.array([1.0, np.nan], np.float32)},
    {"words": np.array([1.5, 2.0]), "probs": np.ones(2, np.float32)},
])
def test_a_damaged_lexicon_is_a_clean_error(arrays):
    with pytest.raises(ModelFormatError, match="damaged"):
        Lexicon.from_arrays(arrays)


def test_typeable_words_start_with_a_letter():
    assert typeable("don't") and typeable("e-mail") and typeable("café")
    assert not typeable("'tis") and not typeable("2nd") and not typeable("a b") and not typeable("x" * 41)


def test_wordfreq_gives_everyday_english():
    pytest.importorskip("wordfreq")
    frequencies = wordfreq_frequencies(2000)
    assert len(frequencies) == 2000
    assert frequencies["you"] > frequencies["house"] > 0
