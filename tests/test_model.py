"""Model building, saving and loading: identical probabilities, any batch size."""

import numpy as np
import pytest

from conftest import train_tiny
from wordrnn.errors import ModelFormatError
from wordrnn.nn.model import build_model, state_sizes
from wordrnn.store.saved import SavedModel


def _probabilities(model, config, ids, batch=1):
    import keras

    states = [np.zeros((batch, s), np.float32) for s in state_sizes(config)]
    logits = model([np.tile(np.asarray([ids], np.int32), (batch, 1)), *states])[0]
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))


def test_model_trained_at_batch_8_runs_at_batch_1_and_agrees(tiny_model):
    saved = SavedModel.load(tiny_model)
    assert saved.train_config.batch_size == 8
    model = saved.build_keras()
    ids = saved.vocab.encode("she likes a red apple".split())
    single = _probabilities(model, saved.model_config, ids, batch=1)
    many = _probabilities(model, saved.model_config, ids, batch=5)
    assert np.allclose(single[0], many[4], atol=1e-6)


def test_trained_model_learned_the_grammar(tiny_model):
    saved = SavedModel.load(tiny_model)
    ids = saved.vocab.encode("</s> the cat".split())
    probs = _probabilities(saved.build_keras(), saved.model_config, ids)[0, -1]
    verbs = [saved.vocab.id(v) for v in ("sees", "likes", "finds", "wants", "follows")]
    assert probs[verbs].sum() > 0.5


@pytest.mark.parametrize("cell, tied", [("lstm", False), ("gru", True), ("elman", True), ("jordan", True)])
def test_a_saved_model_loads_with_the_probabilities_it_had_before_saving(tmp_path, text_file, trained_engines,
                                                                          cell, tied):
    """Every cell, tied or not: the loaded model predicts exactly what the trained model in memory did."""
    summary = train_tiny(text_file, tmp_path / cell, cell=cell, epochs=1, tied=tied, valid_fraction=0.0)
    assert summary["history"][0]["loss"] < np.log(200)
    (engine,) = trained_engines
    saved = SavedModel.load(tmp_path / cell)
    ids = saved.vocab.encode("the cat sees the ball .".split())
    before = _probabilities(engine.model, saved.model_config, ids)
    loaded = _probabilities(saved.build_keras(), saved.model_config, ids)
    assert np.array_equal(loaded, before)
    assert np.allclose(loaded.sum(-1), 1.0, atol=1e-5)


def test_weights_of_another_shape_are_refused(tiny_model, tmp_path):
    import shutil

    from wordrnn.store import checkpoint as ckpt

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    saved = SavedModel.load(copy)
    weights = dict(saved.weights)
    key = next(k for k in weights if k.startswith("embedding"))
    weights[key] = np.zeros((3, 3), np.float32)
    manifest = saved.manifest
    files = {"weights.npz": weights, "vocab.json": saved.vocab.to_json()}
    ckpt.write_manifest(copy, ckpt.MODEL_MANIFEST, {k: manifest[k] for k in ("config", "kind")}, files)
    with pytest.raises(ModelFormatError, match="shape"):
        SavedModel.load(copy).build_keras()


def test_vocabulary_size_mismatch_is_refused(tiny_model, tmp_path):
    import shutil

    from wordrnn.store import checkpoint as ckpt

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    saved = SavedModel.load(copy)
    words = saved.vocab.to_json()
    words["words"], words["counts"] = words["words"][:-1], words["counts"][:-1]
    ckpt.write_manifest(copy, ckpt.MODEL_MANIFEST, {"config": saved.manifest["config"]},
                        {"weights.npz": saved.weights, "vocab.json": words})
    with pytest.raises(ModelFormatError, match="vocabulary has"):
        SavedModel.load(copy)


def test_build_model_is_batch_size_free():
    from wordrnn.config import ModelConfig

    model = build_model(ModelConfig(vocab_size=10, units=4, embedding=2))
    assert model.inputs[0].shape[0] is None
