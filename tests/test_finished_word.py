"""Telling a finished word ("the next") from a partial one ("click the lin") without reading the lexicon.

``Session.ends_on_finished_word`` must decide exactly as the suggestions the user would see
(lexicon words included) decide, and read the lexicon only when the lexicon's ceiling cannot rule
every lexicon word out.
"""

from __future__ import annotations

import numpy as np
import pytest

from wordrnn.config import TokenizerConfig
from wordrnn.predict.ranking import ends_on_finished_word
from wordrnn.predict.session import Session
from wordrnn.text.lexicon import Lexicon
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import Vocabulary

WORDS = ["</s>", "<unk>", "the", "cat", "cats", "dog"]


class FixedRunner:
    """A runner whose next-word distribution never changes (no recurrent state)."""

    state_sizes: list[int] = []
    input_kind = "tokens"

    def __init__(self, probs: np.ndarray) -> None:
        self.probs = np.asarray(probs, np.float32)

    def zero_state(self, batch: int = 1) -> list[np.ndarray]:
        return []

    def step(self, inputs, state):  # noqa: ANN001, ANN201
        return np.repeat(self.probs[None], len(inputs), axis=0), state


def session(probs: list[float], lexicon: Lexicon, ceiling: float | None) -> tuple[Session, list[int]]:
    """A session over WORDS and how many times it read its lexicon."""
    reads: list[int] = []

    def read() -> Lexicon:
        reads.append(1)
        return lexicon

    runner = FixedRunner(np.asarray(probs) / sum(probs))
    return Session(runner, Vocabulary(WORDS), Tokenizer(TokenizerConfig()), (runner.probs.copy(), []),
                   read, lexicon_ceiling=ceiling), reads


@pytest.mark.parametrize("unk, lexicon_probs, finished, reads", [
    (0.01, [0.01, 0.99], True, 0),  # p(<unk>) x ceiling < p(cat): no lexicon word can win, none read
    (0.5, [0.01, 0.99], True, 1),  # the ceiling cannot rule "catnip" out: read, and it is unlikely
    (0.5, [0.99, 0.01], False, 1),  # "catnip" is likelier than "cat": the word is still being typed
])
def test_the_lexicon_is_read_only_when_a_lexicon_word_could_win(unk, lexicon_probs, finished, reads):
    lexicon = Lexicon(["catnip", "doge"], lexicon_probs)
    typed, read = session([0.0, unk, 0.3, 0.1, 0.05, 0.2], lexicon, lexicon.ceiling)
    assert typed.ends_on_finished_word("cat") is finished
    assert len(read) == reads


def test_without_a_ceiling_the_lexicon_decides():
    lexicon = Lexicon(["catnip"], [1.0])
    typed, read = session([0.0, 0.01, 0.3, 0.1, 0.05, 0.2], lexicon, None)
    assert typed.ends_on_finished_word("cat") and len(read) == 1


def test_a_longer_vocabulary_word_or_an_unknown_word_is_partial_without_any_read():
    lexicon = Lexicon(["catnip"], [1.0])
    typed, read = session([0.0, 0.01, 0.3, 0.1, 0.4, 0.2], lexicon, 1.0)  # "cats" likelier than "cat"
    assert not typed.ends_on_finished_word("cat")
    assert not typed.ends_on_finished_word("ca") and not typed.ends_on_finished_word("")
    assert read == []


def test_the_decision_always_matches_the_suggestions_the_user_sees():
    rng = np.random.default_rng(7)
    for _ in range(300):
        probs = [0.0, *rng.dirichlet(np.full(5, 0.5))]
        lexicon = Lexicon(["cataract", "catnip", "doge"], rng.dirichlet(np.full(3, 0.5)) + 1e-9)
        for prefix in ("cat", "Cat", "dog", "the", "cats"):
            quick, _ = session(probs, lexicon, lexicon.ceiling)
            full, _ = session(probs, lexicon, None)
            seen = ends_on_finished_word(full.vocab, prefix, full.suggest(prefix, 3))
            assert quick.ends_on_finished_word(prefix) is seen, (probs, lexicon.probs, prefix)
