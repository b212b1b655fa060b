"""``wordrnn prepare``: the same ids as in-memory encoding, parallel or not, and never a half-valid dataset."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error, make_text
from wordrnn.cli.main import app
from wordrnn.config import TokenizerConfig
from wordrnn.errors import ConfigError, CorpusError, OutputExistsError
from wordrnn.text.prepare import prepare
from wordrnn.text.shards import MANIFEST, ShardWriter, open_dataset
from wordrnn.text.encode import count_words, encode_corpus
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import Vocabulary

runner = CliRunner()


def reference(paths, config: TokenizerConfig, max_vocab=200):
    """What ``wordrnn train`` would build in memory from the same text."""
    tokenizer = Tokenizer(config)
    vocab = Vocabulary.build(count_words(paths, tokenizer), max_vocab)
    return vocab, encode_corpus(paths, tokenizer, vocab)


@pytest.fixture()
def corpus(tmp_path):
    """Two files: blank lines between paragraphs, CRLF endings, a BOM, and no final line break.

    The first file ends with a blank line: in paragraph mode ``wordrnn prepare`` ends a paragraph
    at the end of every file, where ``train`` on text files lets it run on into the next file.
    """
    first = tmp_path / "a.txt"
    lines = make_text(300, seed=1).splitlines()
    text = "".join(line + ("\r\n" if i < 40 else "\n") + ("\n" if i % 8 == 7 else "") for i, line in enumerate(lines))
    first.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8") + b"\n")
    second = tmp_path / "b.txt"
    second.write_text(make_text(200, seed=2).rstrip("\n"), encoding="utf-8")
    return [first, second]


@pytest.mark.parametrize("config", [TokenizerConfig(), TokenizerConfig(eos="paragraph"),
                                    TokenizerConfig(lowercase=True, pretokenized=True)])
def test_ids_and_vocabulary_match_in_memory_encoding(tmp_path, corpus, config):
    manifest = prepare(corpus, tmp_path / "ds", workers=1, tokenizer_config=config, max_vocab=200,
                       chunk_bytes=700, shard_tokens=1000)
    assert manifest["prepare"]["ranges"] > 10 and len(manifest["shards"]) > 3
    vocab, ids = reference(corpus, config)
    data = open_dataset(tmp_path / "ds")
    assert data.vocab.words == vocab.words and data.vocab.counts == vocab.counts
    assert data.tokenizer_config == config
    assert np.array_equal(data.tokens.read(), ids)
    assert manifest["tokens"] == len(ids) and manifest["sentences"] == vocab.counts[0]


def test_parallel_workers_write_the_same_dataset(tmp_path, corpus):
    one = prepare(corpus, tmp_path / "one", workers=1, chunk_bytes=2000, shard_tokens=3000)
    two = prepare(corpus, tmp_path / "two", workers=2, chunk_bytes=2000, shard_tokens=3000)
    assert two["prepare"]["workers"] == 2
    assert one["shards"] == two["shards"] and one["vocab"]["sha256"] == two["vocab"]["sha256"]


def test_manifest_checksums_and_counts(tmp_path, corpus):
    out = tmp_path / "ds"
    manifest = prepare(corpus, out, workers=1, max_vocab=20, shard_tokens=2500)
    assert json.loads((out / MANIFEST).read_text()) == manifest
    for shard in manifest["shards"]:
        data = (out / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"] and len(data) == 2 * shard["tokens"]
    assert sum(s["tokens"] for s in manifest["shards"]) == manifest["tokens"]
    assert manifest["dtype"] == "uint16" and manifest["vocab"]["size"] == 20
    assert manifest["unk_tokens"] == int(np.sum(open_dataset(out).tokens.read() == 1)) > 0
    assert manifest["tokenizer"] == {"lowercase": False, "pretokenized": False, "eos": "line"}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_large_vocabularies_use_uint32(tmp_path):
    path = tmp_path / "many.txt"
    path.write_text("\n".join(" ".join(f"w{i}" for i in range(j, j + 100)) for j in range(0, 70_000, 100)))
    manifest = prepare([path], tmp_path / "ds", workers=1, max_vocab=None, tokenizer_config=TokenizerConfig(pretokenized=True))
    assert manifest["dtype"] == "uint32" and manifest["vocab"]["size"] == 70_002
    data = open_dataset(tmp_path / "ds")
    assert data.tokens.dtype == np.dtype("<u4")
    assert data.vocab.decode(data.tokens.read(0, 3)) == ["w0", "w1", "w2"]


def test_an_interrupted_prepare_leaves_no_dataset_and_the_next_run_clears_it(tmp_path, corpus, monkeypatch):
    out = tmp_path / "ds"
    prepare(corpus, out, workers=1)
    real_write = ShardWriter.write

    def crash(self, ids):
        real_write(self, ids)
        raise KeyboardInterrupt

    monkeypatch.setattr(ShardWriter, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare(corpus, out, workers=1, chunk_bytes=1000, shard_tokens=1000, force=True)
    assert not (out / MANIFEST).exists(), "the old manifest must be gone before its shards are overwritten"
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]
    with pytest.raises(CorpusError, match="unfinished"):
        open_dataset(out)
    monkeypatch.undo()
    prepare(corpus, out, workers=1)  # no --force needed over an unfinished dataset
    assert len(open_dataset(out).tokens) == len(reference(corpus, TokenizerConfig())[1])


def test_output_checks(tmp_path, corpus):
    prepare(corpus, tmp_path / "ds", workers=1)
    with pytest.raises(OutputExistsError, match="pass force=True to replace it"):
        prepare(corpus, tmp_path / "ds", workers=1)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.md").write_text("mine")
    with pytest.raises(OutputExistsError, match="other files"):
        prepare(corpus, tmp_path / "other", workers=1, force=True)
    with pytest.raises(OutputExistsError, match="not a directory"):
        prepare(corpus, corpus[0], workers=1)
    for bad in ({"max_vocab": 2}, {"min_count": 0}, {"workers": 0}, {"shard_tokens": 0}):
        with pytest.raises(ConfigError):
            prepare(corpus, tmp_path / "new", **bad)
    assert not (tmp_path / "new").exists()


def test_decoding_errors_name_the_byte_offset_in_the_file(tmp_path):
    path = tmp_path / "bad.txt"
    good = ("some words here\n" * 400).encode()
    path.write_bytes(good + b"caf\xe9\n" + good)
    with pytest.raises(CorpusError, match=f"byte {len(good) + 3}"):
        prepare([path], tmp_path / "ds", workers=1, chunk_bytes=500)
    assert not (tmp_path / "ds" / MANIFEST).exists()


def test_empty_corpus(tmp_path):
    path = tmp_path / "blank.txt"
    path.write_text("\n  \n\t\n")
    with pytest.raises(CorpusError, match="no words"):
        prepare([path], tmp_path / "ds", workers=1)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("make, needles", [
    (lambda d: (d / "blank.txt").write_text("\n \n") and d / "blank.txt", ["no words"]),
    (lambda d: (d / "bin.txt").write_bytes(make_text(50).encode() + b"\x00\x01") and d / "bin.txt", ["binary"]),
    (lambda d: (d / "few.txt").write_text(make_text(20)) and d / "few.txt", ["--min-count 1000", "keeps no word"]),
])
def test_a_failed_prepare_removes_the_directories_it_made(tmp_path, make, needles):
    out = tmp_path / "new" / "deeper" / "ds"
    args = ["--min-count", "1000"] if "--min-count 1000" in needles else []
    result = runner.invoke(app, ["prepare", str(make(tmp_path)), "-o", str(out), "-j", "1", *args])
    assert_clean_error(result, *needles)
    assert not (tmp_path / "new").exists()


def test_an_interrupted_first_prepare_removes_its_directory(tmp_path, corpus, monkeypatch):
    def crash(self, ids):  # noqa: ANN001
        raise KeyboardInterrupt

    monkeypatch.setattr(ShardWriter, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare(corpus, tmp_path / "ds", workers=1)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("tokens", ["1", "999"])
def test_shards_of_a_few_tokens_are_refused(tmp_path, corpus, tokens):
    result = runner.invoke(app, ["prepare", str(corpus[0]), "-o", str(tmp_path / "ds"), "--shard-tokens", tokens])
    assert_clean_error(result, f"--shard-tokens must be at least 1,000, got {tokens}")
    assert not (tmp_path / "ds").exists()


def test_a_plan_of_too_many_shard_files_is_refused(tmp_path, corpus, monkeypatch):
    from wordrnn.text import prepare as module

    monkeypatch.setattr(module, "MAX_SHARDS", 2)
    with pytest.raises(ConfigError, match=r"would write \d+ shard files \(at most 2\); give a shard_tokens of at least"):
        prepare(corpus, tmp_path / "ds", workers=1, shard_tokens=1000)
    assert not (tmp_path / "ds").exists()


def test_cli_prepare_from_standard_input_then_train(tmp_path):
    data, model = tmp_path / "ds", tmp_path / "m"
    result = runner.invoke(app, ["prepare", "-", "-o", str(data), "-j", "1", "--max-vocab", "100"], input=make_text(300))
    assert result.exit_code == 0, result.output
    assert "tokens/s" in result.stderr and (data / MANIFEST).is_file()
    valid = tmp_path / "valid.txt"
    valid.write_text(make_text(50, seed=9))
    tiny = ["--units", "8", "--embedding", "4", "--batch-size", "4", "--window", "5", "-q", "--no-export"]
    result = runner.invoke(app, ["train", str(data), "-o", str(model), *tiny, "--epochs", "1", "--valid", str(valid)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["train", str(data), "-o", str(model), *tiny, "--epochs", "2", "--valid", str(valid), "--resume"])
    assert result.exit_code == 0, result.output
    info = json.loads(runner.invoke(app, ["info", str(model), "--json"]).stdout)
    assert info["vocab_size"] == open_dataset(data).manifest["vocab"]["size"]
    assert [h["epoch"] for h in info["history"]] == [1, 2] and "val_loss" in info["history"][1]
    other = tmp_path / "other"
    assert runner.invoke(app, ["prepare", "-", "-o", str(other), "-j", "1"], input="alpha beta gamma\n" * 300).exit_code == 0
    result = runner.invoke(app, ["train", str(other), "-o", str(model), *tiny, "--epochs", "3", "--resume"])
    assert_clean_error(result, "vocabulary is not the checkpoint's")


def test_cli_prepare_errors(tmp_path, corpus):
    out = str(tmp_path / "ds")
    assert_clean_error(runner.invoke(app, ["prepare", str(tmp_path / "missing.txt"), "-o", out]), "no such file")
    assert_clean_error(runner.invoke(app, ["prepare", str(corpus[0]), "-o", out, "--workers", "0"]), "--workers")
    assert_clean_error(runner.invoke(app, ["prepare", str(corpus[0]), "-o", out, "--eos", "never"]), "eos")
    assert runner.invoke(app, ["prepare", str(corpus[0]), "-o", out, "-q", "-j", "1"]).exit_code == 0
    assert_clean_error(runner.invoke(app, ["prepare", str(corpus[0]), "-o", out, "-j", "1"]), "--force")
    (tmp_path / "ds" / MANIFEST).unlink()
    assert_clean_error(runner.invoke(app, ["train", out, "-o", str(tmp_path / "m")]), "unfinished", "prepare")


def test_a_killed_runs_copy_of_standard_input_is_removed_by_the_next(tmp_path, monkeypatch):
    """prepare's worker processes open files by name, so its copy of standard input has one; the copy a
    killed run left (its process gone) is removed by the next run, another live run's is kept (issue 18 item 20)."""
    import os
    import tempfile

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    left = temp / "wordrnn-stdin-999999999-abc.txt"  # no such process
    live = temp / f"wordrnn-stdin-{os.getppid()}-abc.txt"
    left.write_text("private text\n")
    live.write_text("another run's text\n")
    result = runner.invoke(app, ["prepare", "-", "-o", str(tmp_path / "data"), "-j", "1"], input=make_text(300))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in temp.iterdir()) == [live.name]
