"""Context-dependent mixture weights: history counts, buckets, per-row mixing, manifests, the same-text warning."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter

import numpy as np
import pytest

from wordrnn.errors import WordRNNWarning
from typer.testing import CliRunner

from wordrnn.errors import ModelFormatError
from wordrnn.evaluation.fitting import fit_by_bucket, mixed_targets
from wordrnn.runtime.mixture import Mixer, MixtureRunner, cache_share, fit_weights
from wordrnn.runtime.mixture_settings import BUCKET_EDGES, Interpolation
from wordrnn.runtime.ngram import KneserNey, histories

# A tiny stream over ids 0..5 (0 is </s>): history (2, 3) is seen 3 times, (3, 4) twice, (3, 5) once.
STREAM = np.array([2, 3, 4, 0, 2, 3, 5, 0, 2, 3, 4, 0])
OLD_MANIFEST = {"cache": 0.13, "ngram": 0.2, "cache_decay": 0.995, "cache_fill": 50.0}


def brute_force_counts(ids: np.ndarray) -> Counter:
    stream = [0, *ids.tolist()]
    return Counter(zip(stream, stream[1:-1]))


def test_history_counts_by_hand_unpruned_and_pruned():
    asked = np.array([[2, 3], [3, 4], [3, 5], [0, 2], [1, 1], [5, 5]])
    full = KneserNey.train(STREAM, 6)
    np.testing.assert_array_equal(full.history_counts(asked), [3, 2, 1, 3, 0, 0])
    pruned = KneserNey.train(STREAM, 6, min_trigram_count=2)
    # (2, 3) keeps its whole count (its rare continuation 5 was pruned); (3, 5) lost every trigram.
    np.testing.assert_array_equal(pruned.history_counts(asked), [3, 2, 0, 3, 0, 0])
    again = KneserNey.from_arrays(pruned.to_arrays())
    np.testing.assert_array_equal(again.history_counts(asked), pruned.history_counts(asked))


def test_history_counts_match_a_brute_force_count():
    rng = np.random.default_rng(4)
    ids = np.minimum(rng.zipf(1.5, 2000), 29)
    kn = KneserNey.train(ids, 30)
    expected = brute_force_counts(ids)
    u, v = np.meshgrid(np.arange(30), np.arange(30))
    asked = np.stack([u.ravel(), v.ravel()], 1)
    np.testing.assert_array_equal(kn.history_counts(asked), [expected.get((a, b), 0) for a, b in asked.tolist()])


def old_mix(settings: dict, probs, history, cache, ngram):
    """The mixture as it was before buckets (copied), for the old-manifest test."""
    a, b = settings["cache"], settings["ngram"]
    totals = cache.sum(axis=1, dtype=np.float64)
    share = cache_share(a, totals, settings["cache_fill"])[:, None]
    mixed = (1.0 - share - b) * np.asarray(probs, np.float64)
    mixed += b * ngram.probabilities(history.astype(np.int64))
    mixed += share * cache / np.maximum(totals, 1e-30)[:, None]
    return mixed.astype(np.float32)


def mixer_inputs(batch: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(6), batch).astype(np.float32)
    history = np.array([[2, 3], [3, 4], [3, 5], [1, 1], [0, 2]][:batch], np.float32)
    cache = rng.integers(0, 4, (batch, 6)).astype(np.float32)
    return probs, [history, cache]


def test_old_manifests_load_and_mix_exactly_as_before():
    settings = Interpolation.from_json(dict(OLD_MANIFEST))
    assert settings.to_json() == OLD_MANIFEST and not settings.edges
    kn = KneserNey.train(STREAM, 6)
    probs, state = mixer_inputs()
    mixed = Mixer(settings, 6, kn).mix(probs, state)
    np.testing.assert_array_equal(mixed, old_mix(OLD_MANIFEST, probs, state[0], state[1], kn))


def test_one_weight_pair_in_every_bucket_is_the_global_mixture():
    kn = KneserNey.train(STREAM, 6)
    flat = Interpolation(cache=0.2, ngram=0.3)
    bucketed = Interpolation(cache=0.2, ngram=0.3, edges=(1, 3), bucket_cache=(0.2,) * 3, bucket_ngram=(0.3,) * 3)
    probs, state = mixer_inputs()
    np.testing.assert_array_equal(Mixer(flat, 6, kn).mix(probs, state), Mixer(bucketed, 6, kn).mix(probs, state))
    # ... and fitting with a single bucket gives the global fit.
    rng = np.random.default_rng(1)
    net, cache, fill, gram = rng.uniform(0.01, 1, (4, 500))
    fit = fit_by_bucket(net, cache, fill, gram, np.zeros(500, np.int64), 1)
    a, b, ppl = fit_weights(net, cache, fill, gram)
    assert (fit.cache, fit.ngram, fit.global_ppl) == ((a,), (b,), ppl)
    assert fit.ppl == pytest.approx(ppl)


def test_each_row_takes_its_buckets_weights_and_sums_to_one():
    kn = KneserNey.train(STREAM, 6)
    settings = Interpolation(edges=(1, 3), bucket_cache=(0.0, 0.3, 0.1), bucket_ngram=(0.05, 0.2, 0.6))
    mixer = Mixer(settings, 6, kn)
    probs, state = mixer_inputs()
    mixed = mixer.mix(probs, state)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
    history, cache = state
    counts = kn.history_counts(history)  # 3, 2, 1, 0, 3: buckets 2, 1, 1, 0, 2
    np.testing.assert_array_equal(settings.bucket_of(counts), [2, 1, 1, 0, 2])
    for row, bucket in enumerate(settings.bucket_of(counts)):
        one = Interpolation(cache=settings.bucket_cache[bucket], ngram=settings.bucket_ngram[bucket])
        expected = Mixer(one, 6, kn).mix(probs[row:row + 1], [history[row:row + 1], cache[row:row + 1]])
        np.testing.assert_allclose(mixed[row], expected[0], rtol=1e-6)


class UniformRunner:
    """A fake network: the same distribution whatever it reads."""

    input_kind = "tokens"
    state_sizes = [1]

    def zero_state(self, batch: int = 1):
        return [np.zeros((batch, 1), np.float32)]

    def step(self, inputs, state):
        return np.full((len(inputs), 6), 1 / 6, np.float32), state

    def sequence(self, inputs, state):
        return np.full((*inputs.shape, 6), 1 / 6, np.float32), state


def test_step_and_sequence_mix_alike_and_match_the_fitting_formula():
    kn = KneserNey.train(STREAM, 6)
    settings = Interpolation(cache_decay=0.9, cache_fill=2.0, edges=(1, 3), bucket_cache=(0.0, 0.3, 0.1),
                             bucket_ngram=(0.05, 0.2, 0.6))
    runner = MixtureRunner(UniformRunner(), Mixer(settings, 6, kn))
    inputs = np.concatenate([[0], STREAM])
    state, stepped = runner.zero_state(1), []
    for token in inputs[:-1]:
        probs, state = runner.step(np.array([token]), state)
        stepped.append(probs[0])
    whole, _ = runner.sequence(inputs[None, :-1], runner.zero_state(1))
    np.testing.assert_allclose(whole[0], np.array(stepped), rtol=1e-6)
    # What fitting computes from the targets' probabilities alone (cache_probabilities, history_counts).
    from wordrnn.runtime.mixture import cache_probabilities

    targets = inputs[1:]
    cached, totals = cache_probabilities(inputs, 0.9)
    gram = kn.probabilities(histories(inputs, 1, len(inputs)))[np.arange(len(targets)), targets]
    bucket = settings.bucket_of(kn.history_counts(histories(inputs, 1, len(inputs))))
    fitted = mixed_targets(np.full(len(targets), 1 / 6), cached, cache_share(1.0, totals, 2.0), gram,
                           np.asarray(settings.bucket_cache)[bucket], np.asarray(settings.bucket_ngram)[bucket])
    np.testing.assert_allclose(whole[0][np.arange(len(targets)), targets], fitted, rtol=1e-5)


def test_small_buckets_fall_back_to_the_global_pair():
    rng = np.random.default_rng(2)
    net, gram = rng.uniform(0.01, 1, (2, 1000))
    buckets = np.where(np.arange(1000) < 50, 0, 1)
    fit = fit_by_bucket(net, None, None, gram, buckets, 3, min_positions=200)
    assert fit.positions == (50, 950, 0) and fit.fallback == (True, False, True)
    assert fit.ngram[0] == fit.ngram[2] == fit.global_ngram and fit.cache == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("damage", [
    "not a dict", {"cache": "0.1"}, {"cache": True}, {"cache": float("nan")}, {"ngram": 1.5},
    {"cache": 0.6, "ngram": 0.5}, {"cache_decay": 1.0}, {"cache_fill": float("inf")},
    {"buckets": [1, 2]}, {"buckets": {"edges": [1, 3], "cache": [0.1, 0.1], "ngram": [0.1, 0.1, 0.1]}},
    {"buckets": {"edges": [3, 1], "cache": [0.1] * 3, "ngram": [0.1] * 3}},
    {"buckets": {"edges": [0], "cache": [0.1] * 2, "ngram": [0.1] * 2}},
    {"buckets": {"edges": [1.5], "cache": [0.1] * 2, "ngram": [0.1] * 2}},
    {"buckets": {"edges": [1], "cache": [0.1, float("nan")], "ngram": [0.1] * 2}},
    {"buckets": {"edges": [1], "cache": [0.1, 0.5], "ngram": [0.1, 0.6]}},
    {"buckets": {"edges": [1], "cache": [0.1, 0.1]}},
    {"fitted_on": "dev.txt"}, {"fitted_on": {"files": ["dev.txt"], "sha256": "abc"}},
    {"fitted_on": {"files": "dev.txt", "sha256": "0" * 64}},
])
def test_damaged_settings_are_refused_cleanly(damage):
    data = damage if not isinstance(damage, dict) else {**OLD_MANIFEST, **damage}
    with pytest.raises(ModelFormatError, match="damaged"):
        Interpolation.from_json(data)


def test_bucketed_settings_round_trip_and_need_their_ngram():
    settings = Interpolation(cache=0.1, ngram=0.2, edges=(1, 3, 10), bucket_cache=(0.1, 0.1, 0.05, 0.0),
                             bucket_ngram=(0.0, 0.1, 0.3, 0.5))
    data = json.loads(json.dumps(settings.to_json()))
    assert Interpolation.from_json(data) == settings
    with pytest.raises(ModelFormatError, match="no n-gram file"):
        Mixer(Interpolation(cache=0.1, edges=(1,), bucket_cache=(0.1, 0.1), bucket_ngram=(0.0, 0.0)), 6)


runner = CliRunner()


def run(*args):
    from wordrnn.cli.main import app

    return runner.invoke(app, [str(a) for a in args])


def test_cli_help_and_bucket_count():
    from wordrnn.cli.evaluate import NGRAM_BUCKETS

    assert NGRAM_BUCKETS == len(BUCKET_EDGES) + 1
    result = run("interpolate", "--help")
    assert result.exit_code == 0 and "--ngram-buckets" in result.output
    bad = run("interpolate", "nowhere", "--valid", "x.txt", "--ngram-buckets", "0")
    assert bad.exit_code != 0 and "--ngram-buckets" in bad.stderr


def test_fitted_model_evaluates_as_fitted_and_warns_on_the_fitting_text(tmp_path, tiny_model, text_file):
    from wordrnn.evaluation import measure
    from wordrnn.evaluation.interpolation import interpolate, text_sha256

    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    fitted = interpolate(model, [text_file], ngram_corpus=[text_file], bucket_edges=(1, 10, 100),
                         min_bucket_positions=20, batch_size=1)
    manifest = json.loads((model / "wordrnn.json").read_text())["interpolation"]
    assert manifest["buckets"]["edges"] == [1, 10, 100] and len(manifest["buckets"]["ngram"]) == 4
    assert manifest["fitted_on"] == {"files": [text_file.name], "sha256": text_sha256([text_file])}  # no paths
    assert [row["history_count"] for row in fitted["contexts"]] == ["unseen/pruned", "1-9", "10-99", "100+"]
    assert sum(row["share"] for row in fitted["contexts"]) == pytest.approx(1.0)
    assert fitted["valid_ppl_interpolated"] <= fitted["valid_ppl_global"] + 1e-9
    # One stream from a fresh state, as fitting reads the text: evaluate reproduces the fitted perplexity.
    with pytest.warns(WordRNNWarning, match="fitted on this text"):  # the library warns, not only the CLI
        metrics = measure.evaluate([text_file], model, batch_size=1)
    assert metrics["ppl"] == pytest.approx(fitted["valid_ppl_interpolated"], rel=1e-3)

    same = run("evaluate", text_file, "-m", model, "--limit", "50", "--json")
    assert same.exit_code == 0, same.output
    warnings = [line for line in same.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "fitted on this text" in warnings[0]
    other = tmp_path / "other.txt"
    other.write_text(text_file.read_text(encoding="utf-8")[:2000], encoding="utf-8")
    different = run("evaluate", other, "-m", model, "--limit", "50", "--json")
    assert different.exit_code == 0 and "warning:" not in different.stderr


def test_cli_interpolate_reports_buckets_and_warns(tmp_path, tiny_model, text_file):
    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    result = run("interpolate", model, "--valid", text_file, "--ngram", text_file, "-q")
    assert result.exit_code == 0, result.output
    assert "history count" in result.stdout and "unseen/pruned" in result.stdout
    assert "warning:" in result.stdout and "fitted on" in result.stdout
    flat = run("interpolate", model, "--valid", text_file, "--ngram", text_file, "--ngram-buckets", "1", "--json")
    data = json.loads(flat.stdout)
    assert "buckets" not in data and len(data["contexts"]) == 1 and data["contexts"][0]["history_count"] == "any"
    assert "buckets" not in json.loads((model / "wordrnn.json").read_text())["interpolation"]
    assert math.isfinite(data["valid_ppl_interpolated"]) and "warning" in data


def test_bench_script_smoke_mode(tmp_path, tiny_model, text_file):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_mixture.py"
    done = subprocess.run([sys.executable, str(script), "--smoke", "--out", str(tmp_path / "bench"), "--model",
                           str(tiny_model), "--train", str(text_file), "--valid", str(text_file)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row.get("mode") for row in rows] == ["network-only", "global", "buckets", None]
    assert all(row["bench"] == "mixture" for row in rows) and rows[-1]["summary"]
    assert rows[1]["fit"]["buckets"] is None
    assert rows[2]["fit"]["buckets"]["edges"] == list(BUCKET_EDGES)
    assert rows[-1]["warnings_on_reported_text"] == 0


def _frequencies(draw, n: int = 40_000, size: int = 6) -> np.ndarray:
    return np.bincount([draw() for _ in range(n)], minlength=size) / n


@pytest.mark.parametrize("pruned", [1, 2])  # a pruned model keeps each context's full count apart
@pytest.mark.parametrize("history", [(2, 3), (1, 1), (0, 5), (4, 4)])  # seen trigram contexts and unseen ones
def test_sampling_the_ngram_level_by_level_draws_its_distribution(history, pruned):
    kn = KneserNey.train(STREAM, 6, min_trigram_count=pruned)
    expected = kn.probabilities(np.array([history]))[0]
    rng = np.random.default_rng(5)
    found = _frequencies(lambda: kn.sample(*history, rng))
    assert np.abs(found - expected).max() < 0.012, (found, expected)  # ~5 standard errors at 40k draws


def test_sampling_a_mixture_from_its_parts_draws_the_mixed_distribution():
    kn = KneserNey.train(STREAM, 6)
    settings = Interpolation(edges=(1, 3), bucket_cache=(0.0, 0.3, 0.1), bucket_ngram=(0.05, 0.2, 0.6))
    mixer = Mixer(settings, 6, kn)
    probs, state = mixer_inputs()
    rng = np.random.default_rng(9)
    for row in range(len(probs)):
        one = [state[0][row:row + 1], state[1][row:row + 1]]
        parts = mixer.parts(probs[row], one)
        expected = mixer.mix(probs[row:row + 1], one)[0]
        np.testing.assert_allclose(parts.dense(), expected)
        found = _frequencies(lambda: parts.sample(rng))
        assert np.abs(found - expected).max() < 0.012, (row, found, expected)


def test_a_plain_sampler_draws_from_parts_and_never_a_banned_word_while_reshaping_uses_the_dense_vector():
    from wordrnn.predict.sampling import Sampler

    kn = KneserNey.train(STREAM, 6)
    mixer = Mixer(Interpolation(cache=0.3, ngram=0.4), 6, kn)
    probs, state = mixer_inputs(1)
    parts = mixer.parts(probs[0], state)
    expected = mixer.mix(probs, state)[0].astype(np.float64)
    expected[1] = 0.0  # <unk> banned: the rest renormalised
    expected /= expected.sum()
    sampler = Sampler(seed=3, banned=[1])
    found = _frequencies(lambda: sampler(parts))
    assert found[1] == 0 and np.abs(found - expected).max() < 0.012
    greedy = Sampler(top_k=1, banned=[1])
    assert greedy(parts) == int(np.argmax(expected))  # reshaped: decided on the dense vector


@pytest.mark.parametrize("size", [300, 293, 50])
def test_the_two_level_draw_follows_the_weights_across_blocks_and_never_picks_a_zero(size):
    """300 words make two blocks of 150; 293 (a prime) two of 128 and a partial one; 50 only a partial one."""
    from wordrnn.runtime.draw import draw as _draw

    rng = np.random.default_rng(11)
    weights = rng.dirichlet(np.full(size, 0.3)).astype(np.float32)
    weights[rng.choice(size, size * 2 // 5, replace=False)] = 0.0
    weights[size * 4 // 5:] = 0.0  # the last words (all of a partial block) without mass
    n = 60_000
    found = np.bincount([_draw(weights, rng) for _ in range(n)], minlength=size) / n
    assert found[weights == 0].sum() == 0
    expected = weights / weights.sum()
    assert np.abs(found - expected).max() < 5 * np.sqrt(expected.max() / n)
    assert _draw(np.array([0.0, 0.0, 2.0], np.float32), rng) == 2
    assert _draw(np.array([0, 3, 0, 1]), rng) in (1, 3)  # counts, not probabilities


def test_the_draw_uses_whole_blocks_when_a_block_length_divides_the_vocabulary():
    from wordrnn.runtime.draw import _layout

    assert _layout(20_000) == (125, 20_000)
    assert _layout(300) == (150, 300)
    assert _layout(293) == (128, 256)
    assert _layout(50) == (128, 0)


@pytest.mark.parametrize("pruned", [1, 2])
def test_the_scalar_paths_of_generation_agree_with_the_batch_ones(pruned):
    """``parts`` works one stream in scalars; its history counts and weights are the batch ones."""
    kn = KneserNey.train(STREAM, 6, min_trigram_count=pruned)
    settings = Interpolation(edges=(1, 3), bucket_cache=(0.0, 0.3, 0.1), bucket_ngram=(0.05, 0.2, 0.6))
    histories = np.array([(u, v) for u in range(6) for v in range(6)])
    counts = kn.history_counts(histories)
    assert [kn.history_count(u, v) for u, v in histories] == counts.tolist()
    a, b = settings.row_weights(counts, len(counts))
    assert [settings.weights_for(c) for c in counts] == list(zip(a.tolist(), b.tolist()))


class _TableRunner:
    """A NumPy stand-in for a network: the next-word distribution is a fixed row per input word,
    nudged by a one-number state (so state is carried and checked)."""

    state_sizes = [1]
    input_kind = "tokens"

    def __init__(self, vocab_size: int) -> None:
        rng = np.random.default_rng(4)
        self.rows = rng.dirichlet(np.ones(vocab_size), size=vocab_size).astype(np.float32)

    def zero_state(self, batch: int = 1):
        return [np.zeros((batch, 1), np.float32)]

    def step(self, inputs, state):
        inputs = np.asarray(inputs).reshape(-1)
        s = state[0] * 0.5 + 1.0
        probs = self.rows[inputs] * (1.0 + 0.1 * s)
        return probs / probs.sum(axis=1, keepdims=True), [s]


@pytest.mark.parametrize("rescale", [False, True])
def test_a_parts_stream_gives_the_runner_s_mixed_distributions_word_after_word(monkeypatch, rescale):
    """Generation's stream keeps the cache unscaled and in place; its distributions are ``MixtureRunner.step``'s."""
    from wordrnn.runtime import parts as runtime_parts

    if rescale:  # fold the scale back at every word, as a long text does every few thousand
        monkeypatch.setattr(runtime_parts, "_RESCALE", 1.0)
    kn = KneserNey.train(STREAM, 6)
    settings = Interpolation(cache_decay=0.9, cache_fill=2.0, edges=(1, 3), bucket_cache=(0.2, 0.3, 0.1),
                             bucket_ngram=(0.05, 0.2, 0.6))
    runner = MixtureRunner(_TableRunner(6), Mixer(settings, 6, kn))
    probs, state = runner.step(np.array([2]), runner.zero_state(1))
    start, kept = state, [s.copy() for s in state]
    stream = runner.parts_stream(probs[0], state)
    for word in [3, 4, 0, 2, 5, 5, 1, 3, 0, 0, 4, 2, 3]:
        np.testing.assert_allclose(stream.parts.dense(), probs[0], rtol=2e-5, atol=1e-7)
        stream.feed(word)
        probs, state = runner.step(np.array([word]), state)
    for before, now in zip(kept, start):  # the starting state was not touched
        np.testing.assert_array_equal(before, now)
