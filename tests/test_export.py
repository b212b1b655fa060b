"""LiteRT export: every cell converts and matches Keras, int8 keeps the suggestions, saving is atomic, CLI."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error, make_text, make_untrained, train_tiny
from test_cli_train import TINY
from test_evaluation import BigramRunner
from wordrnn.store import checkpoint as ckpt
from wordrnn.cli.main import app
from wordrnn.errors import ConfigError, ExportError, LockedError
from wordrnn.runtime.export import export_model
from wordrnn.store.saved import SavedModel

runner = CliRunner()

CONFIGS = {
    "lstm": dict(cell="lstm"),
    "gru-2-layers": dict(cell="gru", layers=2),
    "elman-tied": dict(cell="elman", tied=True),
    "jordan-tied-projection": dict(cell="jordan", tied=True, embedding=12),
    "lstm-adaptive-tied-projection": dict(cell="lstm", tied=True, embedding=12, adaptive_softmax=6),
    "gru-adaptive-untied": dict(cell="gru", adaptive_softmax=10),
    "series-lstm": dict(input_kind="series", features=2),
}


def markov_text(tokens: int, seed: int, words: int = 150) -> str:
    """Text from a fixed first-order chain: each word has three successors (p = .6, .3, .1).

    A tiny model learns it well enough that its top-3 words are real choices, not near ties,
    which is the situation a keyboard's suggestion bar is in.
    """
    vocab = [f"w{i}" for i in range(words)]
    chain = random.Random(0)
    successors = {w: chain.sample(vocab, 3) for w in vocab}
    rng = random.Random(seed)
    word, lines, line = rng.choice(vocab), [], []
    for _ in range(tokens):
        line.append(word)
        if len(line) == 12:
            lines.append(" ".join(line))
            line = []
        word = rng.choices(successors[word], [0.6, 0.3, 0.1])[0]
    return "\n".join(lines) + "\n"


def test_state_sizes_without_tensorflow_match_the_model():
    from wordrnn.config import ModelConfig
    from wordrnn.nn.model import state_sizes
    from wordrnn.runtime.litert import expected_state_sizes

    for cell in ("lstm", "gru", "elman", "jordan"):
        for layers in (1, 3):
            config = ModelConfig(vocab_size=10, cell=cell, layers=layers, units=7)
            assert expected_state_sizes(config) == state_sizes(config)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_model_kind_exports_and_matches_keras(tmp_path, name):
    directory = make_untrained(tmp_path / name, **CONFIGS[name])
    weights = ckpt.read_manifest(directory)["files"]["weights"]
    info = export_model(directory)
    assert info["quantize"] == "none" and info["weights"] == weights
    assert info["check"]["max_abs_diff"] <= 1e-4 and info["check"]["max_state_diff"] <= 1e-4
    manifest = ckpt.read_manifest(directory)
    assert manifest["litert"] == info and manifest["files"]["weights"] == weights
    assert ckpt.read_file(directory, manifest, "litert")[4:8] == b"TFL3"  # a TFLite flatbuffer


@pytest.fixture(scope="module")
def markov_model(tmp_path_factory):
    """A 16-unit LSTM over a 150-word chain, trained until it is fairly sure of its top-3."""
    root = tmp_path_factory.mktemp("markov")
    corpus = root / "train.txt"
    corpus.write_text(markov_text(20_000, seed=1), encoding="utf-8")
    train_tiny(corpus, root / "model", epochs=12, batch_size=16, window=20, learning_rate=0.02)
    return root / "model"


def test_dynamic_int8_export_is_smaller_and_keeps_the_top3_of_held_out_text(markov_model):
    from wordrnn.runtime.keras import KerasStep
    from wordrnn.runtime.litert import LiteRTStep

    float_info = export_model(markov_model, "none")
    info = export_model(markov_model, "dynamic")
    assert info["quantize"] == "dynamic" and info["bytes"] < float_info["bytes"]
    saved = SavedModel.load(markov_model)
    int8, keras = LiteRTStep(saved), KerasStep(saved)
    assert int8.quantize == "dynamic"
    ids = saved.vocab.encode(markov_text(3000, seed=2).split())
    state_a, state_b, agree = int8.zero_state(), keras.zero_state(), 0
    for token in ids:
        probs_a, state_a = int8.step(np.array([token]), state_a)
        probs_b, state_b = keras.step(np.array([token]), state_b)
        top_a, top_b = (set(np.argsort(-p[0, 2:])[:3]) for p in (probs_a, probs_b))  # words only
        agree += top_a == top_b
    assert agree / len(ids) >= 0.99


def test_float16_export_halves_the_size_and_is_exact_for_float16_weights(tmp_path):
    from wordrnn.runtime.keras import KerasStep
    from wordrnn.runtime.litert import LiteRTStep

    directory = make_untrained(tmp_path / "m")
    saved = SavedModel.load(directory)
    half = {k: v.astype(np.float16) for k, v in saved.weights.items()}  # as the bundled model stores them
    ckpt.update_files(directory, ckpt.MODEL_MANIFEST, {"weights.npz": half})
    float_info = export_model(directory, "none")
    info = export_model(directory, "float16")
    assert info["quantize"] == "float16" and info["bytes"] < float_info["bytes"]  # ~half for real sizes
    saved = SavedModel.load(directory)
    litert, keras = LiteRTStep(saved), KerasStep(saved)
    state_a, state_b = litert.zero_state(), keras.zero_state()
    for token in [0, 5, 7, 3, 9, 2, 4] * 5:
        probs_a, state_a = litert.step(np.array([token]), state_a)
        probs_b, state_b = keras.step(np.array([token]), state_b)
        np.testing.assert_allclose(probs_a, probs_b, atol=1e-5)


def test_reexport_replaces_the_previous_export(tmp_path):
    directory = make_untrained(tmp_path / "m")
    export_model(directory, "none")
    export_model(directory, "dynamic")
    assert len(list(directory.glob("litert-*.tflite"))) == 1
    assert ckpt.read_manifest(directory)["litert"]["quantize"] == "dynamic"


def test_crash_while_exporting_leaves_the_model_as_it_was(tmp_path, monkeypatch):
    directory = make_untrained(tmp_path / "m")
    before = (directory / ckpt.MODEL_MANIFEST).read_bytes()
    real = ckpt._write_durable

    def dying(path, data):
        if path.name == ckpt.MODEL_MANIFEST:
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(ckpt, "_write_durable", dying)
    with pytest.raises(KeyboardInterrupt):
        export_model(directory)
    monkeypatch.undo()
    assert (directory / ckpt.MODEL_MANIFEST).read_bytes() == before
    SavedModel.load(directory).weights  # still loads and verifies


def test_a_float_export_that_disagrees_is_not_saved(tmp_path, monkeypatch):
    from wordrnn.runtime import export

    directory = make_untrained(tmp_path / "m")
    monkeypatch.setattr(export, "compare", lambda *a, **k: {"steps": 1, "max_abs_diff": 0.5, "max_state_diff": 0.0})
    with pytest.raises(ExportError, match="differs from the Keras model"):
        export.export_model(directory)
    assert "litert" not in ckpt.read_manifest(directory)["files"]


def test_bad_quantize_mode_and_locked_directory(tmp_path):
    directory = make_untrained(tmp_path / "m")
    with pytest.raises(ConfigError, match="^quantize must be one of"):
        export_model(directory, "int4")
    with ckpt.TrainingLock(directory):
        with pytest.raises(LockedError):
            export_model(directory)


# --- CLI --------------------------------------------------------------------------------------

def test_cli_export_prints_a_summary_and_json(tmp_path):
    directory = make_untrained(tmp_path / "m")
    result = runner.invoke(app, ["export", str(directory)])
    assert result.exit_code == 0, result.output
    assert "exported" in result.stdout and "none" in result.stdout
    result = runner.invoke(app, ["export", str(directory), "--quantize", "dynamic", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["quantize"] == "dynamic"


def test_cli_export_bad_input_is_one_clean_line(tmp_path):
    assert_clean_error(runner.invoke(app, ["export", str(tmp_path / "missing")]), "no such model directory")
    directory = make_untrained(tmp_path / "m")
    assert_clean_error(runner.invoke(app, ["export", str(directory), "--quantize", "int4"]), "--quantize")
    (tmp_path / "empty").mkdir()
    assert_clean_error(runner.invoke(app, ["export", str(tmp_path / "empty")]), "not a wordrnn model")


def test_cli_train_exports_by_default(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(150), encoding="utf-8")
    result = runner.invoke(app, ["train", str(corpus), "-o", str(tmp_path / "a"), *TINY])
    assert result.exit_code == 0, result.output
    manifest = ckpt.read_manifest(tmp_path / "a")
    assert manifest["litert"]["quantize"] == "none" and manifest["litert"]["weights"] == manifest["files"]["weights"]
    result = runner.invoke(app, ["train", str(corpus), "-o", str(tmp_path / "b"), *TINY, "--no-export"])
    assert result.exit_code == 0, result.output
    assert "litert" not in ckpt.read_manifest(tmp_path / "b")["files"]


def test_cli_train_series_exports_and_forecast_runs_on_litert(tmp_path):
    csv_file = tmp_path / "data.csv"
    rows = "\n".join(f"{20 + 5 * np.sin(i / 3):.4f},{100 + 10 * np.cos(i / 4):.3f}" for i in range(60))
    csv_file.write_text(f"temp,load\n{rows}\n", encoding="utf-8")
    out = tmp_path / "series"
    result = runner.invoke(app, ["train-series", str(csv_file), "-c", "temp", "-c", "load", "-o", str(out), "--units", "8",
                                 "--epochs", "2", "--batch-size", "2", "--window", "10", "--seed", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert ckpt.read_manifest(out)["litert"]["input_kind"] == "series"
    forecasts = {}
    for runtime in ("litert", "keras"):
        result = runner.invoke(app, ["forecast", str(out), "-n", "5", "--json", "--runtime", runtime])
        assert result.exit_code == 0, result.output
        forecasts[runtime] = [[row["temp"], row["load"]] for row in json.loads(result.stdout)["forecast"]]
    assert np.allclose(forecasts["litert"], forecasts["keras"], atol=1e-3)


def test_text_agreement_counts_the_positions_whose_top3_words_differ():
    from wordrnn.runtime.export import text_agreement

    reference, changed = BigramRunner(8), BigramRunner(8)  # the distribution is the row of the word just read
    table = reference.table
    words = table[4, 2:]  # after reading word 4, its best word (</s> and <unk> aside) swaps with its worst
    best, worst = 2 + int(words.argmax()), 2 + int(words.argmin())
    changed.table[4, [best, worst]] = table[4, [worst, best]]
    ids = [3, 4, 5, 2, 6, 4, 7]  # read: </s> 3 4 5 2 6 4, so two of the seven positions follow word 4
    result = text_agreement(reference, changed, ids)
    assert result == {"top3_agreement": pytest.approx(5 / 7), "positions": 7,
                      "max_prob_diff": pytest.approx(float(table[4, best] - table[4, worst]))}
    assert text_agreement(reference, reference, ids)["top3_agreement"] == 1.0
