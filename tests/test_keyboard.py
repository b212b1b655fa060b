"""The Keyboard: incremental typing equals a fresh suggest, one step per new word, adaptation on commit."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wordrnn
from wordrnn.keyboard.adapt import AdaptationCache
from wordrnn.errors import WordRNNWarning
from wordrnn.keyboard.keyboard import Keyboard
from wordrnn.predict.predictor import Predictor


class CountingRunner:
    """Wraps a step runner and counts the steps it runs."""

    def __init__(self, base) -> None:  # noqa: ANN001
        self.base, self.steps = base, 0
        self.name, self.input_kind, self.state_sizes = "counting", base.input_kind, base.state_sizes

    def zero_state(self, batch: int = 1):
        return self.base.zero_state(batch)

    def step(self, inputs, state):  # noqa: ANN001
        self.steps += 1
        return self.base.step(inputs, state)


@pytest.fixture(scope="module")
def predictor(tiny_model):
    return wordrnn.load(tiny_model, "keras")


@pytest.mark.filterwarnings("ignore::wordrnn.errors.WordRNNWarning")  # the predictor's, for "fin"
def test_keyboard_matches_a_fresh_suggest_on_the_whole_text(predictor):
    keyboard = Keyboard(predictor)
    typed = "she likes the green tree again."
    for i in range(len(typed) + 1):  # every keystroke, like the bar
        assert keyboard.suggest(typed[:i], 3).words == predictor.suggest(typed[:i], 3, complete_known_words=True)
    keyboard.commit(typed)
    keyboard.commit("")  # an empty line feeds nothing (as in training text)
    keyboard.commit("the cat fin")
    for text in ("", "he ", "he wan", "he wants the smal", "he wants the small ho"):
        assert keyboard.suggest(text, 4).words == predictor.suggest(f"{typed}\n\nthe cat fin\n{text}", 4, complete_known_words=True)
    assert keyboard.text() == f"{typed}\n\nthe cat fin\n"
    for text in ("he wants the small house", "he wa", "she "):  # backspace and retyping rewind the line
        assert keyboard.suggest(text, 3).words == predictor.suggest(f"{typed}\nthe cat fin\n{text}", 3, complete_known_words=True)


def test_keyboard_steps_once_per_new_word_and_never_recomputes_the_history(predictor, monkeypatch):
    from wordrnn.predict.predictor import Session

    # the one-step look-ahead past a predicted sentence end is not a recomputation: count without it
    monkeypatch.setattr(Session, "visible_probabilities", Session.probabilities)
    runner = CountingRunner(predictor.runner)
    counted = Predictor(predictor.saved, runner)
    keyboard = Keyboard(counted, AdaptationCache(counted.vocab))
    line = "the dog follows the river today ."
    for i in range(len(line) + 1):
        keyboard.suggest(line[:i])
    start = 1  # the start-of-text step
    assert runner.steps == start + len(line.split())  # the last word: fed while typing the space after it
    keyboard.commit(line)
    assert runner.steps == start + len(line.split()) + 1  # only </s> was left
    for _ in range(5):
        keyboard.suggest("")
    keyboard.commit("a bird sees")
    assert runner.steps == start + len(line.split()) + 1 + 3 + 1


def test_keyboard_reports_unknown_words_without_warnings(predictor, recwarn):
    keyboard = Keyboard(predictor, AdaptationCache(predictor.vocab))
    result = keyboard.suggest("the zorblax sees the qux ")
    assert result.unknown == ("zorblax", "qux") and len(recwarn) == 0


def test_keyboard_adapts_to_a_repeated_phrase(predictor):
    plain = Keyboard(predictor)
    adapted = Keyboard(predictor, AdaptationCache(predictor.vocab, weight=0.3))
    before = dict(adapted.suggest("the old man wants the ", 10).words).get("river", 0.0)
    for _ in range(4):
        adapted.commit("the old man wants the river")
        plain.commit("the old man wants the river")
    after = dict(adapted.suggest("the old man wants the ", 10).words).get("river", 0.0)
    unadapted = dict(plain.suggest("the old man wants the ", 10).words).get("river", 0.0)
    assert after > before and after > unadapted
    adapted.forget()
    assert adapted.suggest("the old man wants the ", 10).words == plain.suggest("the old man wants the ", 10).words
    assert adapted.cache is not None and len(adapted.cache) == 0


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.text(max_size=40), max_size=4), typed=st.text(max_size=40))
def test_any_text_is_handled_and_matches_a_fresh_suggest(predictor, lines, typed):
    keyboard = Keyboard(predictor, AdaptationCache(predictor.vocab))
    plain = Keyboard(predictor)
    for line in lines:
        keyboard.commit(line)
        plain.commit(line)
    keyboard.suggest(typed, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WordRNNWarning)
        expected = predictor.suggest("".join(f"{line}\n" for line in lines) + typed, 3, complete_known_words=True)
    assert plain.suggest(typed, 3).words == expected


def test_what_a_line_costs_does_not_grow_with_the_lines_before_it():
    """REPL line mode slowed quadratically (2k lines 1.1 s, 16k lines 14.9 s, 100k lines > 120 s): every
    committed line copied the whole history. Measured without a clock: the memory one line allocates
    (copies included) must be the same after 3,000 lines as after 50 (issue 18 item 10)."""
    import tracemalloc

    from test_predictor import bigram_predictor  # a NumPy runner: thousands of lines in a second

    predictor = bigram_predictor()
    keyboard = Keyboard(predictor, AdaptationCache(predictor.vocab))
    line = "the cat sat on the mat . then the dog ran there"

    def type_lines(count: int) -> None:
        for _ in range(count):
            keyboard.suggest(line)
            keyboard.commit(line)

    def allocated_by_one_line() -> int:
        tracemalloc.start()
        try:
            type_lines(1)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    type_lines(50)
    early = max(allocated_by_one_line() for _ in range(3))
    type_lines(3000)  # 36,000 words later
    late = min(allocated_by_one_line() for _ in range(3))
    assert late < early + 16 * 1024, (early, late)
    session = predictor.session("\n".join([line] * 3056) + "\n")  # and the context is still every line
    assert (keyboard.context.probabilities() == session.probabilities()).all()
