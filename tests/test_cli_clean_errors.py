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


# --- issue 18 item 11: a model of NaN weights (or NaN figures) never makes invalid JSON ---------------

def _strict_json(text: str):  # noqa: ANN201
    """JSON as the standard defines it: Python's reader would accept NaN and Infinity, jq would not."""
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in JSON output: {text[:300]}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture()
def nan_model(tmp_path) -> Path:
    """A model directory whose weights are NaN and whose history and metrics hold NaN and infinity,
    as a diverged run saved before such weights were refused (or a hand-made one)."""
    import numpy as np

    from conftest import make_untrained
    from wordrnn.store import checkpoint as ckpt

    out = make_untrained(tmp_path / "nan")
    weights = ckpt.read_arrays(out, ckpt.read_manifest(out), "weights")
    ckpt.update_files(out, ckpt.MODEL_MANIFEST, {
        "weights.npz": {name: np.full_like(array, np.nan) for name, array in weights.items()},
        "history.json": [{"epoch": 1, "loss": float("nan"), "val_loss": float("inf"), "learning_rate": 0.002}],
        "metrics.json": {"perplexity": float("nan"), "top1": float("-inf")}})
    return out


def test_json_output_never_holds_nan(nan_model):
    info = _strict_json(run("info", nan_model, "--json").stdout)
    assert info["history"][0]["loss"] is None and info["metrics"]["perplexity"] is None
    completion = run("complete", "w1 w2", "-m", nan_model, "--runtime", "keras", "--json")
    assert completion.exit_code == 0, completion.output
    assert all(s["prob"] is None for s in _strict_json(completion.stdout)["suggestions"])
    lines = runner.invoke(app, ["repl", "-m", str(nan_model), "--runtime", "keras", "--json"], input="w1 w2\n")
    assert lines.exit_code == 0, lines.output
    replies = [_strict_json(line) for line in lines.stdout.splitlines()]
    assert replies and all(s["prob"] is None for s in replies[0]["suggestions"])


def test_emoji_codes_in_paths_and_contexts_are_shown_as_typed(tmp_path, tiny_model):
    """Rich would turn ":smile:" into an emoji; a path or a context must be printed as given."""
    result = run("complete", "the", "-m", tmp_path / ":smile:")
    assert_clean_error(result, ":smile:")
    assert "😄" not in result.stderr
    named = Path(shutil.copytree(tiny_model, tmp_path / ":thumbs_up:"))
    result = run("complete", "the cat", "-m", named, "-k", "1")
    assert result.exit_code == 0, result.output
    edit_manifest(named, lambda manifest: manifest.update(format_version=99))
    result = run("complete", "the", "-m", named)
    assert_clean_error(result, ":thumbs_up:")
    assert "👍" not in result.stderr
