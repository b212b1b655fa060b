"""Weights kept once (``wordrnn export --weights-in-export``): read back exactly, the rest in a small
file, never lost by a later export, and a damaged record is a clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error, make_untrained
from wordrnn.cli.main import app
from wordrnn.errors import ExportError, ModelFormatError
from wordrnn.runtime.export import export_model
from wordrnn.store import checkpoint as ckpt
from wordrnn.store.exported import WEIGHTS_KEY
from wordrnn.store.saved import SavedModel

runner = CliRunner()


def half_precision(directory):
    """Float16 weights, as the bundled model stores them."""
    saved = SavedModel.load(directory)
    ckpt.update_files(directory, ckpt.MODEL_MANIFEST,
                      {"weights.npz": {k: v.astype(np.float16) for k, v in saved.weights.items()}})
    return SavedModel.load(directory).weights


@pytest.mark.parametrize("tied", [True, False])
def test_the_weights_read_back_from_the_export_are_the_saved_ones(tmp_path, tied):
    directory = make_untrained(tmp_path / "m", tied=tied, layers=2)
    before = half_precision(directory)
    info = export_model(directory, "float16", weights_in_export=True)
    kept = info[WEIGHTS_KEY]
    assert len(kept) >= len(before) - 2  # biases folded into the output layer stay in the file
    saved = SavedModel.load(directory)
    rest = saved.read_arrays("weights")
    assert set(rest) == set(before) - set(kept)
    assert sum(a.nbytes for a in rest.values()) < 0.1 * sum(a.nbytes for a in before.values())
    assert set(saved.weights) == set(before)
    for name, array in before.items():
        assert saved.weights[name].dtype == array.dtype and np.array_equal(saved.weights[name], array), name


def test_keras_and_litert_still_agree_on_a_model_stored_once(tmp_path):
    from wordrnn.runtime.keras import KerasStep
    from wordrnn.runtime.litert import LiteRTStep

    directory = make_untrained(tmp_path / "m")
    half_precision(directory)
    export_model(directory, "float16", weights_in_export=True)
    saved = SavedModel.load(directory)
    litert, keras = LiteRTStep(saved), KerasStep(saved)
    state_a, state_b = litert.zero_state(), keras.zero_state()
    for token in [0, 5, 7, 3, 9, 2] * 4:
        probs_a, state_a = litert.step(np.array([token]), state_a)
        probs_b, state_b = keras.step(np.array([token]), state_b)
        np.testing.assert_allclose(probs_a, probs_b, atol=1e-5)


def test_a_later_export_of_another_kind_keeps_every_weight(tmp_path):
    directory = make_untrained(tmp_path / "m")
    before = half_precision(directory)
    export_model(directory, "float16", weights_in_export=True)
    export_model(directory, "none")  # float32 tensors hold none of the float16 weights: all go back to the file
    saved = SavedModel.load(directory)
    assert WEIGHTS_KEY not in saved.manifest["litert"]
    assert set(saved.read_arrays("weights")) == set(before)
    assert all(np.array_equal(saved.weights[k], v) for k, v in before.items())


def test_an_export_that_holds_none_of_the_weights_cannot_keep_them(tmp_path):
    directory = make_untrained(tmp_path / "m")  # float32 weights
    files = dict(SavedModel.load(directory).manifest["files"])
    with pytest.raises(ExportError, match="holds none of the float32 weights"):
        export_model(directory, "float16", weights_in_export=True)
    assert SavedModel.load(directory).manifest["files"] == files


def test_a_damaged_record_of_the_kept_weights_is_a_clear_error(tmp_path):
    directory = make_untrained(tmp_path / "m")
    half_precision(directory)
    export_model(directory, "float16", weights_in_export=True)
    info = SavedModel.load(directory).manifest["litert"]
    first = next(iter(info[WEIGHTS_KEY]))
    ckpt.update_files(directory, ckpt.MODEL_MANIFEST, {},
                      {"litert": {**info, WEIGHTS_KEY: {**info[WEIGHTS_KEY], first: ["no such tensor", False]}}})
    with pytest.raises(ModelFormatError, match="lacks the tensor 'no such tensor'"):
        SavedModel.load(directory).weights
    ckpt.update_files(directory, ckpt.MODEL_MANIFEST, {}, {"litert": {**info, WEIGHTS_KEY: "garbage"}})
    with pytest.raises(ModelFormatError, match="damaged"):
        SavedModel.load(directory).weights


def test_cli_export_weights_in_export(tmp_path):
    directory = make_untrained(tmp_path / "m")
    half_precision(directory)
    result = runner.invoke(app, ["export", str(directory), "--quantize", "float16", "--weights-in-export", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[WEIGHTS_KEY]
    info = runner.invoke(app, ["info", str(directory)])
    assert info.exit_code == 0 and "weight arrays" in info.stdout, info.output
    refused = runner.invoke(app, ["export", str(make_untrained(tmp_path / "f32")), "--quantize", "float16",
                                  "--weights-in-export"])
    assert_clean_error(refused, "holds none of the float32 weights", "--quantize none")
