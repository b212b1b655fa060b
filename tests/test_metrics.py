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
