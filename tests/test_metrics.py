"""Metrics with an open-vocabulary lexicon: unknown words tapped, lexicon words competing, open perplexity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wordrnn.evaluation.metrics import MetricAccumulator
from wordrnn.text.lexicon import Lexicon
from wordrnn.text.vocab import SPECIALS, UNK_ID, Vocabulary

VOCAB = Vocabulary([*SPECIALS, "a", "b", "c", "d", "cat"], [0] * 7)
PROBS = np.array([[0.0, 0.5, 0.12, 0.12, 0.12, 0.12, 0.02]])


def run(target: int, spelling: str, lexicon: Lexicon | None) -> dict:
    acc = MetricAccumulator(VOCAB, lexicon)
    acc.add(PROBS, np.array([target]), [spelling])
    return acc.result()


def test_an_unknown_word_in_the_lexicon_is_tapped_once_its_prefix_shows_it():
    lexicon = Lexicon(["dog", "cow"], [1, 1])
    assert run(UNK_ID, "dog", None)["ksr3"] == 0.0  # typed in full: 3 letters + space
    metrics = run(UNK_ID, "dog", lexicon)
    assert metrics["ksr3"] == pytest.approx(1 - 2 / 4)  # "d", then a tap
    assert metrics["ppl"] == pytest.approx(1 / 0.5)  # closed vocabulary: p(<unk>)
    assert metrics["ppl_open"] == pytest.approx(1 / (0.5 * 0.5))  # p(<unk>) p_lexicon(dog)
    assert metrics["oov_completable"] == 1.0


def test_an_unknown_word_outside_the_lexicon_is_typed_in_full_and_floored():
    lexicon = Lexicon(["dog", "cow"], [3, 1])
    metrics = run(UNK_ID, "emu", lexicon)
    assert metrics["ksr3"] == 0.0
    assert metrics["ppl_open"] == pytest.approx(1 / (0.5 * 0.25))  # the lexicon's smallest share
    assert metrics["oov_completable"] == 0.0


def test_lexicon_words_can_push_a_vocabulary_word_off_the_bar():
    assert run(6, "cat", None)["ksr3"] == pytest.approx(1 - 2 / 4)  # "c": only c and cat start with it
    crowded = Lexicon(["cow", "cup", "car"], [1, 1, 1])  # each 0.5 / 3 > p(cat) = 0.02
    assert run(6, "cat", crowded)["ksr3"] == pytest.approx(1 - 3 / 4)  # "ca": cat and car
    assert math.isclose(run(6, "cat", crowded)["ppl"], run(6, "cat", None)["ppl"])


PUNCTUATED = Vocabulary([*SPECIALS, ",", ".", "``", "the", "cat", "car"], [0] * 8)
#                           </s> <unk>  ,     .     ``    the   cat   car
PUNCTUATED_PROBS = np.array([[0.0, 0.0, 0.3, 0.2, 0.15, 0.14, 0.11, 0.1]])


def run_punctuated(target: int, spelling: str) -> dict:
    acc = MetricAccumulator(PUNCTUATED)
    acc.add(PUNCTUATED_PROBS, np.array([target]), [spelling])
    return acc.result()


def test_the_keystroke_bar_shows_only_words_a_person_types():
    # "cat" is fifth overall, behind two punctuation marks and an artefact, but second on the bar
    metrics = run_punctuated(6, "cat")
    assert metrics["top3"] == 0.0 and metrics["top5"] == 1.0  # top-k still ranks every token
    assert metrics["ksr3"] == pytest.approx(1 - 1 / 4)  # tapped at once
    assert run_punctuated(7, "car")["ksr3"] == pytest.approx(1 - 1 / 4)  # third on the bar


def test_punctuation_is_typed_key_by_key_even_when_most_probable():
    metrics = run_punctuated(2, ",")
    assert metrics["top1"] == 1.0
    assert metrics["ksr3"] == 0.0  # never on the bar: typed, then the space


def test_untypeable_tokens_never_complete_a_prefix():
    acc = MetricAccumulator(PUNCTUATED)
    assert acc.candidates("`").tolist() == []
    assert sorted(acc.candidates("c").tolist()) == [6, 7]
