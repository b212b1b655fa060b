"""The Predictor and its Session: probabilities, incremental feeding, completion, generation, beam, score.

Exactness checks run on the tiny Keras model against ``KerasStep.sequence`` (the whole context
in one call). Search and sampling checks also run on ``BigramRunner``, a NumPy step runner whose
answers are known in closed form, which proves the predictor needs nothing but ``StepRunner``.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

import wordrnn
from wordrnn.predict import predictor as predictor_module
from wordrnn.predict import session as session_module
from wordrnn.predict.beam import beam_search
from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig
from wordrnn.errors import ConfigError, CorpusError, ModelFormatError, WordRNNWarning
from wordrnn.predict.predictor import Predictor, load, rank
from wordrnn.store.saved import SavedModel
from wordrnn.text.vocab import EOS_ID, UNK_ID, Vocabulary

WORDS = ["</s>", "<unk>", "the", "cat", "sat", "on", "mat", ".", "then", "dog", "ran", "there"]


class BigramRunner:
    """A StepRunner whose next-word distribution depends only on the last id (state = that id)."""

    name = "bigram"
    input_kind = "tokens"
    state_sizes = [1]

    def __init__(self, vocab_size: int = len(WORDS), seed: int = 0, unk_heavy: bool = False) -> None:
        rng = np.random.default_rng(seed)
        table = rng.dirichlet(np.full(vocab_size, 0.3), size=vocab_size)
        if unk_heavy:
            table[:, UNK_ID] += 5.0
            table /= table.sum(axis=1, keepdims=True)
        self.table = table.astype(np.float32)
        self.calls = 0

    def zero_state(self, batch: int = 1) -> list[np.ndarray]:
        return [np.full((batch, 1), -1.0, np.float32)]

    def step(self, inputs, state):
        self.calls += 1
        ids = np.asarray(inputs, dtype=np.int64).reshape(-1)
        return self.table[ids], [ids[:, None].astype(np.float32)]


def bigram_predictor(**kwargs) -> Predictor:
    from pathlib import Path

    saved = SavedModel(Path("<bigram>"), {}, ModelConfig(vocab_size=len(WORDS)), TokenizerConfig(), TrainConfig(),
                       Vocabulary(WORDS))
    return Predictor(saved, BigramRunner(**kwargs))


@pytest.fixture(scope="module")
def pred(tiny_model) -> Predictor:
    return load(tiny_model, runtime="keras")


def sequence_probs(pred: Predictor, ids: list[int]) -> np.ndarray:
    """Every position's next-word distribution from ONE call on the whole context."""
    from wordrnn.runtime.keras import KerasStep

    runner = pred.runner if isinstance(pred.runner, KerasStep) else KerasStep(pred.saved)
    outputs, _ = runner.sequence(np.asarray([[EOS_ID, *ids]]), runner.zero_state(1))
    return outputs[0]


def test_package_exposes_load_lazily():
    assert wordrnn.load is load and wordrnn.Predictor is Predictor and wordrnn.Session is predictor_module.Session


def test_probabilities_sum_to_one_and_match_a_full_sequence_evaluation(pred):
    text = "the cat sees the ball .\nshe likes a red"
    words = pred.tokenizer.tokenize(text)
    ids = [pred.vocab.lookup(w) for w in words]
    full = sequence_probs(pred, ids)
    probs = pred.probabilities(text)
    assert probs.shape == (len(pred.vocab),) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(probs, full[-1], atol=1e-6)
    np.testing.assert_allclose(pred.probabilities(""), full[0], atol=1e-6)  # start-of-text state


def test_feeding_one_word_at_a_time_equals_the_whole_context_at_once(pred):
    words = pred.tokenizer.tokenize("my friend wants the green tree today .\nthe dog follows a blue car")
    full = sequence_probs(pred, [pred.vocab.lookup(w) for w in words])
    session = pred.session()
    np.testing.assert_allclose(session.probabilities(), full[0], atol=1e-6)
    for position, word in enumerate(words, 1):
        session.feed(word)
        np.testing.assert_allclose(session.probabilities(), full[position], atol=1e-6)
    assert session.words == tuple(words) and len(session) == len(words)
    assert session.state[0].shape == (1, 16)


def test_sync_and_rewind_reuse_state_and_match_a_fresh_session(pred, monkeypatch):
    session = pred.session()
    assert session.sync("the cat sees the gr") == "gr"
    assert session.words == ("the", "cat", "sees", "the")
    assert session.sync("the dog ") == ""
    np.testing.assert_allclose(session.probabilities(), pred.probabilities("the dog"), atol=1e-6)
    session.rewind(1)
    np.testing.assert_allclose(session.probabilities(), pred.probabilities("the"), atol=1e-6)
    session.rewind(5)
    np.testing.assert_allclose(session.probabilities(), pred.probabilities(""), atol=1e-6)
    monkeypatch.setattr(session_module, "_UNDO_STATES", 3)  # older states dropped: rewinding replays
    long = pred.session("the cat sees the ball . the dog likes a red apple")
    long.rewind(6)
    np.testing.assert_allclose(long.probabilities(), pred.probabilities("the cat sees the ball ."), atol=1e-6)
    twin = long.copy()
    twin.feed("the")
    assert len(twin) == len(long) + 1


def test_suggestions_are_ranked_and_never_special(pred):
    full = pred.probabilities("the cat ")
    suggestions = pred.suggest("the cat ", k=5)
    assert len(suggestions) == 5
    probs = [p for _, p in suggestions]
    assert probs == sorted(probs, reverse=True)
    assert all(w not in ("</s>", "<unk>") for w, _ in suggestions)
    assert all(p == pytest.approx(float(full[pred.vocab.id(w)])) for w, p in suggestions)
    everything = {w for w, _ in pred.suggest("the cat ", k=10_000)}
    punctuation = {w for w in pred.vocab.words[2:] if not any(c.isalnum() for c in w)}
    assert punctuation, "the test vocabulary should hold punctuation"
    assert everything == set(pred.vocab.words[2:]) - punctuation  # every typed word, never a mark


def test_prefix_completion_returns_only_words_with_the_prefix_renormalised(pred):
    full = pred.probabilities("the cat sees the")
    completions = pred.suggest("the cat sees the s", k=50)
    assert completions and all(w.startswith("s") for w, _ in completions)
    assert sum(p for _, p in completions) == pytest.approx(1.0)
    ids = [pred.vocab.id(w) for w, _ in completions]
    expected = full[ids] / full[pred.vocab.prefix_ids("s")].sum()
    np.testing.assert_allclose([p for _, p in completions], expected, rtol=1e-5)
    assert pred.suggest("the zzq", k=3) == []
    result = pred.complete("she likes the gr", k=2)
    assert result.context == ["she", "likes", "the"] and result.prefix == "gr"


def test_unknown_words_warn_once_and_read_as_unk(pred):
    with pytest.warns(WordRNNWarning, match="xyzzy.*plugh") as caught:
        session = pred.session("xyzzy the plugh ")
    assert len(caught) == 1
    assert session.ids[0] == UNK_ID and session.ids[2] == UNK_ID
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pred.session("The cat")  # case variants are found: no warning
    assert pred.session("The cat").ids == pred.session("the cat").ids
    with pytest.warns(WordRNNWarning):
        assert len(pred.suggest("qqq zzz ", k=3)) == 3  # out-of-vocabulary-only context still answers


def test_k_must_be_positive(pred):
    for bad in (0, -1):
        with pytest.raises(ConfigError, match="^k must be a whole number"):
            pred.suggest("the", k=bad)
        with pytest.raises(ConfigError):
            rank(np.ones(5), pred.vocab, "", bad)


def test_greedy_generation_is_deterministic_and_follows_the_argmax(pred):
    first = pred.generate("the dog", 12, top_k=1)
    assert first == pred.generate("the dog", 12, top_k=1, seed=5)
    session = pred.session("the dog")
    for word in first:
        probs = session.probabilities()
        probs[UNK_ID] = 0
        assert pred.vocab.words[int(np.argmax(probs))] == word
        session.feed(word)


def test_the_same_seed_reproduces_a_sample(pred):
    a = pred.generate("the", 30, temperature=1.3, seed=11)
    assert a == pred.generate("the", 30, temperature=1.3, seed=11)
    assert a != pred.generate("the", 30, temperature=1.3, seed=12)
    assert pred.generate("the", 30, top_p=0.9, seed=3) == pred.generate("the", 30, top_p=0.9, seed=3)
    assert len(pred.generate("", 5, top_k=3, seed=1)) == 5
    assert pred.generate("the", 0) == []


def test_generation_streams_and_leaves_the_session_unchanged(pred):
    session = pred.session("the cat")
    before = session.probabilities()
    stream = session.iter_generate(4, seed=1)
    assert next(stream) == pred.generate("the cat", 1, seed=1)[0]
    assert list(stream) == pred.generate("the cat", 4, seed=1)[1:]
    np.testing.assert_array_equal(session.probabilities(), before)


def test_unk_is_never_generated_and_eos_can_stop():
    pred = bigram_predictor(unk_heavy=True)
    words = pred.generate("the", 300, seed=0)
    assert "<unk>" not in words and len(words) == 300
    assert "<unk>" not in pred.beam_search("the", 5, 4)
    stopped = pred.generate("the", 300, seed=0, stop_at_eos=True)
    assert "</s>" not in stopped
    if "</s>" in words:
        assert stopped == words[: words.index("</s>")]


def test_bad_generation_options(pred):
    for kwargs in ({"temperature": 0}, {"temperature": -1}, {"top_p": 0}, {"top_p": 1.01}, {"top_k": 0}, {"seed": -3}):
        with pytest.raises(ConfigError):
            pred.generate("the", 3, **kwargs)
    with pytest.raises(ConfigError, match=r"^n_words \(the number of words\) must be"):
        pred.generate("the", -1)
    with pytest.raises(ConfigError, match="^beam_width must be"):
        pred.beam_search("the", 3, 0)


def _exhaustive_best(pred: Predictor, seed_text: str, n: int) -> tuple[tuple[int, ...], float]:
    allowed = [i for i in range(len(pred.vocab)) if i != UNK_ID]
    best = ((), -math.inf)
    for ids in itertools.product(allowed, repeat=n):
        session = pred.session(seed_text)
        total = 0.0
        for i in ids:
            total += math.log(session.probabilities()[i])
            session.feed(pred.vocab.words[i])
        if total > best[1]:
            best = (ids, total)
    return best


def test_beam_search_returns_its_best_scoring_sequence():
    pred = bigram_predictor(seed=3)
    best_ids, best_logp = _exhaustive_best(pred, "the cat", 3)
    session = pred.session("the cat")
    hypotheses = beam_search(pred.runner, session.probabilities()[None], session.state, 3, len(WORDS), [UNK_ID])
    assert hypotheses[0].ids == best_ids and hypotheses[0].log_prob == pytest.approx(best_logp, rel=1e-6)
    assert [h.log_prob for h in hypotheses] == sorted((h.log_prob for h in hypotheses), reverse=True)
    assert pred.beam_search("the cat", 3, len(WORDS)) == [pred.vocab.words[i] for i in best_ids]
    assert pred.beam_search("the cat", 6, 1) == pred.generate("the cat", 6, top_k=1)  # width 1 is greedy


def test_beam_search_on_the_keras_model(pred):
    session = pred.session("the cat")
    runner_width = len(pred.vocab)
    hypotheses = beam_search(pred.runner, session.probabilities()[None], session.state, 2, runner_width, [UNK_ID])
    # Exhaustive over two words: one batched step from every first word.
    first = np.log(session.probabilities().astype(np.float64))
    ids = np.arange(len(pred.vocab))
    state = [np.repeat(s, len(ids), axis=0) for s in session.state]
    second, _ = pred.runner.step(ids, state)
    totals = first[:, None] + np.log(second.astype(np.float64))
    totals[UNK_ID, :] = totals[:, UNK_ID] = -np.inf
    a, b = np.unravel_index(np.argmax(totals), totals.shape)
    assert hypotheses[0].ids == (a, b) and hypotheses[0].log_prob == pytest.approx(totals[a, b], rel=1e-5)
    words = pred.beam_search("the cat", 8, 3, stop_at_eos=True)
    assert "</s>" not in words and 1 <= len(words) <= 8


def test_score_sums_the_log_probability_of_every_token(pred, monkeypatch):
    text = "the cat sees the ball .\nshe likes a red apple !\n"
    words = pred.tokenizer.tokenize(text)
    assert words.count("</s>") == 2
    session, expected = pred.session(), 0.0
    for word in words:
        expected += math.log(session.probabilities()[pred.vocab.lookup(word)])
        session.feed(word)
    score = pred.score(text)
    assert score.tokens == len(words)
    assert score.log_prob == pytest.approx(expected, rel=1e-5)
    assert score.perplexity == pytest.approx(math.exp(-expected / len(words)), rel=1e-5)
    monkeypatch.setattr(predictor_module, "_SCORE_CHUNK", 3)
    assert pred.score(text).log_prob == pytest.approx(expected, rel=1e-5)
    with pytest.raises(CorpusError):
        pred.score("  \n ")


def test_load_errors(tmp_path, tiny_model, monkeypatch):
    with pytest.raises(ModelFormatError, match="no such model directory"):
        load(tmp_path / "missing")
    (tmp_path / "wordrnn.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        load(tmp_path)
    with pytest.raises(ConfigError, match="^runtime must be one of"):
        load(tiny_model, runtime="gpu")
    monkeypatch.setenv("WORDRNN_MODEL", str(tmp_path / "elsewhere"))
    with pytest.raises(ModelFormatError, match="elsewhere"):
        load()


def test_runner_vocabulary_mismatch_and_series_models_are_refused():
    pred = bigram_predictor()
    pred.runner.table = pred.runner.table[:, :5]
    with pytest.raises(ModelFormatError, match="predicts 5 words"):
        pred.suggest("the")
    from pathlib import Path

    series = SavedModel(Path("s"), {}, ModelConfig(input_kind="series"), TokenizerConfig(), TrainConfig(), None)
    with pytest.raises(ModelFormatError, match="series"):
        Predictor(series, BigramRunner())


def test_predictor_imports_no_tensorflow():
    code = (
        "import sys, tests.test_predictor as t\n"
        "p = t.bigram_predictor()\n"
        "p.suggest('the c'); p.generate('the', 5, seed=1); p.beam_search('the', 3, 2); p.score('the cat')\n"
        "import wordrnn.cli.predict\n"
        "assert not {'tensorflow', 'keras'} & set(sys.modules), sorted(m for m in sys.modules if 'tensorflow' in m)[:3]\n"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                            env={"PYTHONPATH": f"{root}:{root / 'tests'}", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_predicted_sentence_end_passes_its_mass_to_the_words_after_it(pred):
    session = pred.session("the cat sees the ball .")
    raw, visible = session.probabilities(), session.visible_probabilities()
    after = pred.session("the cat sees the ball .\n").probabilities()
    assert raw[0] > 0.01  # the model expects the sentence to end here
    np.testing.assert_allclose(visible[2:], raw[2:] + raw[0] * after[2:], rtol=1e-5, atol=1e-7)
    assert [w for w, _ in session.suggest(k=3)] == [w for w, _ in pred.suggest("the cat sees the ball . ", 3)]


def test_a_vocabulary_word_being_typed_is_completed_when_a_longer_word_is_likelier(pred):
    finished = pred.complete("the cat sees a red", k=3)  # "red" is its own best completion: next words
    assert finished.prefix == "" and finished.context[-1] == "red"
    typing = pred.complete("the cat sees a red a", k=3)  # "a" after "a red": "apple" is far likelier
    assert typing.prefix == "a" and typing.suggestions[0][0] == "apple"


def test_visible_probabilities_follow_every_change_of_context(pred, monkeypatch):
    # Retyping a first word (a keyboard's backspace, "he" -> "she") must never be served the
    # previous word's distribution. A cache keyed on the id() of the probabilities once was: a
    # freed array's id can be reused by the next one (made certain here by an id() that repeats).
    monkeypatch.setattr(session_module, "id", lambda _: 7, raising=False)
    fresh = {word: pred.session(word).visible_probabilities() for word in ("the", "a", "dog")}
    session = pred.session()
    for _ in range(3):
        for word in ("the", "a", "dog"):
            session.sync(f"{word} ")
            np.testing.assert_allclose(session.visible_probabilities(), fresh[word], atol=1e-6)
