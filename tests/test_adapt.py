"""The adaptation cache: learning, mixing, ranking, bounds, JSON files."""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest

from wordrnn.keyboard import adapt
from wordrnn.keyboard.adapt import AdaptationCache, Distribution, check_weight
from wordrnn.errors import AdaptCacheError, ConfigError
from wordrnn.predict.predictor import rank
from wordrnn.text.vocab import Vocabulary

WORDS = ["</s>", "<unk>", "the", "cat", "sat", "on", "mat", ".", "I", "dog", "London", "catalogue"]
VOCAB = Vocabulary(WORDS)


def uniform() -> np.ndarray:
    return np.full(len(WORDS), 1.0 / len(WORDS))


def prob(dist: Distribution, word: str) -> float:
    return float(dist.probs[VOCAB.id(word)]) if word in VOCAB else dist.extra.get(word, 0.0)


def test_a_word_typed_a_few_times_gains_probability():
    cache = AdaptationCache(VOCAB, weight=0.3)
    before = prob(cache.adapt(uniform(), "the"), "dog")
    for _ in range(3):
        cache.observe(["the", "dog", "sat", "</s>"])
    after = cache.adapt(uniform(), "the")
    assert prob(after, "dog") > before * 2
    assert after.rank("", 1)[0][0] == "dog"  # "the" -> "dog" is now the expected pair
    assert prob(after, "dog") > prob(cache.adapt(uniform(), "sat"), "dog")  # the pair counts, not just the word
    total = after.probs.sum() + sum(after.extra.values())
    assert total == pytest.approx(1.0)


def test_an_empty_cache_changes_nothing_and_ranks_like_the_predictor():
    probs = np.random.default_rng(0).dirichlet(np.ones(len(WORDS)))
    dist = AdaptationCache(VOCAB).adapt(probs, "the")
    np.testing.assert_allclose(dist.probs, probs)
    for prefix in ("", "c", "ca", "Lo", "zz"):
        assert dist.rank(prefix, 3) == rank(probs, VOCAB, prefix, 3)


def test_new_words_are_learned_and_offered_with_renormalised_prefix_sets():
    cache = AdaptationCache(VOCAB, weight=0.5)
    cache.observe(["the", "catnip", "</s>", "the", "catnip", "</s>"])
    dist = cache.adapt(uniform(), "the")
    assert "catnip" in dist.extra and "catnip" not in VOCAB
    found = dict(dist.rank("cat", 5))
    assert set(found) == {"cat", "catalogue", "catnip"}
    assert sum(found.values()) == pytest.approx(1.0)
    assert max(found, key=found.get) == "catnip"
    assert dist.rank("Cat", 3) == []  # a capital asks for that exact spelling, as in the vocabulary
    assert [w for w, _ in dist.rank("", 20)].count("catnip") == 1
    assert len(cache) == 2  # "the" and "catnip"


def test_words_are_counted_under_the_vocabulary_spelling_and_specials_never():
    cache = AdaptationCache(VOCAB)
    cache.observe(["i", "london", "<unk>", "</s>", "...", "§"])
    words = cache.to_json()["words"]
    assert set(words) == {"I", "London"}
    assert cache.to_json()["pairs"]["I"] == {"London": pytest.approx(words["London"])}


def test_old_words_fade():
    cache = AdaptationCache(VOCAB, weight=0.5, decay=0.5)
    cache.observe(["dog"])
    cache.observe(["cat"] * 5)
    data = cache.to_json()["words"]
    assert data["cat"] > 30 * data["dog"]
    assert data["dog"] == pytest.approx(0.5 ** 5, rel=1e-6)


def test_the_running_scale_is_folded_back_before_it_underflows(monkeypatch):
    monkeypatch.setattr(adapt, "_RESCALE_BELOW", 1e-3)
    slow, fast = AdaptationCache(VOCAB, decay=0.9), AdaptationCache(VOCAB, decay=0.9)
    words = ["the", "cat", "sat", "on", "the", "mat", "."] * 40
    monkeypatch.setattr(adapt, "_RESCALE_BELOW", 0.0)
    slow.observe(words)
    monkeypatch.setattr(adapt, "_RESCALE_BELOW", 1e-3)
    fast.observe(words)
    assert fast._scale > 1e-3 > slow._scale
    np.testing.assert_allclose(fast.adapt(uniform(), "the").probs, slow.adapt(uniform(), "the").probs)


def test_the_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(adapt, "MAX_NEW_WORDS", 10)
    monkeypatch.setattr(adapt, "MAX_CONTEXTS", 10)
    monkeypatch.setattr(adapt, "MAX_FOLLOWERS", 5)
    cache = AdaptationCache(VOCAB)
    cache.observe([f"new{i}" for i in range(100)] + ["the"] + [f"x{i}" for i in range(3)])
    for i in range(20):
        cache.observe(["the", f"w{i}"])
    assert len(cache._new) <= 10 and len(cache._pairs) <= 10
    assert all(len(f) <= 5 for f in cache._pairs.values())
    assert cache._total == pytest.approx(cache._words.sum() + sum(cache._new.values()))
    for previous, followers in cache._pairs.items():
        assert cache._pair_totals[previous] == pytest.approx(sum(followers.values()))


def test_clear_forgets_everything():
    cache = AdaptationCache(VOCAB)
    cache.observe(["the", "dog", "zebu"])
    version = cache.version
    cache.clear()
    assert len(cache) == 0 and cache.version > version
    np.testing.assert_allclose(cache.adapt(uniform(), "the").probs, uniform())


@pytest.mark.parametrize("weight", [0, 1, -0.1, 1.5, float("nan"), True, "0.2"])
def test_weight_is_checked(weight):
    with pytest.raises(ConfigError, match=r"^weight must be above 0 and below 1, got .* \(use cache=None to turn it off\)$"):
        check_weight(weight)


def test_json_round_trip_and_private_atomic_file(tmp_path):
    cache = AdaptationCache(VOCAB, weight=0.3)
    cache.observe(["the", "dog", "sat", "</s>", "the", "zebu", "</s>"])
    path = tmp_path / "cache.json"
    path.write_text("old")
    path.chmod(0o644)
    cache.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.json"]  # no temporary file left behind
    data = json.loads(path.read_text())
    assert data["format"] == adapt.FORMAT and data["version"] == adapt.VERSION
    loaded = AdaptationCache.load(path, VOCAB, weight=0.3)
    expected, got = cache.adapt(uniform(), "the"), loaded.adapt(uniform(), "the")
    np.testing.assert_allclose(got.probs, expected.probs)
    assert got.extra == pytest.approx(expected.extra)
    assert len(AdaptationCache.load(tmp_path / "missing.json", VOCAB)) == 0


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "cache.json"
    AdaptationCache(VOCAB).save(path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("wordrnn.durable.os.replace", fail)
    cache = AdaptationCache(VOCAB)
    cache.observe(["dog"])
    with pytest.raises(AdaptCacheError, match="No space left"):
        cache.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.json"]


@pytest.mark.parametrize("content, needle", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "no format marker"),
    ('{"format": "wordrnn-adaptation-cache", "version": 99}', "version 99"),
    ('{"format": "wordrnn-adaptation-cache", "version": 1, "words": {"the": NaN}}', "not a number"),
    ('{"format": "wordrnn-adaptation-cache", "version": 1, "words": {"the": -1}}', "not a number"),
    ('{"format": "wordrnn-adaptation-cache", "version": 1, "words": {"the": "1"}}', "not a number"),
    ('{"format": "wordrnn-adaptation-cache", "version": 1, "words": []}', "not an object"),
    ('{"format": "wordrnn-adaptation-cache", "version": 1, "pairs": {"the": 3}}', "not an object"),
    ("[" * 100000 + "]" * 100000, "not valid JSON"),
])
def test_damaged_cache_files_are_refused_clearly(tmp_path, content, needle):
    path = tmp_path / "cache.json"
    path.write_text(content)
    with pytest.raises(AdaptCacheError, match=needle):
        AdaptationCache.load(path, VOCAB)


def test_undecodable_and_oversized_cache_files_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "cache.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(AdaptCacheError, match="cannot read"):
        AdaptationCache.load(path, VOCAB)
    monkeypatch.setattr("wordrnn.keyboard.cachefile.MAX_FILE_BYTES", 4)
    path.write_text("{}   ")
    with pytest.raises(AdaptCacheError, match="too large"):
        AdaptationCache.load(path, VOCAB)
