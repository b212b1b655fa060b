"""The continuous cache: its attention, its place in the mixture, generation from parts, fitting, manifests."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from wordrnn.errors import ModelFormatError
from wordrnn.evaluation.pointer_fit import fit_pointer, hidden_pass, pointer_targets
from wordrnn.runtime.mixture import Mixer, MixtureRunner
from wordrnn.runtime.mixture_settings import Interpolation
from wordrnn.runtime.ngram import KneserNey
from wordrnn.runtime.pointer import Pointer

V, D = 7, 4


class HiddenRunner:
    """A fake one-layer LSTM: its h is a fixed random vector of the word just read (plus a trace of the
    one before), its distribution a fixed random one per word; c is unused."""

    input_kind = "tokens"
    config = SimpleNamespace(cell="lstm", layers=1, units=D)
    state_sizes = [D, D]

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.codes = np.tanh(rng.normal(size=(V, D))).astype(np.float32)
        self.dists = rng.dirichlet(np.ones(V), V).astype(np.float32)

    def zero_state(self, batch: int = 1):
        return [np.zeros((batch, D), np.float32) for _ in range(2)]

    def step(self, inputs, state):
        inputs = np.asarray(inputs).reshape(-1)
        h = (self.codes[inputs] + 0.3 * state[0]).astype(np.float32)
        return self.dists[inputs].copy(), [h, state[1]]


def brute_pointer(hiddens: list[np.ndarray], words: list[int], query: np.ndarray, theta: float, size: int) -> np.ndarray:
    """p_ptr by the definition: a softmax over the last ``size`` pairs, summed per word."""
    pairs = list(zip(hiddens, words))[-size:]
    probs = np.zeros(V)
    if not pairs:
        return probs
    scores = np.array([theta * float(h @ query) for h, _ in pairs])
    weights = np.exp(scores - scores.max())
    for (_, word), weight in zip(pairs, weights / weights.sum()):
        probs[word] += weight
    return probs


def pointer_settings(**overrides) -> Interpolation:
    values = {"cache": 0.2, "ngram": 0.1, "cache_decay": 0.9, "cache_fill": 3.0, "pointer": 0.4,
              "pointer_theta": 1.5, "pointer_size": 5}
    return Interpolation(**{**values, **overrides})


STREAM = np.array([2, 3, 4, 0, 2, 3, 5, 0, 2, 3, 4, 0, 6, 2, 3])


def test_the_mixture_adds_the_pointer_exactly_as_defined_and_stays_a_distribution():
    kn = KneserNey.train(STREAM, V)
    settings = pointer_settings()
    base = HiddenRunner()
    runner = MixtureRunner(base, Mixer(settings, V, kn, D))
    plain = MixtureRunner(base, Mixer(pointer_settings(pointer=0.0, pointer_size=0), V, kn))
    state, plain_state = runner.zero_state(1), plain.zero_state(1)
    hiddens, words, h = [], [], np.zeros(D, np.float32)
    for token in STREAM:
        probs, state = runner.step(np.array([token]), state)
        expected, plain_state = plain.step(np.array([token]), plain_state)
        if h.any():  # the zero state before the first word read nothing
            hiddens.append(h)
            words.append(int(token))
        h = state[0][0]
        held = min(len(words), settings.pointer_size)
        share = settings.pointer * held / (held + settings.cache_fill)
        want = (1 - share) * expected[0] + share * brute_pointer(hiddens, words, h, settings.pointer_theta,
                                                                  settings.pointer_size)
        np.testing.assert_allclose(probs[0], want, rtol=1e-5, atol=1e-7)
        assert probs[0].sum() == pytest.approx(1.0, abs=1e-5)
    assert len(words) > settings.pointer_size  # the oldest pairs dropped out on the way


def test_sequence_matches_steps_and_rows_are_independent():
    runner = MixtureRunner(HiddenRunner(), Mixer(pointer_settings(ngram=0.0), V, None, D))
    inputs = np.stack([STREAM, STREAM[::-1]])
    whole, _ = runner.sequence(inputs, runner.zero_state(2))
    for row in range(2):
        state = runner.zero_state(1)
        for t, token in enumerate(inputs[row]):
            probs, state = runner.step(np.array([token]), state)
            np.testing.assert_allclose(whole[row, t], probs[0], rtol=1e-6)


def test_generation_from_parts_follows_the_stepped_mixture():
    """``PartsStream`` keeps the pairs in a ring written in place: its parts must still be the mixture."""
    kn = KneserNey.train(STREAM, V)
    runner = MixtureRunner(HiddenRunner(), Mixer(pointer_settings(pointer_size=4), V, kn, D))
    probs, state = runner.zero_state(1)[0], runner.zero_state(1)
    for token in STREAM[:6]:
        probs, state = runner.step(np.array([token]), state)
    stream = runner.parts_stream(probs[0], state)
    np.testing.assert_allclose(stream.parts.dense(), probs[0], rtol=1e-6)
    for token in STREAM[6:]:  # past the ring's size: the oldest pairs are overwritten
        stream.feed(int(token))
        probs, state = runner.step(np.array([token]), state)
        np.testing.assert_allclose(stream.parts.dense(), probs[0], rtol=1e-5, atol=1e-7)
    rng = np.random.default_rng(2)
    found = np.bincount([stream.parts.sample(rng) for _ in range(40_000)], minlength=V) / 40_000
    assert np.abs(found - probs[0]).max() < 0.012  # ~5 standard errors


def test_fitting_sees_the_pointer_the_runtime_computes():
    ids = np.random.default_rng(1).integers(2, V, 400)
    base = HiddenRunner()
    run = hidden_pass(base, ids, batch_size=1)
    pointed, held = pointer_targets(run, ids, theta=1.5, size=5)
    settings = pointer_settings(cache=0.0, ngram=0.0)
    runner = MixtureRunner(base, Mixer(settings, V, None, D))
    state = runner.zero_state(1)
    for j, token in enumerate(np.concatenate([[0], ids[:-1]])):
        probs, state = runner.step(np.array([token]), state)
        share = settings.pointer * held[j] / (held[j] + settings.cache_fill)
        assert probs[0, ids[j]] == pytest.approx((1 - share) * run.net[j] + share * pointed[j], rel=1e-5)


def test_the_fit_trusts_the_pointer_on_repeated_text_and_not_on_random_text():
    rng = np.random.default_rng(3)
    phrase = rng.integers(2, V, 12)
    repeated = np.tile(phrase, 40)
    noise = rng.integers(2, V, 480)
    base = HiddenRunner()
    weights = []
    for ids in (repeated, noise):
        run = hidden_pass(base, ids, batch_size=2)
        truth = np.full(len(ids), 1 / (V - 2))  # the noise's own distribution: uniform over ids 2..6
        weight, theta, ppl = fit_pointer(run, ids, truth, fill=3.0, size=50)
        weights.append(weight)
        assert ppl <= V - 2 + 1e-6  # never worse than what it started from
    assert weights[0] >= 0.5 and weights[1] <= 0.1, weights


def test_pointer_settings_round_trip_and_damaged_ones_are_refused():
    settings = pointer_settings()
    data = settings.to_json()
    assert data["pointer"] == {"weight": 0.4, "theta": 1.5, "size": 5}
    assert Interpolation.from_json(json.loads(json.dumps(data))) == settings
    assert "pointer" not in Interpolation(cache=0.1).to_json()  # older readers see what they know
    for bad in ({"weight": 1.2, "theta": 1.0, "size": 5}, {"weight": 0.1, "theta": -1, "size": 5},
                {"weight": 0.1, "theta": 1.0, "size": 2.5}, {"weight": 0.1, "theta": 1.0, "size": 10**6},
                {"weight": "x", "theta": 1.0, "size": 5}, [0.1, 1.0, 5]):
        with pytest.raises(ModelFormatError, match="continuous cache.*damaged"):
            Interpolation.from_json({**data, "pointer": bad})


def test_the_pointer_state_drops_the_oldest_pair():
    pointer = Pointer(weight=0.3, theta=1.0, size=2, units=D)
    state = pointer.zero_state(1)
    for word, value in ((3, 1.0), (4, 2.0), (5, 3.0)):
        state = pointer.advance(np.full((1, D), value, np.float32), np.array([word]), state)
    assert state[1].tolist() == [[4.0, 5.0]] and state[0].tolist() == [[2.0] * D + [3.0] * D]
    assert pointer.held(state).tolist() == [2]


def test_interpolate_fits_and_stores_the_pointer_and_everything_predicts_with_it(tmp_path, tiny_model, text_file):
    from wordrnn.evaluation import measure
    from wordrnn.evaluation.interpolation import interpolate
    from wordrnn.store.saved import SavedModel
    from wordrnn.runtime.runner import open_runner

    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    lines = text_file.read_text(encoding="utf-8").splitlines()[:150]
    echoed = tmp_path / "echoed.txt"  # every sentence said three times: what a continuous cache is for
    echoed.write_text("".join(f"{line}\n" * 3 for line in lines), encoding="utf-8")
    fitted = interpolate(model, [echoed], ngram_corpus=[text_file], pointer_size=30, batch_size=1)
    pointer = json.loads((model / "wordrnn.json").read_text())["interpolation"].get("pointer")
    assert pointer is not None and pointer["size"] == 30 and 0 < pointer["weight"] < 1, fitted
    assert fitted["valid_ppl_interpolated"] < 0.9 * fitted["valid_ppl_mixture"]
    runner = open_runner(SavedModel.load(model), "keras")
    assert runner.mixer.pointer is not None
    with pytest.warns(Warning, match="fitted on this text"):
        metrics = measure.evaluate([echoed], model, batch_size=1)
    assert metrics["ppl"] == pytest.approx(fitted["valid_ppl_interpolated"], rel=1e-3)  # the fit is what runs
    none = interpolate(model, [text_file], ngram_corpus=[text_file], pointer_size=0)
    assert "pointer" not in none and "pointer" not in json.loads((model / "wordrnn.json").read_text())["interpolation"]


def test_cli_pointer_size_is_checked_and_its_default_is_the_library_s(tmp_path, tiny_model, text_file):
    from typer.testing import CliRunner

    from conftest import assert_clean_error
    from wordrnn.cli.evaluate import POINTER_SIZE
    from wordrnn.cli.main import app
    from wordrnn.evaluation import pointer_fit

    assert POINTER_SIZE == pointer_fit.POINTER_SIZE
    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    result = CliRunner().invoke(app, ["interpolate", str(model), "--valid", str(text_file), "--pointer-size", "-3"])
    assert_clean_error(result, "--pointer-size")


def test_sessions_keep_as_many_undo_states_as_fit_in_64_mib():
    from wordrnn.predict.session import default_undo_states

    def runner(floats: int):
        return SimpleNamespace(state_sizes=[floats])

    assert default_undo_states(runner(1000)) == 512  # small states: the usual 512
    assert default_undo_states(runner(72_426)) == 231  # the bundled model with its 200-state continuous cache
    assert default_undo_states(runner(10**8)) == 16  # never fewer than 16
