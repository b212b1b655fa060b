"""The LiteRT step runner: same numbers as Keras, no TensorFlow import, safe fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error, make_untrained
from wordrnn.store import checkpoint as ckpt
from wordrnn.runtime import litert as runtime_litert
from wordrnn.cli.main import app
from wordrnn.errors import ExportError, WordRNNWarning
from wordrnn.runtime.export import export_model
from wordrnn.runtime.keras import KerasStep
from wordrnn.runtime.runner import open_runner
from wordrnn.runtime.litert import LiteRTStep
from wordrnn.store.saved import SavedModel

runner = CliRunner()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A two-layer LSTM (four state tensors) with a float export."""
    directory = make_untrained(tmp_path_factory.mktemp("exported") / "m", vocab_size=120, layers=2)
    export_model(directory)
    return directory


def _run_both(a, b, inputs_per_step, batch):
    state_a, state_b = a.zero_state(batch), b.zero_state(batch)
    worst = 0.0
    for inputs in inputs_per_step:
        out_a, state_a = a.step(inputs, state_a)
        out_b, state_b = b.step(inputs, state_b)
        worst = max(worst, float(np.abs(out_a - out_b).max()))
        if out_a.shape[-1] > 3:
            assert (np.argsort(-out_a, axis=-1)[:, :3] == np.argsort(-out_b, axis=-1)[:, :3]).all()
    return worst, state_a, state_b


def test_litert_matches_keras_over_many_steps_with_state_carried_across_calls(exported):
    saved = SavedModel.load(exported)
    litert, keras = open_runner(saved, "litert"), KerasStep(saved)
    assert isinstance(litert, LiteRTStep) and len(litert.state_sizes) == 4
    rng = np.random.default_rng(0)
    for batch in (1, 3, 1):  # the interpreter resizes when the batch changes
        steps = [rng.integers(0, 120, size=batch) for _ in range(200)]
        worst, state_a, state_b = _run_both(litert, keras, steps, batch)
        assert worst <= 1e-4
        assert max(float(np.abs(x - y).max()) for x, y in zip(state_a, state_b)) <= 1e-4


def test_a_first_step_of_one_row_runs_on_the_tensors_the_export_came_with(exported, monkeypatch):
    """Re-planning the step costs milliseconds of a cold ``complete``: only a new batch size pays it."""
    runner = LiteRTStep(SavedModel.load(exported))
    resized = []
    original = runner._resize
    monkeypatch.setattr(runner, "_resize", lambda batch: (resized.append(batch), original(batch)))
    for batch in (1, 1, 3, 3, 1):
        probs, _ = runner.step(np.zeros(batch, np.int64), runner.zero_state(batch))
        assert probs.shape == (batch, 120)
    assert resized == [3, 1]


def test_litert_probabilities_are_a_distribution(exported):
    step = LiteRTStep(SavedModel.load(exported))
    probs, state = step.step(np.array([0]), step.zero_state())
    assert probs.shape == (1, 120) and abs(float(probs.sum()) - 1) < 1e-5 and (probs >= 0).all()
    assert [s.shape for s in state] == [(1, 16)] * 4


def test_series_model_runs_on_litert(tmp_path):
    directory = make_untrained(tmp_path / "s", input_kind="series", features=3, cell="gru")
    export_model(directory)
    saved = SavedModel.load(directory)
    rng = np.random.default_rng(1)
    worst, _, _ = _run_both(open_runner(saved), KerasStep(saved), [rng.normal(size=(2, 3)) for _ in range(50)], 2)
    assert worst <= 1e-4


def test_auto_uses_litert_without_warning(exported):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(open_runner(SavedModel.load(exported), "auto"), LiteRTStep)


def _assert_falls_back(directory, *needles):
    saved = SavedModel.load(directory)
    with pytest.warns(WordRNNWarning) as caught:
        assert isinstance(open_runner(saved, "auto"), KerasStep)
    message = str(caught[0].message)
    assert "TensorFlow instead" in message
    for needle in needles:
        assert needle in message
    with pytest.raises(ExportError) as error:
        open_runner(saved, "litert")
    for needle in needles:
        assert needle in str(error.value)


def test_missing_export_falls_back_with_a_warning(tmp_path):
    _assert_falls_back(make_untrained(tmp_path / "m"), "no LiteRT export", "wordrnn export")


def test_corrupt_export_falls_back_with_a_warning(tmp_path):
    directory = make_untrained(tmp_path / "m")
    export_model(directory)
    path = directory / ckpt.read_manifest(directory)["files"]["litert"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    _assert_falls_back(directory, "checksum")


def test_unloadable_export_falls_back_with_a_warning(tmp_path):
    directory = make_untrained(tmp_path / "m")
    export_model(directory)
    ckpt.update_files(directory, ckpt.MODEL_MANIFEST, {"litert.tflite": b"not a flatbuffer" * 10})
    _assert_falls_back(directory, "cannot be loaded")


def test_export_of_other_weights_falls_back_with_a_warning(tmp_path):
    directory = make_untrained(tmp_path / "m")
    export_model(directory)
    weights = SavedModel.load(directory).weights
    ckpt.update_files(directory, ckpt.MODEL_MANIFEST, {"weights.npz": {k: v * 2 for k, v in weights.items()}})
    _assert_falls_back(directory, "other weights")


def test_export_of_another_model_is_refused(tmp_path):
    small = make_untrained(tmp_path / "small", vocab_size=40)
    other = make_untrained(tmp_path / "other", vocab_size=50)
    export_model(small)
    content = ckpt.read_file(small, ckpt.read_manifest(small), "litert")
    with pytest.raises(ExportError, match="does not match the model"):
        LiteRTStep(SavedModel.load(other), content)


def test_without_the_litert_package_auto_is_silent_and_litert_is_an_error(exported, monkeypatch):
    def missing():
        raise ExportError("the LiteRT runtime is not available (No module named 'ai_edge_litert')")

    monkeypatch.setattr(runtime_litert, "_interpreter_class", missing)
    saved = SavedModel.load(exported)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(open_runner(saved, "auto"), KerasStep)
    with pytest.raises(ExportError, match="not available"):
        open_runner(saved, "litert")


# --- no TensorFlow on the fast path (fresh interpreters: this process has imported it) --------

def _fresh_python(code: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_runner_path_never_imports_tensorflow(exported):
    report = _fresh_python(
        "import json, sys, numpy as np\n"
        "from wordrnn.store.saved import SavedModel\n"
        "from wordrnn.runtime.runner import open_runner\n"
        f"r = open_runner(SavedModel.load({str(exported)!r}), 'auto')\n"
        "p, s = r.step(np.array([0]), r.zero_state())\n"
        "print(json.dumps({'runner': type(r).__name__, 'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules}))\n"
    )
    assert report == {"runner": "LiteRTStep", "tf": False, "keras": False}


@pytest.mark.parametrize("command", [["complete", "w3 w4"], ["complete", "w3 w"], ["generate", "w3", "-n", "5", "--seed", "1"]])
def test_cli_fast_path_never_imports_tensorflow(exported, command):
    report = _fresh_python(
        "import json, sys, contextlib, io\n"
        "from wordrnn.cli.main import app\n"
        "buffer = io.StringIO()\n"
        "with contextlib.redirect_stdout(buffer):\n"
        f"    code = app({[*command, '--model', str(exported)]!r}, prog_name='wordrnn', standalone_mode=False)\n"
        "print(json.dumps({'code': code or 0, 'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules}))\n"
    )
    assert report == {"code": 0, "tf": False, "keras": False}


def test_cli_runtime_litert_without_export_is_a_clean_error(tmp_path):
    directory = make_untrained(tmp_path / "m")
    result = runner.invoke(app, ["complete", "w3 w4", "--model", str(directory), "--runtime", "litert"])
    assert_clean_error(result, "no LiteRT export", "wordrnn export")


def _ids_export(saved: SavedModel) -> bytes:
    """An export in the format written before the lookup moved out of the graph: it takes ids."""
    from wordrnn.nn.tfimport import tensorflow
    from wordrnn.runtime.litert import INPUT_NAME, OUTPUT_NAME, expected_state_sizes, state_name

    tf = tensorflow()
    model, config = KerasStep(saved).model, saved.model_config
    cells = [model.get_layer(f"rnn_{i}").cell for i in range(config.layers)]
    sizes = expected_state_sizes(config)
    per_layer = len(sizes) // config.layers
    specs = [tf.TensorSpec((None,), tf.int32, name=INPUT_NAME),
             *(tf.TensorSpec((None, n), tf.float32, name=state_name(i)) for i, n in enumerate(sizes))]

    @tf.function(input_signature=specs)
    def step(inputs, *states):
        hidden, new_states = model.get_layer("embedding")(inputs), []
        for index, cell in enumerate(cells):
            hidden, layer_states = cell(hidden, list(states[index * per_layer:(index + 1) * per_layer]), training=False)
            new_states.extend(layer_states)
        outputs = tf.nn.softmax(model.get_layer("output")(hidden), axis=-1)
        return {OUTPUT_NAME: outputs, **{state_name(i): s for i, s in enumerate(new_states)}}

    holder = tf.Module()
    holder.variables_ = [getattr(v, "value", v) for v in model.variables]
    return bytes(tf.lite.TFLiteConverter.from_concrete_functions([step.get_concrete_function()], holder).convert())


def test_exports_take_embedded_words_and_older_exports_that_take_ids_still_run(exported):
    saved = SavedModel.load(exported)
    current = LiteRTStep(saved)
    assert current._table is not None  # the lookup happens in the runner, not in the graph
    older = LiteRTStep(saved, _ids_export(saved))
    assert older._table is None
    rng = np.random.default_rng(3)
    for batch in (1, 2):
        worst, _, _ = _run_both(current, older, [rng.integers(0, 120, size=batch) for _ in range(30)], batch)
        assert worst <= 1e-5


def test_an_export_whose_embedding_table_is_missing_is_refused(exported, tmp_path):
    import shutil

    copy = shutil.copytree(exported, tmp_path / "copy")
    info = ckpt.read_manifest(copy)["litert"]
    ckpt.update_files(copy, ckpt.MODEL_MANIFEST, {}, {"litert": {**info, runtime_litert.TABLE_KEY: None}})
    saved = SavedModel.load(copy)
    saved._weights = {k: v for k, v in saved.weights.items() if k != runtime_litert.EMBEDDING_WEIGHTS}
    with pytest.raises(ExportError, match="embedding table"):
        LiteRTStep(saved)


def test_a_tied_model_reads_its_embedding_table_from_the_export_not_the_weights(tmp_path):
    directory = make_untrained(tmp_path / "m", vocab_size=60, tied=True, embedding=16)
    info = export_model(directory)
    assert info[runtime_litert.TABLE_KEY]  # the output matrix, checked equal to the table at export
    saved = SavedModel.load(directory)
    step = LiteRTStep(saved)
    assert saved._weights is None  # the weights file (as large as the export) was never read
    assert np.array_equal(step._table, saved.weights[runtime_litert.EMBEDDING_WEIGHTS])
    worst, _, _ = _run_both(step, KerasStep(saved), [np.array([i % 60]) for i in range(20)], 1)
    assert worst <= 1e-5


def test_an_untied_export_names_no_table_and_reads_the_weights(exported):
    assert runtime_litert.TABLE_KEY not in ckpt.read_manifest(exported)["litert"]


def test_a_manifest_naming_a_tensor_the_export_lacks_is_refused(tmp_path):
    directory = make_untrained(tmp_path / "m", vocab_size=60, tied=True, embedding=16)
    info = export_model(directory)
    ckpt.update_files(directory, ckpt.MODEL_MANIFEST, {}, {"litert": {**info, runtime_litert.TABLE_KEY: "no/such"}})
    with pytest.raises(ExportError, match="lacks the embedding table"):
        LiteRTStep(SavedModel.load(directory))
    _assert_falls_back(directory, "lacks the embedding table")
