"""``wordrnn lexicon``: a model completes words outside its vocabulary; bad input is a clean error."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

import wordrnn
from wordrnn.cli.main import app
from wordrnn.store import checkpoint as ckpt

runner = CliRunner()


@pytest.fixture()
def model(tiny_model, tmp_path):
    return shutil.copytree(tiny_model, tmp_path / "m")


def test_help():
    result = runner.invoke(app, ["lexicon", "--help"])
    assert result.exit_code == 0 and "--words" in result.output and "--corpus" in result.output


def test_a_lexicon_from_the_corpus_completes_words_the_vocabulary_lacks(model, tmp_path):
    corpus = tmp_path / "more.txt"
    corpus.write_text("the zebra sees the zeppelin\nthe zebra likes the ball\n", encoding="utf-8")
    before = wordrnn.load(model).suggest("the cat sees the ze", k=3)
    assert before == []  # no vocabulary word starts with "ze"
    result = runner.invoke(app, ["lexicon", str(model), "--corpus", str(corpus), "--words", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["words"] == 2
    assert json.loads(result.output)["max_probability"] == pytest.approx(2 / 3)  # zebra: 2 of the 3 words
    assert wordrnn.load(model).saved.lexicon_ceiling() == pytest.approx(2 / 3)
    after = wordrnn.load(model).suggest("the cat sees the ze", k=3)
    assert [w for w, _ in after] == ["zebra", "zeppelin"]  # zebra is seen twice as often
    assert sum(p for _, p in after) == pytest.approx(1.0)
    assert wordrnn.load(model).suggest("The cat sees the Ze", k=1)[0][0] == "Zebra"


def test_wordfreq_words_join_the_lexicon(model):
    pytest.importorskip("wordfreq")
    result = runner.invoke(app, ["lexicon", str(model), "--words", "3000"])
    assert result.exit_code == 0, result.output
    words = [w for w, _ in wordrnn.load(model).suggest("the cat sees the probl", k=3)]
    assert "problem" in words


def test_a_damaged_lexicon_is_an_error_when_a_completion_needs_it(model, tmp_path):
    corpus = tmp_path / "more.txt"
    corpus.write_text("the zebra sees the zeppelin\n", encoding="utf-8")
    assert runner.invoke(app, ["lexicon", str(model), "--corpus", str(corpus), "--words", "0"]).exit_code == 0
    manifest = ckpt.read_manifest(model)
    path = model / manifest["files"]["lexicon"]
    path.write_bytes(path.read_bytes()[:-20])
    result = runner.invoke(app, ["complete", "the cat sees the ze", "--model", str(model)])
    assert result.exit_code != 0 and "lexicon" in result.output and "Traceback" not in result.output
    assert runner.invoke(app, ["complete", "the cat sees the ", "--model", str(model)]).exit_code == 0  # not needed


@pytest.mark.parametrize("args, needle", [
    (["--words", "-1"], "wordfreq words"),
    (["--words", "0"], "needs words"),
])
def test_bad_options_are_clean_errors(model, args, needle):
    result = runner.invoke(app, ["lexicon", str(model), *args])
    assert result.exit_code != 0 and needle in result.output and "Traceback" not in result.output


def test_a_missing_model_is_a_clean_error(tmp_path):
    result = runner.invoke(app, ["lexicon", str(tmp_path / "nope"), "--words", "10"])
    assert result.exit_code != 0 and "no such model directory" in result.output
