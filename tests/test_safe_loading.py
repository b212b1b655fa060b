"""Crafted model directories are refused with a clear error, and loading them never runs code.

Each hostile payload here is armed: loading it the unsafe way (``allow_pickle=True``, Keras
``safe_mode=False``) would create a marker file, and a control test shows that it does. Every
refusal test then checks that the marker does not exist.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import pickle
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error
import wordrnn
from wordrnn.store import checkpoint as ckpt
from wordrnn.cli.main import app
from wordrnn.errors import ModelFormatError, WordRNNError
from wordrnn.store.saved import SavedModel

runner = CliRunner()
PACKAGE = Path(wordrnn.__file__).resolve().parent


class Armed:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture()
def marker(tmp_path) -> Path:
    path = tmp_path / "code-ran"
    yield path
    assert not path.exists(), "loading a crafted model ran code"


@pytest.fixture()
def model(tmp_path, tiny_model) -> Path:
    """A private copy of the tiny trained model to tamper with."""
    return Path(shutil.copytree(tiny_model, tmp_path / "model"))


def manifest_of(directory: Path, name: str = ckpt.MODEL_MANIFEST) -> dict:
    return json.loads((directory / name).read_text(encoding="utf-8"))


def write_manifest(directory: Path, manifest: dict, name: str = ckpt.MODEL_MANIFEST) -> None:
    (directory / name).write_text(json.dumps(manifest), encoding="utf-8")


def plant(directory: Path, stem: str, data: bytes, name: str | None = None) -> str:
    """Put ``data`` in as the ``stem`` file with a matching checksum (an attacker can do that too)."""
    manifest = manifest_of(directory)
    name = name or manifest["files"][stem]
    (directory / name).write_bytes(data)
    manifest["files"][stem] = name
    manifest["checksums"][name] = hashlib.sha256(data).hexdigest()
    write_manifest(directory, manifest)
    return name


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def load_and_predict(directory: Path) -> np.ndarray:
    """Everything a user's command does with a model: read, build, set weights, step."""
    from wordrnn.runtime.keras import KerasStep

    step = KerasStep(SavedModel.load(directory))
    probs, _ = step.step(np.array([0]), step.zero_state(1))
    return probs


def assert_refused(directory: Path, *needles: str, cli: bool = True) -> None:
    with pytest.raises(WordRNNError) as caught:
        load_and_predict(directory)
    assert isinstance(caught.value, ModelFormatError), caught.value
    for needle in needles:
        assert needle in str(caught.value), str(caught.value)
    if cli:
        assert_clean_error(runner.invoke(app, ["complete", "the", "--model", str(directory), "--runtime", "keras"]))


# --- the payloads are real -----------------------------------------------------------------------

def test_control_the_payloads_do_run_code_when_loaded_unsafely(tmp_path):
    """Without our guards these files would execute code: what the other tests refuse is armed."""
    import keras

    ran = tmp_path / "ran"
    with np.load(io.BytesIO(npz(w=np.array([Armed(ran)], dtype=object))), allow_pickle=True) as archive:
        archive["w"]
    assert ran.exists()
    ran.unlink()
    keras.saving.load_model(_lambda_model(tmp_path / "evil.keras", ran), safe_mode=False)
    assert ran.exists()


def _lambda_model(path: Path, marker: Path) -> Path:
    """A ``.keras`` file whose Lambda layer creates ``marker`` when the model is rebuilt."""
    import keras

    function = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")  # noqa: S307
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Lambda(function)(inputs)).save(path)
    marker.unlink()  # building it ran the lambda once, here in the test
    return path


# --- pickles ------------------------------------------------------------------------------------------

def test_pickled_object_inside_the_weights_archive(model, marker):
    weights = SavedModel.load(model).weights
    plant(model, "weights", npz(**weights, extra=np.array([Armed(marker)], dtype=object)))
    assert_refused(model, "not a plain array archive")


def test_weights_file_that_is_a_pickle(model, marker):
    plant(model, "weights", pickle.dumps({"w": Armed(marker)}))
    assert_refused(model, "not a plain array archive")


def test_weights_file_that_is_a_bare_npy(model, marker):
    buffer = io.BytesIO()
    np.save(buffer, np.array([Armed(marker)], dtype=object), allow_pickle=True)
    plant(model, "weights", buffer.getvalue())
    assert_refused(model, "not a plain array archive")


def test_checkpoint_state_with_a_pickle_is_refused_on_resume(model, marker, text_file):
    from conftest import train_tiny

    out = model.parent / "resumable"
    train_tiny(text_file, out, epochs=1, checkpoint_every=5)
    manifest = manifest_of(out, ckpt.CHECKPOINT_MANIFEST)
    data = npz(opt_0000=np.array([Armed(marker)], dtype=object))
    (out / manifest["files"]["state"]).write_bytes(data)
    manifest["checksums"][manifest["files"]["state"]] = hashlib.sha256(data).hexdigest()
    write_manifest(out, manifest, ckpt.CHECKPOINT_MANIFEST)
    result = runner.invoke(app, ["train", str(text_file), "-o", str(out), "--resume", "-q", "--no-export"])
    assert result.exit_code != 0 and "not a plain array archive" in result.stderr, result.output


# --- Keras files ------------------------------------------------------------------------------------

def test_keras_file_with_a_lambda_layer_is_never_loaded(model, marker):
    """A planted ``.keras`` file is refused by Keras' safe mode, ignored as a stray file, refused as weights."""
    import keras

    evil = _lambda_model(model / "model.keras", marker)
    with pytest.raises(ValueError, match="Lambda"):
        keras.saving.load_model(evil)  # Keras' default safe_mode refuses it
    load_and_predict(model)  # a stray file nobody names is never opened
    name = plant(model, "keras", evil.read_bytes(), "keras-000099.keras")
    load_and_predict(model)  # named by the manifest, but no wordrnn code loads .keras files
    assert runner.invoke(app, ["info", str(model)]).exit_code == 0
    plant(model, "weights", (model / name).read_bytes())
    assert_refused(model, "not a plain array archive")


def _calls(tree: ast.AST, names: set[str]):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in names:
                yield node


def test_no_pickle_or_unsafe_deserialization_anywhere_in_the_package():
    banned_modules = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & banned_modules, f"{path.name} imports a pickler"
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in banned_modules, f"{path.name} imports a pickler"
        for call in _calls(tree, {"load"}):
            keywords = {k.arg: k.value for k in call.keywords}
            if isinstance(call.func, ast.Attribute) and getattr(call.func.value, "id", "") in ("np", "numpy"):
                flag = keywords.get("allow_pickle")
                assert isinstance(flag, ast.Constant) and flag.value is False, f"{path.name}: np.load without allow_pickle=False"
        for call in _calls(tree, {"load_model", "deserialize_keras_object", "model_from_json", "load_weights"}):
            flag = {k.arg: k.value for k in call.keywords}.get("safe_mode")
            assert flag is None or (isinstance(flag, ast.Constant) and flag.value is True), f"{path.name}: safe_mode off"
        for call in _calls(tree, {"eval", "exec"}):
            assert not isinstance(call.func, ast.Name), f"{path.name}:{call.lineno} calls {call.func.id}"
        for banned in ("allow_pickle=True", "enable_unsafe_deserialization", "safe_mode=False"):
            assert banned not in source, f"{path.name} contains {banned}"


# --- damaged or mismatched files --------------------------------------------------------------------

def test_mismatched_weight_shapes(model, marker):
    weights = dict(SavedModel.load(model).weights)
    name = next(k for k in weights if "embedding" in k)
    weights[name] = np.zeros((weights[name].shape[0] + 7, weights[name].shape[1]), np.float32)
    plant(model, "weights", npz(**weights))
    assert_refused(model, "shape", "vocabulary or config")


def test_missing_and_extra_weights(model, marker):
    weights = dict(SavedModel.load(model).weights)
    weights.pop(sorted(weights)[0])
    weights["intruder"] = np.zeros(3, np.float32)
    plant(model, "weights", npz(**weights))
    assert_refused(model, "do not match the model's config")


def test_string_arrays_are_not_weights(model, marker):
    weights = dict(SavedModel.load(model).weights)
    weights[sorted(weights)[0]] = np.array(["a", "b"])
    plant(model, "weights", npz(**weights))
    assert_refused(model, "not a numeric array")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_weights(model, marker, keep):
    data = (model / manifest_of(model)["files"]["weights"]).read_bytes()
    (model / manifest_of(model)["files"]["weights"]).write_bytes(data[: int(len(data) * keep)])
    assert_refused(model, "fails its checksum", cli=keep == 0.5)
    plant(model, "weights", data[: int(len(data) * keep)])  # ...and with a matching checksum
    assert_refused(model, "not a plain array archive", cli=keep == 0.5)


def test_corrupted_bytes_inside_the_archive(model, marker):
    data = bytearray((model / manifest_of(model)["files"]["weights"]).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(16)
    plant(model, "weights", bytes(data))
    with pytest.raises(ModelFormatError):
        load_and_predict(model)


def test_checksum_mismatch_in_the_vocabulary(model, marker):
    path = model / manifest_of(model)["files"]["vocab"]
    path.write_text(path.read_text(encoding="utf-8").replace('"the"', '"teh"'), encoding="utf-8")
    assert_refused(model, "fails its checksum")


@pytest.mark.parametrize(
    "vocab, needle",
    [
        ({"words": ["</s>", "<unk>", "a"], "counts": ["x", "y", "z"]}, "counts"),
        ({"words": ["</s>", "<unk>", "a"], "counts": 5}, "counts"),
        ({"words": ["a", "b"]}, "must start with"),
        ({"words": ["</s>", "<unk>", "a", "a"]}, "duplicate"),
        ({"words": ["</s>", "<unk>", 3]}, "non-text"),
        ([1, 2, 3], "not a word list"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_hostile_vocabulary(model, marker, vocab, needle):
    plant(model, "vocab", (vocab if isinstance(vocab, str) else json.dumps(vocab)).encode())
    assert_refused(model, needle, cli=False)


def test_vocabulary_of_another_size(model, marker):
    vocab = SavedModel.load(model).vocab.to_json()
    plant(model, "vocab", json.dumps({"words": vocab["words"][:-1]}).encode())
    assert_refused(model, "the directory mixes files of different models", cli=False)


# --- the manifest itself ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../outside.npz", "/etc/passwd", "sub/w.npz", "..", ".", "", ".hidden.npz",
                                  "a\\..\\b.npz", "w\x00.npz"])
def test_manifest_pointing_outside_the_directory(model, marker, name):
    outside = model.parent / "outside.npz"
    outside.write_bytes(npz(**SavedModel.load(model).weights))
    manifest = manifest_of(model)
    manifest["files"]["weights"] = name
    manifest["checksums"][name] = hashlib.sha256(outside.read_bytes()).hexdigest()
    write_manifest(model, manifest)
    assert_refused(model, "no usable weights file", cli=name == "../outside.npz")


def test_symlink_out_of_the_directory(model, marker):
    outside = model.parent / "outside.npz"
    outside.write_bytes(npz(**SavedModel.load(model).weights))
    name = manifest_of(model)["files"]["weights"]
    (model / name).unlink()
    (model / name).symlink_to(outside)
    manifest = manifest_of(model)
    manifest["checksums"][name] = hashlib.sha256(outside.read_bytes()).hexdigest()
    write_manifest(model, manifest)
    assert_refused(model, "not a regular file")


def test_fifo_or_device_instead_of_a_file_does_not_hang(model, marker):
    name = manifest_of(model)["files"]["weights"]
    (model / name).unlink()
    os.mkfifo(model / name)  # reading it would block forever
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            load_and_predict(model)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():
        with open(model / name, "wb"):  # unblock the reader so the thread can end
            pass
        pytest.fail("reading a FIFO named by the manifest hangs")
    assert isinstance(outcome[0], ModelFormatError) and "not a regular file" in str(outcome[0])
    (model / name).unlink()
    (model / name).symlink_to("/dev/zero")
    assert_refused(model, "not a regular file", cli=False)


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda m: m.update(format_version=2), "format version 2 is not supported"),
        (lambda m: m.update(format_version="1"), "format version '1' is not supported"),
        (lambda m: m.pop("format_version"), "format version None"),
        (lambda m: m.update(format="keras"), "not a wordrnn manifest"),
        (lambda m: m.update(files=["weights-000001.npz"]), "lists no files"),
        (lambda m: m.update(checksums=None), "lists no files"),
        (lambda m: m.pop("config"), "no config"),
        (lambda m: m["config"]["model"].update(units=16.5), "units must be int"),
        (lambda m: m["config"]["model"].update(units=-4), "units must be a positive number"),
        (lambda m: m["config"]["model"].update(units=10**9), "unreasonably large"),
        (lambda m: m["config"]["model"].update(cell="transformer"), "cell must be one of"),
        (lambda m: m["config"]["model"].update(cell={"class_name": "Lambda"}), "cell must be str"),
        (lambda m: m["config"].update(model=[1, 2]), "must be a JSON object"),
        (lambda m: m["config"]["model"].update(vocab_size=10**6), "the directory mixes files"),
    ],
)
def test_hostile_manifest(model, marker, change, needle):
    manifest = manifest_of(model)
    change(manifest)
    write_manifest(model, manifest)
    assert_refused(model, needle, cli=False)
    result = runner.invoke(app, ["info", str(model)])
    assert result.exit_code != 0 and needle in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b"null", b'"wordrnn-model"',
                                     b"{" * 100_000, b"[" * 100_000])
def test_manifest_that_is_not_a_manifest(model, marker, content):
    (model / ckpt.MODEL_MANIFEST).write_bytes(content)
    assert_refused(model, str(model), cli=False)


def huge_npz(name: str, shape: tuple[int, ...], payload: bytes = b"\0" * 64) -> bytes:
    """An archive whose member declares ``shape`` (float32) but holds a few bytes: np.load would
    allocate the declared size before finding out (a 4 MB file of zeros can honestly hold 4 GB)."""
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{name}.npy", header.getvalue() + payload)
    return buffer.getvalue()


@pytest.mark.parametrize("shape", [(10**6, 10**6), (10**12,), (3, 3, 3, 3)])
def test_arrays_declaring_more_than_the_config_allows_are_refused_before_reading(model, marker, shape):
    """Issue 18 item 7: a 4 MB ``.npz`` declaring 10^9 floats made ``info`` take 15 s and 3.9 GB."""
    name = sorted(SavedModel.load(model).weights)[0]
    plant(model, "weights", huge_npz(name, shape))
    with pytest.raises(ModelFormatError, match="declares"):
        SavedModel.load(model).weights
    result = runner.invoke(app, ["info", str(model)])
    assert_clean_error(result, "declares")


def test_a_member_holding_other_than_its_declared_size_is_refused(model, marker):
    weights = dict(SavedModel.load(model).weights)
    name = sorted(weights)[0]
    plant(model, "weights", huge_npz(name, weights[name].shape, payload=b"\0" * 8))
    with pytest.raises(ModelFormatError, match="declares"):
        SavedModel.load(model).weights


def test_a_start_state_declaring_huge_arrays_is_refused(model, marker):
    plant(model, "start_state", huge_npz("state_0", (10**12,)), name="start_state-000099.npz")
    assert_clean_error(runner.invoke(app, ["complete", "the", "--model", str(model), "--runtime", "keras"]),
                       "declares")


# --- a config that does not fit its weights, or the machine (issue 18 item 8) --------------------------

def _never_built(monkeypatch) -> None:
    from wordrnn.nn import model as nn_model

    def build_model(config):  # noqa: ANN001
        raise AssertionError(f"built a Keras network for {config}")

    monkeypatch.setattr(nn_model, "build_model", build_model)


def test_a_config_edited_to_a_huge_network_is_refused_before_it_is_built(model, marker, monkeypatch):
    """`"units": 8192, "layers": 16, "embedding": 8192` passed validation; `complete` then built the
    network and grew to 12.5 GB in 11 minutes."""
    _never_built(monkeypatch)
    manifest = manifest_of(model)
    manifest["config"]["model"].update(units=8192, layers=16, embedding=8192)
    write_manifest(model, manifest)
    assert_clean_error(runner.invoke(app, ["complete", "the", "--model", str(model), "--runtime", "keras"]),
                       "do not match the model's config", "16 layers of 8192 units")
    assert_clean_error(runner.invoke(app, ["info", str(model)]), "do not match the model's config")


def test_a_network_too_big_for_the_free_memory_is_refused_before_it_is_built(model, monkeypatch):
    from wordrnn.nn import size

    _never_built(monkeypatch)
    monkeypatch.setattr(size, "available_memory", lambda: 2**12)  # 4 KiB free: less than this tiny network needs
    assert_clean_error(runner.invoke(app, ["complete", "the", "--model", str(model), "--runtime", "keras"]),
                       "GiB of memory", "GiB is free")
