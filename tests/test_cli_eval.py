"""``wordrnn evaluate``, ``interpolate`` and ``baseline train|evaluate`` through Typer's CliRunner."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error
from wordrnn.cli.main import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def model(tmp_path, tiny_model):
    target = tmp_path / "model"
    shutil.copytree(tiny_model, target)
    return target


def test_evaluate_json_limit_and_info(model, text_file):
    result = run("evaluate", text_file, "-m", model, "--limit", "120", "--json", "--save")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert {"ppl", "bits", "top1", "top3", "top5", "ksr3", "oov_rate", "tokens", "vocab"} <= set(metrics)
    assert metrics["tokens"] == 120
    info = run("info", model)
    assert info.exit_code == 0
    assert "metric ppl" in info.stdout and "metric ksr3" in info.stdout


def test_evaluate_table(model, text_file):
    result = run("evaluate", text_file, "--model", model, "--limit", "50", "-q")
    assert result.exit_code == 0, result.output
    assert "KSR@3" in result.stdout and "top-3" in result.stdout


def test_baseline_train_evaluate_and_compare(tmp_path, model, text_file):
    trigram = tmp_path / "kn"
    result = run("baseline", "train", text_file, "-o", trigram, "--model", model, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ngrams"] > 0
    alone = run("baseline", "evaluate", text_file, "-b", trigram, "--json", "--limit", "100")
    assert alone.exit_code == 0, alone.output
    both = run("evaluate", text_file, "-m", model, "--baseline", trigram, "--json", "--limit", "100")
    assert both.exit_code == 0, both.output
    data = json.loads(both.stdout)
    assert data["baseline"]["ppl"] == pytest.approx(json.loads(alone.stdout)["ppl"])
    assert data["baseline"]["tokens"] == data["tokens"] == 100
    # A baseline directory is also a model `evaluate` understands.
    direct = run("evaluate", text_file, "-m", trigram, "--json", "--limit", "100")
    assert json.loads(direct.stdout)["ppl"] == pytest.approx(data["baseline"]["ppl"])


def test_commands_that_need_a_network_say_a_baseline_is_not_one(tmp_path, text_file):
    trigram = tmp_path / "kn"
    assert run("baseline", "train", text_file, "-o", trigram, "--min-count", "1").exit_code == 0
    before = sorted(p.name for p in trigram.iterdir())
    for command in (["export", trigram], ["complete", "the", "-m", trigram], ["forecast", trigram]):
        result = run(*command)
        assert_clean_error(result, "is an n-gram baseline", "not a network")
        assert "damaged" not in result.stderr
    assert "nothing to export" in run("export", trigram).stderr
    assert sorted(p.name for p in trigram.iterdir()) == before  # no lock file left behind either


def test_baseline_with_another_vocabulary_is_refused(tmp_path, model, text_file):
    other = tmp_path / "other.txt"
    other.write_text("completely different words here\nand more of them here\n" * 5, encoding="utf-8")
    trigram = tmp_path / "kn"
    assert run("baseline", "train", other, "-o", trigram, "--min-count", "1").exit_code == 0
    result = run("evaluate", text_file, "-m", model, "--baseline", trigram)
    assert_clean_error(result, "vocabulary")


def test_interpolate_updates_the_model(model, text_file):
    result = run("interpolate", model, "--valid", text_file, "--json")
    assert result.exit_code == 0, result.output
    fitted = json.loads(result.stdout)
    manifest = json.loads((model / "wordrnn.json").read_text())
    assert manifest["interpolation"]["cache_decay"] == fitted["cache_decay"]
    again = run("evaluate", text_file, "-m", model, "--limit", "100", "--json")
    assert again.exit_code == 0, again.output


def test_bad_inputs(tmp_path, model, text_file):
    assert_clean_error(run("evaluate", tmp_path / "missing.txt", "-m", model), "no such file")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert_clean_error(run("evaluate", empty, "-m", model), "no words")
    assert_clean_error(run("evaluate", text_file, "-m", model, "--limit", "0"), "--limit")
    assert_clean_error(run("evaluate", text_file, "-m", tmp_path / "nowhere"), "no such model directory")
    assert_clean_error(run("baseline", "evaluate", text_file, "-b", model), "not an n-gram baseline")
    assert_clean_error(run("baseline", "train", empty, "-o", tmp_path / "kn"), "no words")


def test_model_and_vocabulary_mismatch(tmp_path, model, text_file):
    manifest = json.loads((model / "wordrnn.json").read_text())
    vocab_file = model / manifest["files"]["vocab"]
    vocab = json.loads(vocab_file.read_text())
    vocab["words"] = vocab["words"][:-1]
    vocab["counts"] = vocab["counts"][:-1]
    data = json.dumps(vocab).encode()
    vocab_file.write_bytes(data)
    import hashlib

    manifest["checksums"][vocab_file.name] = hashlib.sha256(data).hexdigest()
    (model / "wordrnn.json").write_text(json.dumps(manifest))
    assert_clean_error(run("evaluate", text_file, "-m", model), "vocabulary")


def test_info_describes_a_baseline_and_an_interpolated_model(tmp_path, model, text_file):
    trigram = tmp_path / "kn"
    assert run("baseline", "train", text_file, "-o", trigram, "--model", model).exit_code == 0
    assert run("evaluate", text_file, "-m", trigram, "--limit", "50", "--save", "-q").exit_code == 0
    info = run("info", trigram, "--json")
    assert info.exit_code == 0, info.output
    data = json.loads(info.stdout)
    assert data["kind"] == "ngram" and data["parameters"] > 0 and data["metrics"]["tokens"] == 50
    assert run("interpolate", model, "--valid", text_file, "-q").exit_code == 0
    table = run("info", model)
    assert table.exit_code == 0 and "interpolation" in table.stdout


def test_save_refuses_the_bundled_model(monkeypatch, model, text_file):
    """Issue 18 item 5: the bundled model is read-only; `evaluate --save` without `--model` said nothing
    and rewrote the model inside the installed package."""
    monkeypatch.delenv("WORDRNN_MODEL", raising=False)
    monkeypatch.setattr("wordrnn.store.saved.bundled_model_path", lambda: model)
    before = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    assert_clean_error(run("evaluate", text_file, "--limit", "50", "--save"), "--model", "bundled")
    assert_clean_error(run("evaluate", text_file, "-m", model, "--limit", "50", "--save"), "--model", "bundled")
    assert {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()} == before
    assert run("evaluate", text_file, "--limit", "50", "--json").exit_code == 0  # reading it stays fine
    assert_clean_error(run("interpolate", model, "--valid", text_file), "read-only", "interpolate the copy")
