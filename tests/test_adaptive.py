"""The adaptive softmax (``nn/adaptive.py``): an exact distribution, a loss equal to its negative
log-likelihood on both paths, training and prediction through every layer of the tool, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error, train_tiny
from test_cli_train import TINY
from wordrnn.cli.main import app
from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.errors import ConfigError
from wordrnn.nn.size import adaptive_clusters

runner = CliRunner()


def test_bands_follow_the_head_and_cover_the_vocabulary_once():
    """The bands of the recipe's Brown model, and that any vocabulary is split without a gap."""
    assert adaptive_clusters(17_714, 2000, 96) == [(2000, 8000, 24), (8000, 17_714, 6)]
    assert adaptive_clusters(100, 100, 16) == []  # every word in the head
    for vocab, head in [(50, 5), (1000, 7), (17_714, 1000)]:
        bands = adaptive_clusters(vocab, head, 16)
        assert bands[0][0] == head and bands[-1][1] == vocab
        assert all(a[1] == b[0] for a, b in zip(bands, bands[1:]))
        assert all(width >= 4 for _, _, width in bands)


def _model_and_batch(tied: bool, head: int):
    import keras

    from wordrnn.nn.model import build_model, state_sizes

    keras.utils.set_random_seed(0)
    config = ModelConfig(vocab_size=60, units=16, embedding=16 if tied else 8, tied=tied, adaptive_softmax=head)
    model = build_model(config)
    rng = np.random.default_rng(0)
    x, y = (rng.integers(0, 60, (3, 7)).astype(np.int32) for _ in range(2))
    states = [np.zeros((3, size), np.float32) for size in state_sizes(config)]
    return model, x, y, states


@pytest.mark.parametrize("tied, head", [(True, 5), (False, 5), (True, 2), (False, 60)])
def test_the_output_is_a_distribution_and_the_loss_is_its_negative_log_likelihood(tied, head):
    """Sums to one over the whole vocabulary; the training loss, gathered per cluster or dense (XLA),
    is exactly -log p(target) of the full output that validation and prediction read."""
    from wordrnn.nn.model import adaptive_training
    from wordrnn.nn.tfimport import tensorflow

    tf = tensorflow()
    model, x, y, states = _model_and_batch(tied, head)
    log_probs = model([x, *states])[0].numpy()
    assert log_probs.shape == (3, 7, 60)
    np.testing.assert_allclose(np.exp(log_probs).sum(-1), 1.0, atol=1e-5)
    expected = -np.take_along_axis(log_probs, y[..., None], -1)[..., 0]
    for dense in (False, True):
        train_model, loss = adaptive_training(model, dense)
        hidden = train_model([x, *states])[0]
        np.testing.assert_allclose(tf.function(loss)(tf.constant(y), hidden).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("xla", [False, True])
def test_training_with_an_adaptive_softmax_learns_the_grammar(tmp_path, text_file, xla):
    """Through ``train_text``: validation falls well below a uniform guess, with and without XLA."""
    summary = train_tiny(text_file, tmp_path / "m", epochs=4, tied=True, xla=xla, adaptive_softmax=4)
    history = summary["history"]
    vocab = summary["vocab_size"]
    assert vocab > 12  # the head of 4 leaves at least two bands to train
    assert history[-1]["val_loss"] < 0.5 * np.log(vocab) and history[-1]["val_loss"] < history[0]["val_loss"]


def test_a_trained_adaptive_model_predicts_through_the_export(tmp_path, text_file):
    """The saved model loads with its bands, exports, and ``complete`` ranks real words from it."""
    out = tmp_path / "m"
    train_tiny(text_file, out, epochs=6, tied=True, adaptive_softmax=4, learning_rate=0.02)
    from wordrnn.runtime.export import export_model

    info = export_model(out)
    assert info["check"]["max_abs_diff"] <= 1e-4
    result = runner.invoke(app, ["complete", "the cat", "-m", str(out), "--json"])
    assert result.exit_code == 0, result.output
    suggestions = json.loads(result.stdout)["suggestions"]
    assert suggestions[0]["word"] in {"sees", "likes", "finds", "wants", "follows"}
    assert sum(s["prob"] for s in suggestions) <= 1.0 + 1e-6


def test_the_cli_trains_an_adaptive_model_and_records_it(tmp_path, text_file):
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(text_file), "-o", str(out), *TINY, "--adaptive-softmax", "6", "--no-export"])
    assert result.exit_code == 0, result.output
    info = json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)
    assert info["config"]["model"]["adaptive_softmax"] == 6


def test_a_resume_cannot_change_the_output_layer(tmp_path, text_file):
    out = tmp_path / "m"
    assert runner.invoke(app, ["train", str(text_file), "-o", str(out), *TINY, "--adaptive-softmax", "6",
                               "--no-export"]).exit_code == 0
    result = runner.invoke(app, ["train", str(text_file), "-o", str(out), *TINY, "--adaptive-softmax", "8", "--resume"])
    assert_clean_error(result, "--adaptive-softmax", "8", "6")


@pytest.mark.parametrize("args, needles", [
    (["--adaptive-softmax", "6", "--sampled-softmax", "16"], ["--sampled-softmax 16", "--adaptive-softmax 6", "one of them"]),
    (["--adaptive-softmax", "-1"], ["--adaptive-softmax", "0 or more"]),
])
def test_bad_adaptive_settings_are_refused_before_any_work(tmp_path, text_file, args, needles):
    out = tmp_path / "m"
    assert_clean_error(runner.invoke(app, ["train", str(text_file), "-o", str(out), *TINY, *args]), *needles)
    assert not out.exists()


def test_the_library_refuses_both_cheaper_softmaxes_too(tmp_path, text_file):
    from wordrnn.train.jobs import train_text

    with pytest.raises(ConfigError, match="cannot be combined"):
        train_text([text_file], tmp_path / "m", model_config=ModelConfig(vocab_size=1, adaptive_softmax=4),
                   train_config=TrainConfig(sampled_softmax=8))
    assert not (tmp_path / "m").exists()


def test_validation_reads_the_exact_loss_instead_of_the_full_output():
    """The engine validates an adaptive model with its training loss (each position scores only its
    target's cluster, not the whole vocabulary), and it gives the full output's figure."""
    from wordrnn.nn.model import adaptive_training
    from wordrnn.nn.model import build_model, loss_function, state_sizes
    from wordrnn.train.batching import StreamBatches
    from wordrnn.train.engine import Engine

    config = ModelConfig(vocab_size=60, units=16, embedding=8, tied=True, adaptive_softmax=5, dropout=0.2)
    model = build_model(config)
    train = TrainConfig(batch_size=4, window=6)
    cheap = Engine(model, loss_function(config), train, state_sizes(config), *adaptive_training(model))
    full = Engine(model, loss_function(config), train, state_sizes(config))
    assert cheap._eval_model is not model and full._eval_model is model
    batches = StreamBatches((np.arange(301) * 7 % 60).astype(np.int32), 4, 6)
    assert cheap.evaluate(batches) == pytest.approx(full.evaluate(batches), rel=1e-5)
