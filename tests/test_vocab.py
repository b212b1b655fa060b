from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wordrnn.errors import ConfigError, ModelFormatError
from wordrnn.text.tokenizer import EOS, UNK
from wordrnn.text.vocab import EOS_ID, UNK_ID, Vocabulary


def test_build_orders_by_frequency_and_keeps_specials_first():
    vocab = Vocabulary.build(Counter({"b": 3, "a": 3, "c": 5, EOS: 2}))
    assert vocab.words == (EOS, UNK, "c", "a", "b")
    assert vocab.id(EOS) == EOS_ID and vocab.id("zzz") == UNK_ID


def test_max_size_and_min_count():
    counts = Counter({"a": 10, "b": 5, "c": 2, "d": 1})
    assert len(Vocabulary.build(counts, max_size=4)) == 4
    assert "d" not in Vocabulary.build(counts, min_count=2)
    assert Vocabulary.build(counts, min_count=2).counts[UNK_ID] == 1


def test_bad_limits_are_config_errors():
    with pytest.raises(ConfigError):
        Vocabulary.build(Counter({"a": 1}), min_count=0)
    with pytest.raises(ConfigError):
        Vocabulary.build(Counter({"a": 1}), max_size=2)


def test_a_min_count_that_keeps_no_word_is_refused():
    """Only </s> and <unk> left: a model of it could only ever suggest those two."""
    counts = Counter({"the": 7, "cat": 2, EOS: 9})
    with pytest.raises(ConfigError, match=r"min_count=8 keeps no word .* 'the', is seen 7 times\); choose a min_count of at most 7"):
        Vocabulary.build(counts, min_count=8)
    assert Vocabulary.build(counts, min_count=7).words == (EOS, UNK, "the")


def test_lookup_tries_case_variants():
    vocab = Vocabulary.build(Counter({"I": 3, "London": 2, "the": 5}))
    assert vocab.lookup("i") == vocab.id("I")
    assert vocab.lookup("london") == vocab.id("London")
    assert vocab.lookup("The") == vocab.id("the")


def test_prefix_ids_are_exactly_the_words_with_that_prefix():
    vocab = Vocabulary.build(Counter({"next": 3, "new": 2, "New": 2, "news": 1, "apple": 1}))
    found = {vocab.words[i] for i in vocab.prefix_ids("ne")}
    assert found == {"next", "new", "New", "news"}
    assert {vocab.words[i] for i in vocab.prefix_ids("Ne")} == {"New"}
    assert len(vocab.prefix_ids("zz")) == 0


# A line break only comes from a hand-made vocabulary file; the scan must still answer as the index does.
WORDS = st.lists(st.text(alphabet="aAbBßsStT-'\n", min_size=1, max_size=4), min_size=1, max_size=30, unique=True)


@given(WORDS, st.lists(st.text(alphabet="aAbBßsStT", max_size=3), min_size=1, max_size=4))
def test_the_first_prefix_query_scans_and_answers_as_the_index_does(words, prefixes):
    """The first query is answered by a scan, later ones by the sorted index: the same ids, in the same order."""
    counts = Counter({w: 1 + i % 3 for i, w in enumerate(words)})
    for first in prefixes:
        scanned = Vocabulary.build(counts)
        by_scan = scanned.prefix_ids(first).tolist()
        indexed = Vocabulary.build(counts)
        indexed.prefix_ids("")  # the first query: the next ones use the index
        assert indexed.prefix_ids(first).tolist() == by_scan
        assert scanned.prefix_ids(first).tolist() == by_scan


def test_a_prefix_holding_a_line_break_never_matches_across_two_words():
    vocab = Vocabulary.build(Counter({"ab": 2, "bc": 1}))
    assert vocab.prefix_ids("ab\nb").tolist() == []  # the first query: a scan of the joined words
    assert vocab.prefix_ids("ab\nb").tolist() == []  # later ones: the sorted index


def test_json_round_trip_and_damage_detection():
    vocab = Vocabulary.build(Counter({"a": 2, "b": 1}))
    assert Vocabulary.from_json(vocab.to_json()).words == vocab.words
    with pytest.raises(ModelFormatError):
        Vocabulary.from_json({"words": ["a", "b"]})
    with pytest.raises(ModelFormatError):
        Vocabulary.from_json([1, 2])


@given(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=50))
def test_encode_decode_round_trips_known_words(words):
    vocab = Vocabulary.build(Counter(words))
    known = [w for w in words if w in vocab]
    assert vocab.decode(vocab.encode(known)) == known


def test_lowercase_typing_takes_the_most_frequent_spelling():
    vocab = Vocabulary.build(Counter({"United": 50, "united": 3, "the": 90, "The": 10, "new": 5, "New": 4}))
    assert vocab.lookup("united") == vocab.id("United")
    assert vocab.lookup("the") == vocab.id("the") and vocab.lookup("new") == vocab.id("new")
    assert vocab.lookup("The") == vocab.id("The")  # a capital typed on purpose is kept


def test_knows_accepts_any_capitalisation_lookup_accepts():
    vocab = Vocabulary.build(Counter({"I": 3, "next": 2}))
    assert vocab.knows("i") and vocab.knows("Next") and not vocab.knows("nex")
