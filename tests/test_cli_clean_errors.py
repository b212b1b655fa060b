"""Issue 18 item 15: inputs that ended in "internal error" instead of one clean line.

Seeds outside NumPy's range, codecs that are not text encodings, manifest fields of the wrong JSON
type, and a start state that names the weights file: each must be a one-line error and a non-zero
exit, never a traceback or "internal error".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error
from wordrnn.cli.main import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def model(tmp_path, tiny_model) -> Path:
    return Path(shutil.copytree(tiny_model, tmp_path / "model"))


def edit_manifest(directory: Path, change) -> None:  # noqa: ANN001
    path = directory / "wordrnn.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize("seed", ["-1", str(2**32), str(10**30)])
def test_seeds_outside_the_range_are_refused_by_train_and_sine(tmp_path, text_file, seed):
    out = tmp_path / "out"
    assert_clean_error(run("train", text_file, "-o", out, "--seed", seed, "--epochs", "1"), "--seed")
    assert not out.exists()
    assert_clean_error(run("sine", "--seed", seed, "--epochs", "1"), "--seed")


def test_generate_seeds_fail_cleanly_or_work(tiny_model):
    assert_clean_error(run("generate", "the", "-m", tiny_model, "-n", "2", "--seed", "-1"), "--seed")
    assert run("generate", "the", "-m", tiny_model, "-n", "2", "--seed", str(2**32)).exit_code == 0


@pytest.mark.parametrize("encoding", ["rot13", "base64", "zlib", "hex"])
def test_codecs_that_are_not_text_encodings_are_refused(tmp_path, text_file, encoding):
    from wordrnn.errors import CorpusError
    from wordrnn.text.corpus import iter_lines

    assert_clean_error(run("train", text_file, "-o", tmp_path / "out", "--encoding", encoding), "not a text encoding")
    assert_clean_error(run("prepare", text_file, "-o", tmp_path / "prepared", "--encoding", encoding),
                       "not a text encoding")
    assert not (tmp_path / "out").exists() and not (tmp_path / "prepared").exists()
    with pytest.raises(CorpusError, match="not a text encoding"):  # the library, for Python callers
        list(iter_lines([text_file], encoding))


@pytest.mark.parametrize("field, value", [("interpolation", [1, 2]), ("interpolation", "x"), ("litert", "x"),
                                          ("litert", [1]), ("interpolation", 3)])
def test_manifest_fields_of_the_wrong_type_are_clean_errors_in_info(model, field, value):
    edit_manifest(model, lambda m: m.__setitem__(field, value))
    assert_clean_error(run("info", model), field)


def test_a_start_state_naming_the_weights_file_is_a_clean_error(model):
    edit_manifest(model, lambda m: m["files"].__setitem__("start_state", m["files"]["weights"]))
    assert_clean_error(run("complete", "the", "-m", model, "--runtime", "keras"), "start state")
