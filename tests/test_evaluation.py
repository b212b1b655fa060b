"""Evaluation metrics on hand-computed cases, batched streams, the cache mixture, and a tiny real model."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest

from wordrnn.evaluation import measure, streams
from wordrnn.evaluation.metrics import MetricAccumulator, score
from wordrnn.errors import ConfigError, CorpusError
from wordrnn.runtime.mixture import Interpolation, Mixer, MixtureRunner, cache_probabilities, cache_share, fit_weights
from wordrnn.text.vocab import Vocabulary

WORDS = ["</s>", "<unk>", "the", "to", "a", "tea", "an"]
VOCAB = Vocabulary(WORDS)
#           </s>  <unk>  the   to    a     tea   an
ROWS = [
    [0.05, 0.05, 0.30, 0.20, 0.15, 0.10, 0.15],  # target "tea": rank 4 overall, rank 2 among "t..."
    [0.40, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10],  # target </s> (perplexity only)
    [0.20, 0.20, 0.20, 0.10, 0.20, 0.05, 0.05],  # target <unk> spelled "xyz": always a miss
    [0.20, 0.10, 0.20, 0.10, 0.20, 0.10, 0.10],  # target "a": tied with "the", which has the lower id
]
TARGETS = [5, 0, 1, 4]
SPELLINGS = ["tea", "</s>", "xyz", "a"]


def expected() -> dict:
    ppl = math.exp(-(math.log(0.10) + math.log(0.40) + math.log(0.20) + math.log(0.20)) / 4)
    # Keys: tea 4 + xyz 4 + a 2 = 10. Cost: tea after "t" -> 2, xyz typed -> 4, a shown at once -> 1.
    return {"ppl": ppl, "top1": 0.0, "top3": 1 / 3, "top5": 2 / 3, "ksr3": 1 - 7 / 10, "oov_rate": 1 / 3,
            "tokens": 4, "words": 3, "vocab": 7}


def check(metrics: dict) -> None:
    for key, value in expected().items():
        assert metrics[key] == pytest.approx(value), key
    assert metrics["bits"] == pytest.approx(math.log2(expected()["ppl"]))


def test_metrics_by_hand():
    acc = MetricAccumulator(VOCAB)
    acc.add(np.array(ROWS), np.array(TARGETS), SPELLINGS)
    check(acc.result())


def test_metrics_do_not_depend_on_chunking():
    acc = MetricAccumulator(VOCAB)
    for i in range(4):
        acc.add(np.array(ROWS[i : i + 1]), np.array(TARGETS[i : i + 1]), SPELLINGS[i : i + 1])
    check(acc.result())


def test_prefix_candidates_are_case_exact():
    vocab = Vocabulary(["</s>", "<unk>", "The", "the", "then", "to"])
    acc = MetricAccumulator(vocab)
    assert sorted(acc.candidates("th").tolist()) == [3, 4]
    assert acc.candidates("Th").tolist() == [2]
    assert sorted(acc.candidates("").tolist()) == [2, 3, 4, 5]


class TableRunner:
    """A fake runner: the distribution is ROWS[position], the state counts the inputs read."""

    input_kind = "tokens"
    state_sizes = [1]

    def zero_state(self, batch: int = 1):
        return [np.zeros((batch, 1), np.float32)]

    def sequence(self, inputs, state):
        at = state[0][:, 0].astype(int)[:, None] + np.arange(inputs.shape[1])[None, :]
        probs = np.array(ROWS + [ROWS[0]] * 64, np.float32)[np.minimum(at, len(ROWS) + 63)]
        return probs, [state[0] + inputs.shape[1]]


def test_network_path_by_hand():
    ids = np.array(TARGETS)
    check(score(streams.network_distributions(TableRunner(), ids), VOCAB, ids, SPELLINGS))


class BigramRunner:
    """A fake network whose prediction depends only on the last input (its state)."""

    input_kind = "tokens"
    state_sizes = [1]

    def __init__(self, vocab_size: int = 7) -> None:
        rng = np.random.default_rng(3)
        self.table = rng.dirichlet(np.ones(vocab_size), vocab_size).astype(np.float32)

    def zero_state(self, batch: int = 1):
        return [np.zeros((batch, 1), np.float32)]

    def step(self, inputs, state):
        return self.table[np.asarray(inputs, int)], [np.asarray(inputs, np.float32)[:, None]]

    def sequence(self, inputs, state):
        return self.table[inputs], [inputs[:, -1:].astype(np.float32)]


class DecayingRunner:
    """A fake recurrent network: its state counts every word read, halving at each step (h = h / 2 +
    onehot), and its distribution is softmax(h W), so every earlier word still counts a little, as in
    an RNN whose memory fades."""

    input_kind = "tokens"

    def __init__(self, vocab_size: int = 7) -> None:
        self.weights = np.random.default_rng(4).normal(0.0, 2.0, (vocab_size, vocab_size)).astype(np.float32)
        self.state_sizes = [vocab_size]

    def zero_state(self, batch: int = 1):
        return [np.zeros((batch, self.state_sizes[0]), np.float32)]

    def step(self, inputs, state):
        h = np.float32(0.5) * state[0] + np.eye(self.state_sizes[0], dtype=np.float32)[np.asarray(inputs, int)]
        logits = h @ self.weights
        probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return probs / probs.sum(axis=-1, keepdims=True), [h]

    def sequence(self, inputs, state):
        steps = []
        for t in range(inputs.shape[1]):
            probs, state = self.step(inputs[:, t], state)
            steps.append(probs)
        return np.stack(steps, axis=1), state


def test_batched_streams_with_burn_in_score_like_one_pass(monkeypatch):
    """A recurrent runner with the word cache: many streams, each reading ``BURN_IN`` words of the text
    before its first scored target and carrying its state from window to window, score what one pass
    does (0.5 ** 500 and 0.9 ** 500: nothing is left of the zero state they started from)."""
    monkeypatch.setattr(streams, "MIN_STREAM", 10)
    ids = np.random.default_rng(1).integers(0, 7, 3000)
    tokens = [VOCAB.words[i] for i in ids]

    def batched(**kwargs):
        runner = MixtureRunner(DecayingRunner(), Mixer(Interpolation(cache=0.3, cache_decay=0.9, cache_fill=2.0), 7))
        return score(streams.network_distributions(runner, ids, **kwargs), VOCAB, ids, tokens)

    begins, scored, _ = streams.stream_bounds(len(ids), 8)
    assert len(begins) == 8 and (begins[2:] > 0).all() and (scored - begins == streams.BURN_IN)[2:].all()
    one = batched(batch_size=1, window=len(ids))
    assert batched(batch_size=8, window=7) == pytest.approx(one, rel=1e-6)
    # control: streams that start from the zero state mid-text (no burn-in) score differently
    monkeypatch.setattr(streams, "stream_bounds", functools.partial(streams.stream_bounds, burn_in=0))
    assert batched(batch_size=8, window=7)["ppl"] != pytest.approx(one["ppl"], rel=1e-4)


def test_ngram_path_matches_its_probabilities():
    from wordrnn.runtime.ngram import KneserNey, histories

    ids = np.random.default_rng(2).integers(0, 7, 300)
    kn = KneserNey.train(ids, 7)
    tokens = [VOCAB.words[i] for i in ids]
    metrics = score(streams.ngram_distributions(kn, ids, chunk=37), VOCAB, ids, tokens)
    probs = kn.probabilities(histories(np.concatenate([[0], ids]), 1, 301))
    assert metrics["ppl"] == pytest.approx(math.exp(-np.log(probs[np.arange(300), ids]).mean()))


def test_cache_mixture_step_sequence_and_fast_path_agree():
    settings = Interpolation(cache=0.3, cache_decay=0.9, cache_fill=2.0)
    runner = MixtureRunner(BigramRunner(), Mixer(settings, 7))
    ids = np.array([0, 2, 3, 2, 0, 4, 2, 2, 5])
    state = runner.zero_state(1)
    stepped = []
    for token in ids[:-1]:
        probs, state = runner.step(np.array([token]), state)
        stepped.append(probs[0])
    whole, _ = runner.sequence(ids[None, :-1], runner.zero_state(1))
    np.testing.assert_allclose(whole[0], np.array(stepped), rtol=1e-6)
    np.testing.assert_allclose(whole[0].sum(axis=1), 1.0, rtol=1e-5)
    # The fast target-only cache used for fitting gives the same cache probabilities.
    net = BigramRunner().table[ids[:-1], ids[1:]]
    cached, totals = cache_probabilities(ids, 0.9)
    assert totals[0] == 0 and cached[0] == 0  # the first input is </s>: nothing cached yet
    share = cache_share(0.3, totals, 2.0)
    np.testing.assert_allclose(share, 0.3 * totals / (totals + 2.0))
    mixed = (1 - share) * net + share * cached
    np.testing.assert_allclose(whole[0][np.arange(8), ids[1:]], mixed, rtol=1e-5)


def test_fit_weights_recovers_the_mixture_the_targets_came_from():
    rng = np.random.default_rng(0)
    first, second, third = rng.dirichlet(np.ones(20), 3)
    n = 40_000
    source = rng.choice(3, n, p=[0.5, 0.2, 0.3])
    targets = np.where(source == 0, rng.choice(20, n, p=first),
                       np.where(source == 1, rng.choice(20, n, p=second), rng.choice(20, n, p=third)))
    a, b, ppl = fit_weights(first[targets], second[targets], np.ones(n), third[targets])
    assert a == pytest.approx(0.2, abs=0.04) and b == pytest.approx(0.3, abs=0.05)
    assert ppl < np.exp(-np.log(first[targets]).mean())


def test_read_tokens_limit_and_empty(tmp_path):
    from wordrnn.config import TokenizerConfig
    from wordrnn.text.tokenizer import Tokenizer

    path = tmp_path / "t.txt"
    path.write_text("a b c\nd e\n", encoding="utf-8")
    tok = Tokenizer(TokenizerConfig(pretokenized=True))
    assert streams.read_tokens([path], tok) == ["a", "b", "c", "</s>", "d", "e", "</s>"]
    assert streams.read_tokens([path], tok, limit=5) == ["a", "b", "c", "</s>", "d"]
    with pytest.raises(ConfigError):
        streams.read_tokens([path], tok, limit=0)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(CorpusError):
        streams.read_tokens([empty], tok)


def test_tiny_model_evaluate_limit_save_and_interpolate(tmp_path, tiny_model, text_file):
    import shutil

    from wordrnn.store.saved import SavedModel

    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    metrics = measure.evaluate([text_file], model, limit=300, save=True)
    assert metrics["tokens"] == 300
    assert 1 < metrics["ppl"] < 200 and 0 <= metrics["top1"] <= metrics["top3"] <= metrics["top5"] <= 1
    assert 0 < metrics["ksr3"] < 1
    assert SavedModel.load(model).metrics["ppl"] == pytest.approx(metrics["ppl"])
    from wordrnn.evaluation.interpolation import interpolate

    fitted = interpolate(model, [text_file], ngram_corpus=[text_file])
    assert fitted["valid_ppl_interpolated"] <= fitted["valid_ppl_network"] + 1e-9
    manifest = json.loads((model / "wordrnn.json").read_text())
    assert manifest["interpolation"]["cache"] == pytest.approx(fitted["cache"])
    from wordrnn.runtime.mixture import MixtureRunner
    from wordrnn.runtime.runner import open_runner

    if fitted["cache"] or fitted["ngram"]:
        runner = open_runner(SavedModel.load(model), "keras")
        assert isinstance(runner, MixtureRunner)
        probs, _ = runner.step(np.array([0]), runner.zero_state(1))
        assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    mixed = measure.evaluate([text_file], model, limit=300)
    plain = measure.evaluate([text_file], model, limit=300, interpolated=False)
    assert plain["ppl"] == pytest.approx(metrics["ppl"], rel=1e-4)
    assert mixed["tokens"] == plain["tokens"] == 300
