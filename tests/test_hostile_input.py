"""Hostile training text: every input is either handled sensibly or refused with one clear line.

Property tests feed random bytes and text to the corpus reader and tokenizer (with tiny read
chunks, so every multi-byte character, BOM and ``\\r\\n`` can straddle a chunk boundary); explicit
cases go through ``wordrnn train``. A file of tens of megabytes without a line break is read in
a subprocess whose peak memory must stay far below the file's size.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import assert_clean_error, make_text
from test_repl import PROBE, drive  # at import time: test_repl's @given tests must not be decorated inside a running one
from wordrnn.text import corpus as corpus_module
from wordrnn.cli.main import app
from wordrnn.config import TokenizerConfig
from wordrnn.errors import CorpusError
from wordrnn.text.encode import count_words
from wordrnn.text.tokenizer import MAX_TOKEN_CHARS, Tokenizer

runner = CliRunner()
TINY = ["--units", "8", "--embedding", "4", "--batch-size", "4", "--window", "5", "--epochs", "1", "-q", "--seed", "1",
        "--no-export", "--max-vocab", "200"]
# Needs 64 x 50 tokens: random inputs never get that far, so they exercise reading and tokenizing only.
NEVER_TRAINS = ["--batch-size", "64", "--window", "50", "-q", "--no-export"]
FILE_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def train(path: Path, out: Path, *args: str):
    return runner.invoke(app, ["train", str(path), "-o", str(out), *args])


def reference_lines(text: str) -> list[str]:
    """What the reader should produce: leading BOMs dropped, \\r\\n and \\r unified, one entry per line."""
    text = text.lstrip("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


# --- properties ---------------------------------------------------------------------------------

@given(data=st.binary(max_size=300), chunk=st.integers(1, 9))
@FILE_SETTINGS
def test_any_bytes_are_read_or_refused_cleanly(tmp_path_factory, monkeypatch, data, chunk):
    path = tmp_path_factory.mktemp("bytes") / "any.txt"
    path.write_bytes(data)
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", chunk)
    try:
        lines = list(corpus_module.iter_lines([path]))
    except CorpusError as exc:
        message = str(exc)
        assert str(path) in message and "\n" not in message
        if "NUL byte" in message:
            assert f"NUL byte at byte {data.index(0)}" in message
        else:
            with pytest.raises(UnicodeDecodeError) as full:
                data.decode("utf-8")
            assert f"at byte {full.value.start};" in message, (message, full.value)
        return
    assert lines == reference_lines(data.decode("utf-8"))


@given(text=st.text(max_size=200), chunk=st.integers(1, 9),
       newline=st.sampled_from(["\n", "\r\n", "\r"]), bom=st.booleans())
@example(text="\ufeff", chunk=1, newline="\n", bom=True)  # two BOMs read a byte at a time: both dropped
@FILE_SETTINGS
def test_any_text_round_trips_through_the_reader(tmp_path_factory, monkeypatch, text, chunk, newline, bom):
    text = text.replace("\x00", "")
    path = tmp_path_factory.mktemp("text") / "any.txt"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.replace("\n", newline).encode("utf-8", "surrogatepass"))
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", chunk)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates are not UTF-8: they must be refused, not crash
        with pytest.raises(CorpusError, match="not valid utf-8"):
            list(corpus_module.iter_lines([path]))
        return
    assert list(corpus_module.iter_lines([path])) == reference_lines(text.replace("\n", newline))


TOKENIZERS = [Tokenizer(), Tokenizer(TokenizerConfig(lowercase=True, pretokenized=True, eos="paragraph"))]


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_tokenizer_never_fails_and_yields_sane_tokens(text):
    for tokenizer in TOKENIZERS:
        tokens = tokenizer.tokenize(text)
        for token in tokens:
            assert token and len(token) <= MAX_TOKEN_CHARS
            assert not any(c.isspace() or c in "\x00\u202e\u202d\u2066\u2067\u2068\u2069\ufeff" for c in token), token
        context, prefix = tokenizer.split_context(text)
        assert isinstance(prefix, str) and len(context) <= len(tokens)
        tokenizer.detokenize(tokens)


@given(st.binary(max_size=400))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_cli_train_on_random_bytes_never_crashes(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("cli")
    path = directory / "random.txt"
    path.write_bytes(data)
    result = train(path, directory / "out", *NEVER_TRAINS)
    assert_clean_error(result)
    assert not (directory / "out").exists()


# --- float options: NaN, infinity and huge values ----------------------------------------------------

def _float_options() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(command path, flags) of every option of every command that takes a float: read from the app
    itself, so an option added later is covered without editing a list."""
    import typer

    def walk(command, path=()):  # noqa: ANN001
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))
        if not hasattr(command, "commands"):
            yield path, command

    return [(path, tuple(param.opts)) for path, command in walk(typer.main.get_command(app))
            for param in command.params if getattr(param.type, "name", "") == "float"]


FLOAT_OPTIONS = _float_options()
# After its options are read, each command stops with a clean error of its own (a missing file or
# model, too few points), so an accepted value is checked without training or serving anything.
FAILS_LATER = {("train",): ["/nonexistent/corpus.txt"], ("train-series",): ["/nonexistent/series.csv"],
               ("sine",): ["--points", "2"], ("generate",): ["-m", "/nonexistent"], ("repl",): ["-m", "/nonexistent"],
               ("serve",): ["-m", "/nonexistent", "--port", "0"]}
NOT_FINITE = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "-1e999"]


def test_every_float_option_is_covered():
    assert len(FLOAT_OPTIONS) >= 19 and {path for path, _ in FLOAT_OPTIONS} <= set(FAILS_LATER)


@pytest.mark.parametrize("path, flags", FLOAT_OPTIONS, ids=[f"{p[-1]} {f[0]}" for p, f in FLOAT_OPTIONS])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_float_options_refuse_nan_and_infinity(path, flags, value):
    result = runner.invoke(app, [*path, f"{flags[0]}={value}", *FAILS_LATER[path]])
    assert_clean_error(result, flags[0], "finite")


@given(st.sampled_from(FLOAT_OPTIONS),
       st.one_of(st.sampled_from([*NOT_FINITE, "1e308", "-1e308", "1.7976931348623157e308", "5e-324", "-0.0"]),
                 st.floats().map(repr)))
@settings(max_examples=60, deadline=None)
def test_any_float_option_value_is_refused_or_accepted_cleanly(option, value):
    """NaN, infinities and values near the float limits: a clean one-line error, never a crash."""
    path, flags = option
    typed = [flag for flag in flags if flag.startswith("--")][-1]  # --lr rather than --learning-rate
    result = runner.invoke(app, [*path, f"{typed}={value}", *FAILS_LATER[path]])
    assert_clean_error(result)
    if not math.isfinite(float(value)):
        assert "finite" in result.stderr and any(flag in result.stderr for flag in flags), result.stderr


# --- series files: any CSV is read, scaled and forecast from, or refused with one line -------------------

_CELLS = st.one_of(
    st.floats().map(repr), st.integers(-10**400, 10**400).map(str),
    st.sampled_from(["", " ", "nan", "-inf", "Infinity", "1e999", "1e308", "-1.7976931348623157e308", "1e150",
                     "-1e151", "5e-324", "0x10", "1_000", "١٢", '"7"', "x", "\x00", "\ufeff1"]),
    st.text(max_size=6),
)
_SERIES_FILES = st.lists(st.lists(_CELLS, min_size=1, max_size=3).map(",".join), max_size=25)


def _series_file(directory: Path, header: bool, rows: list[str], newline: str) -> Path:
    path = directory / "series.csv"
    path.write_bytes(newline.join((["v,w,x"] if header else []) + rows).encode("utf-8", "surrogatepass"))
    return path


@given(rows=_SERIES_FILES, header=st.booleans(), newline=st.sampled_from(["\n", "\r\n", "\n\n"]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_series_file_is_read_and_scaled_or_refused_cleanly(tmp_path_factory, rows, header, newline):
    from wordrnn.errors import SeriesError
    from wordrnn.text.series import MAX_MAGNITUDE, Scaler, read_csv

    path = _series_file(tmp_path_factory.mktemp("series"), header, rows, newline)
    try:
        series = read_csv(path, ["v"] if header else ["1"])
    except SeriesError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc) and len(str(exc)) < 1000
        return
    assert np.isfinite(series.values).all() and np.abs(series.values).max() <= MAX_MAGNITUDE
    scaler = Scaler.fit(series.values)
    assert np.isfinite(scaler.transform(series.values)).all()
    assert Scaler.from_json(json.loads(json.dumps(scaler.to_json())), 1) == scaler


@pytest.fixture(scope="module")
def series_model(tmp_path_factory) -> Path:
    from wordrnn.config import ModelConfig, TrainConfig
    from wordrnn.train.jobs import train_series

    directory = tmp_path_factory.mktemp("series-model")
    (directory / "v.csv").write_text("v\n" + "\n".join(f"{math.sin(i / 3):.4f}" for i in range(40)) + "\n")
    train_series(directory / "v.csv", directory / "model", model_config=ModelConfig(input_kind="series", units=4),
                 train_config=TrainConfig(epochs=1, batch_size=2, window=8, valid_fraction=0.0, lr_patience=0))
    return directory / "model"


@given(rows=_SERIES_FILES, newline=st.sampled_from(["\n", "\r\n"]))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_forecast_from_any_series_file_prints_json_or_refuses_cleanly(tmp_path_factory, series_model, rows, newline):
    path = _series_file(tmp_path_factory.mktemp("input"), True, rows, newline)
    result = runner.invoke(app, ["forecast", str(series_model), "--input", str(path), "-n", "3", "--json",
                                 "--runtime", "keras"])
    if result.exit_code != 0:
        assert_clean_error(result)
        return
    forecast = json.loads(result.stdout, parse_constant=lambda constant: pytest.fail(f"{constant} in JSON"))
    assert len(forecast["forecast"]) == 3 and all(math.isfinite(row["v"]) for row in forecast["forecast"])


# --- explicit cases through `wordrnn train` -----------------------------------------------------------

def _corpus(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "data, needles",
    [
        (bytes(random.Random(0).randrange(256) for _ in range(65536)), ["random.txt"]),
        (make_text(50).encode() + b"\x00\x01 more words\n", ["binary", "NUL byte at byte"]),
        (make_text(50).encode() + b"caf\xe9\n", ["not valid utf-8 at byte", "--encoding"]),
        ("hello world\n".encode("utf-16"), ["binary"]),
        (b"\xef\xbb\xbf", ["no words"]),
        (b"\r\n\r\r\n \t \x0b\x0c\n", ["no words"]),
        ("\u202e\u200b\u2066\ufeff\u202c\n".encode(), ["no words"]),
    ],
)
def test_unusable_files_are_refused(tmp_path, data, needles):
    path = _corpus(tmp_path, "random.txt", data)
    assert_clean_error(train(path, tmp_path / "out", *TINY), *needles)
    assert not (tmp_path / "out").exists()


def test_invalid_utf8_deep_in_a_big_file_names_the_exact_byte(tmp_path):
    head = (make_text(40_000).encode() * 2)[: 3 * corpus_module.CHUNK_BYTES // 2]
    path = _corpus(tmp_path, "late.txt", head + b"\xc3\x28 tail\n")
    assert_clean_error(train(path, tmp_path / "out", *TINY), f"at byte {len(head)}")


def test_other_encodings_and_special_files(tmp_path):
    text = make_text(100)
    path = _corpus(tmp_path, "u16.txt", text.encode("utf-16"))
    assert sum(count_words([path], Tokenizer(), "utf-16").values()) > 500
    assert_clean_error(train(path, tmp_path / "o", *TINY, "--encoding", "no-such-codec"), "unknown encoding")
    assert_clean_error(train(Path("/dev/zero"), tmp_path / "o", *TINY), "not a regular file")
    assert_clean_error(train(tmp_path / "nope.txt", tmp_path / "o", *TINY), "no such file")


def _vocabulary(out: Path) -> list[str]:
    info = json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)
    assert info["vocab_size"] > 2
    from wordrnn.store.saved import SavedModel

    return list(SavedModel.load(out).vocab.words)


def test_mixed_line_endings_rtl_scripts_emoji_and_long_words_are_trained_on(tmp_path):
    """One messy file: every line ending, Arabic, Hebrew, Hindi, emoji, bidi controls, a 1 MB word."""
    lines = [
        "مرحبا بالعالم الجميل",
        "שָׁלוֹם עולם יפה",
        "नमस्ते दुनिया सुंदर",
        "great job 👍 well done 🎉 👍🏽 🇫🇷 👨\u200d👩\u200d👧",
        "می\u200cخواهم بروم خانه",
        "evil \u202etxt.exe\u202c name",
        "the cat sees the dog",
    ]
    endings = ["\n", "\r\n", "\r"]
    body = "".join(line + endings[i % 3] for i, line in enumerate(lines * 40))
    long_word = "x" * 1_000_000
    path = _corpus(tmp_path, "messy.txt", body.encode() + long_word.encode() + b"\r\n" + body.encode())
    sentences = list(corpus_module.iter_lines([path]))
    assert all(len(s) <= corpus_module.MAX_PIECE_CHARS for s in sentences)
    assert sum(len(s) for s in sentences if s and set(s) == {"x"}) == len(long_word)  # cut, never lost
    assert sum(1 for s in sentences if s and set(s) != {"x"}) == 2 * len(lines) * 40
    out = tmp_path / "out"
    result = train(path, out, *TINY)
    assert result.exit_code == 0, result.output
    words = _vocabulary(out)
    for expected in ("مرحبا", "שָׁלוֹם", "नमस्ते", "👍", "🎉", "exe", "👍🏽", "🇫🇷", "👨\u200d👩\u200d👧", "می\u200cخواهم"):
        assert expected in words, expected  # whole words with their marks, whole emoji sequences
    assert not {"🏽", "🇫", "می"} & set(words)
    assert all(len(w) <= MAX_TOKEN_CHARS for w in words)
    assert not any("\u202e" in w or "\r" in w for w in words)


def test_big_file_without_a_line_break_trains(tmp_path):
    """Megabytes on one line are streamed and cut into pieces; training starts without delay."""
    rng = random.Random(1)
    words = [make_text(1, seed=i).split()[0] for i in range(30)] + ["apple", "river", "house"]
    path = tmp_path / "one-line.txt"
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(40):
            handle.write(" ".join(rng.choice(words) for _ in range(25_000)) + " ")
    out = tmp_path / "out"
    result = train(path, out, *TINY, "--max-steps", "3", "--valid-fraction", "0")
    assert result.exit_code == 0, result.output
    assert "apple" in _vocabulary(out)


_MEASURE = textwrap.dedent(
    """
    import json, random, resource, sys
    from pathlib import Path

    path, size = Path(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 9))) for _ in range(150)]
    block = (" ".join(rng.choice(words) for _ in range(100_000)) + " ").encode()
    with open(path, "wb") as handle:  # one line, no line break anywhere
        while handle.tell() < size:
            handle.write(block)
    del block
    from wordrnn.text.encode import count_words, encode_corpus
    from wordrnn.text.tokenizer import Tokenizer
    from wordrnn.text.vocab import Vocabulary

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    before = peak()
    counts = count_words([path], Tokenizer())
    counted = peak()
    ids = encode_corpus([path], Tokenizer(), Vocabulary.build(counts, 200))
    print(json.dumps({"size": path.stat().st_size, "count_growth": counted - before,
                      "encode_growth": peak() - before, "ids_bytes": ids.nbytes, "tokens": len(ids)}))
    """
)


def measure_reading(tmp_path: Path, size: int) -> dict:
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(tmp_path / "big.txt"), str(size)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_bounded(figures: dict) -> None:
    mb = 2**20
    # Holding the line (or its token list) would cost several times the file size.
    assert figures["count_growth"] < 64 * mb, figures
    assert figures["encode_growth"] < 3 * figures["ids_bytes"] + 64 * mb, figures
    assert figures["tokens"] > figures["size"] / 10


def test_reading_a_24_mb_line_keeps_memory_bounded(tmp_path):
    _assert_bounded(measure_reading(tmp_path, 24 * 2**20))


@pytest.mark.slow
def test_reading_a_200_mb_line_keeps_memory_bounded(tmp_path):
    _assert_bounded(measure_reading(tmp_path, 200 * 2**20))


@pytest.mark.parametrize(
    "text, words",
    [
        ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"]),  # vowel signs are marks, not separators
        ("مُحَمَّد رسول", ["مُحَمَّد", "رسول"]),
        ("שָׁלוֹם עולם", ["שָׁלוֹם", "עולם"]),
        ("می\u200cخواهم بروم", ["می\u200cخواهم", "بروم"]),  # the Persian zero-width non-joiner stays inside
        ("ok 👍🏽 🇫🇷🇩🇪 👨\u200d👩\u200d👧!", ["ok", "👍🏽", "🇫🇷", "🇩🇪", "👨\u200d👩\u200d👧", "!"]),
        ("a \u200d b\u200c \u200cc", ["a", "b", "c"]),  # stray joiners are dropped, never words
        ("file\u202egnp.exe", ["file", "gnp", ".", "exe"]),  # bidi overrides removed
    ],
)
def test_scripts_and_emoji_tokenize_as_whole_words(text, words):
    assert Tokenizer().words(text) == words
    pretokenized = Tokenizer(TokenizerConfig(pretokenized=True)).words(text)
    assert pretokenized and all(w.strip("\u200c\u200d") == w for w in pretokenized)


# --- the interactive prompt -----------------------------------------------------------------------

_KEYS = st.one_of(
    # no pause, quit or commands, and no lone surrogates (no terminal can send one: they are not UTF-8)
    st.text(st.characters(blacklist_characters="\x1f\x04:", blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(["\t", "\r", "\x03", "\x00", "\x1b", "\x1b[A", "\x1b[1;5C", "\x1b[999~", "\x1bOP", "\x1b5",
                     "\x1b[200~paste\n\x00\x1b[201~", "\x7f", "\x1a", "\x11", "\x1b[<0;3;4M", "😀\u202e\u200d",
                     "\x1d", "\x1b\x1d", "\x1b[31m", "\x1b[5;9m", "\x1b[;M"]),  # Ctrl-], colour escapes
)


@pytest.fixture(scope="module")
def predictor(tiny_model):
    import wordrnn

    return wordrnn.load(tiny_model, "keras")


@pytest.mark.filterwarnings("ignore::wordrnn.errors.WordRNNWarning")  # random words are unknown words
@given(st.lists(_KEYS, max_size=12))
@example(["0\x1d"])  # Ctrl-] took the Ctrl-C after it as the character to search for
@example(["abc \x1b[31m"])  # prompt_toolkit read it as a mouse report and failed
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_keys_never_crash_the_repl(predictor, keys):
    """Any keys (control characters, half escape sequences, pastes with NUL) and the REPL goes on."""
    run = drive(predictor, "".join(keys) + "\x03the " + PROBE)  # Ctrl-C clears whatever was left
    text, shown = run.bars[-1]
    assert text == "the " and 0 < len(shown.words) <= 3
