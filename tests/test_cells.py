"""The cell family (lstm, gru, elman, jordan): the Jordan cell's state is its output, and every cell
trains, saves and loads as a series model (token models: see test_model.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wordrnn.config import CELLS, ModelConfig, TrainConfig
from wordrnn.nn.model import build_model, state_sizes


def _jordan_layer(units: int = 4):
    import keras

    from wordrnn.nn.cells import JordanCell

    return keras.layers.RNN(JordanCell(units), return_sequences=True, return_state=True)


def test_jordan_state_equals_its_previous_output():
    layer = _jordan_layer()
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype(np.float32)
    sequence, state = (np.asarray(t) for t in layer(x))
    assert np.array_equal(state, sequence[:, -1])

    cell = layer.cell
    previous = np.zeros((2, 4), np.float32)
    for t in range(6):
        output, (new_state,) = cell(x[:, t], [previous])
        assert np.array_equal(np.asarray(new_state), np.asarray(output))
        assert np.allclose(np.asarray(output), sequence[:, t], atol=1e-6)
        previous = np.asarray(new_state)


def test_jordan_feeds_the_output_back_not_the_hidden_layer():
    layer = _jordan_layer(3)
    x = np.random.default_rng(1).normal(size=(1, 3, 2)).astype(np.float32)
    sequence = np.asarray(layer(x)[0])
    cell = layer.cell
    W, U, b, V, c = (np.asarray(w) for w in (cell.kernel, cell.feedback_kernel, cell.bias, cell.output_kernel,
                                             cell.output_bias))
    y = np.zeros((1, 3))
    for t in range(3):
        h = np.tanh(x[:, t] @ W + y @ U + b)
        y = np.tanh(h @ V + c)
        assert np.allclose(y, sequence[:, t], atol=1e-5)


def test_jordan_cell_is_a_serialisable_keras_cell(tmp_path):
    import keras

    config = ModelConfig(input_kind="series", features=2, cell="jordan", units=5)
    model = build_model(config)
    path = tmp_path / "jordan.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    cell = loaded.get_layer("rnn_0").cell
    assert type(cell).__name__ == "JordanCell" and cell.units == 5
    inputs = [np.ones((1, 4, 2), np.float32), np.full((1, 5), 0.3, np.float32)]
    for a, b in zip(model(inputs), loaded(inputs)):
        assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("cell", CELLS)
def test_state_sizes_match_the_built_model(cell):
    config = ModelConfig(input_kind="series", features=3, cell=cell, units=4, layers=2)
    model = build_model(config)
    sizes = state_sizes(config)
    assert [int(i.shape[-1]) for i in model.inputs[1:]] == sizes
    outputs = model([np.zeros((2, 5, 3), np.float32), *[np.zeros((2, s), np.float32) for s in sizes]])
    assert outputs[0].shape == (2, 5, 3)
    assert [tuple(s.shape) for s in outputs[1:]] == [(2, s) for s in sizes]


@pytest.fixture(scope="module")
def wave_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("series") / "wave.csv"
    rows = "\n".join(f"{i},{math.sin(i / 2):.5f}" for i in range(80))
    path.write_text(f"t,wave\n{rows}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_trains_saves_and_loads_a_series_model(tmp_path, wave_csv, trained_engines, cell):
    """The loaded series model forecasts exactly what the trained model in memory did."""
    from wordrnn.runtime.keras import KerasStep
    from wordrnn.store.saved import SavedModel
    from wordrnn.predict.forecast import predict_series
    from wordrnn.train.jobs import train_series

    summary = train_series(wave_csv, tmp_path / cell, columns=["wave"],
                           model_config=ModelConfig(input_kind="series", cell=cell, units=8),
                           train_config=TrainConfig(epochs=4, batch_size=2, window=20, learning_rate=0.02, seed=1,
                                                    lr_patience=0, valid_fraction=0.0))
    losses = [h["loss"] for h in summary["history"]]
    assert losses[-1] < losses[0]
    saved = SavedModel.load(tmp_path / cell)
    assert saved.model_config.cell == cell and saved.manifest["kind"] == "series"
    observed = np.sin(np.arange(10) / 2)[:, None]
    (engine,) = trained_engines
    before = predict_series(KerasStep(saved, engine.model), observed, 5)
    loaded = predict_series(KerasStep(saved), observed, 5)
    assert np.array_equal(loaded.free_running, before.free_running)
    assert np.array_equal(loaded.fitted, before.fitted)


def test_jordan_state_survives_save_and_load(tmp_path, wave_csv):
    """After loading, the state the step returns is still exactly the recurrent layer's output."""
    import keras

    from wordrnn.predict.generator import prime
    from wordrnn.runtime.keras import KerasStep
    from wordrnn.store.saved import SavedModel
    from wordrnn.train.jobs import train_series

    train_series(wave_csv, tmp_path / "j", columns=["wave"],
                 model_config=ModelConfig(input_kind="series", cell="jordan", units=6),
                 train_config=TrainConfig(epochs=2, batch_size=2, window=10, seed=2, valid_fraction=0.0))
    saved = SavedModel.load(tmp_path / "j")
    model = saved.build_keras()
    for path, value in saved.weights.items():
        assert np.array_equal(value, np.asarray(next(w for w in model.weights if w.path == path)))
    observed = np.sin(np.arange(7) / 2).astype(np.float32)[:, None]
    _, state, _ = prime(KerasStep(saved, model), observed)

    recurrent = keras.Model(model.inputs, model.get_layer("rnn_0").output)
    sequence, final = recurrent([observed[None], np.zeros((1, 6), np.float32)])
    assert np.allclose(state[0], np.asarray(final), atol=1e-6)
    assert np.allclose(state[0], np.asarray(sequence)[:, -1], atol=1e-6)
