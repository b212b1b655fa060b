"""Display forms of a case-folded model: learned from cased text, kept in the vocabulary, shown everywhere."""

from __future__ import annotations

import pytest

from wordrnn.errors import ModelFormatError
from wordrnn.predict.ranking import rank
from wordrnn.text.truecase import truecase_table
from wordrnn.text.vocab import SPECIALS, Vocabulary


def test_the_usual_spelling_wins_outside_sentence_starts():
    sentences = [["The", "man", "and", "I", "saw", "Paris", "."]] * 3 + [["However", ",", "i", "left", "."]] * 1
    table = truecase_table(sentences + [["We", "saw", "the", "US", "and", "us"]] * 3)
    assert table["i"] == "I"  # 3 of 4
    assert table["paris"] == "Paris"
    assert "the" not in table and "however" not in table  # sentence-initial capitals do not count
    assert "us" not in table  # "US" 3 times, "us" 3 times: no clear majority


def test_rare_spellings_are_not_trusted():
    assert truecase_table([["a", "NASA", "b"]] * 2) == {}
    assert truecase_table([["a", "NASA", "b"]] * 3) == {"nasa": "NASA"}


def test_display_forms_travel_with_the_vocabulary_and_rank_shows_them():
    vocab = Vocabulary([*SPECIALS, "i", "paris", "the"], [0] * 5, {"i": "I", "paris": "Paris", "zz": "ZZ", "the": "a"})
    assert vocab.display == {"i": "I", "paris": "Paris"}  # unknown words and other spellings dropped
    again = Vocabulary.from_json(vocab.to_json())
    assert again.shown("i") == "I" and again.shown("the") == "the"
    assert [w for w, _ in rank([0, 0, 0.5, 0.3, 0.2], again, k=3)] == ["I", "Paris", "the"]
    assert "display" not in Vocabulary([*SPECIALS, "a"]).to_json()  # old readers see the old format


def test_damaged_display_forms_are_refused():
    with pytest.raises(ModelFormatError, match="damaged"):
        Vocabulary.from_json({"words": [*SPECIALS, "i"], "display": {"i": 1}})
