"""``wordrnn complete`` / ``wordrnn generate`` through Typer's CliRunner: output shapes and every bad input."""

from __future__ import annotations

import json
import shutil
import unicodedata

import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error, make_untrained
from wordrnn.cli.main import app
from wordrnn.cli.predict import LineStreamer
from wordrnn.text.tokenizer import Tokenizer

runner = CliRunner()
KERAS = ["--runtime", "keras"]  # no "no LiteRT export" warning, whatever the fixture model carries


def run(*args: str):
    return runner.invoke(app, list(args))


def warning_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def test_complete_json_has_exactly_the_documented_keys(tiny_model):
    result = run("complete", "she likes the ", "--model", str(tiny_model), "-k", "4", "--json", *KERAS)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["context", "prefix", "suggestions"]
    assert data["context"] == ["she", "likes", "the"] and data["prefix"] == ""
    assert len(data["suggestions"]) == 4
    assert all(list(s) == ["word", "prob"] for s in data["suggestions"])
    probs = [s["prob"] for s in data["suggestions"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    completed = json.loads(run("complete", "the cat sees the gr", "-m", str(tiny_model), "--json", *KERAS).stdout)
    assert completed["prefix"] == "gr" and all(s["word"].startswith("gr") for s in completed["suggestions"])
    assert result.stderr.strip() == ""


def test_complete_prints_a_table(tiny_model):
    result = run("complete", "the cat ", "-m", str(tiny_model), *KERAS)
    assert result.exit_code == 0, result.output
    assert "suggestion" in result.stdout and "%" in result.stdout


def test_unknown_or_empty_context_still_answers_with_one_warning(tiny_model):
    result = run("complete", "xyzzy plugh ", "-m", str(tiny_model), "--json", *KERAS)
    assert result.exit_code == 0 and len(json.loads(result.stdout)["suggestions"]) == 3
    lines = warning_lines(result)
    assert len(lines) == 1 and "xyzzy" in lines[0] and "plugh" in lines[0]
    empty = run("complete", "", "-m", str(tiny_model), "--json", *KERAS)
    assert empty.exit_code == 0 and len(json.loads(empty.stdout)["suggestions"]) == 3
    assert len(warning_lines(empty)) == 1 and "empty context" in empty.stderr


def test_generate_is_reproducible_and_detokenized(tiny_model):
    args = ["generate", "the dog", "-m", str(tiny_model), "-n", "30", *KERAS]
    first = run(*args, "--seed", "4")
    assert first.exit_code == 0, first.output
    assert first.stdout == run(*args, "--seed", "4").stdout
    assert first.stdout.startswith("the dog ")
    assert " ." not in first.stdout and " !" not in first.stdout  # punctuation attaches to the word before
    greedy = run(*args, "--greedy")
    assert greedy.stdout == run(*args, "--top-k", "1").stdout
    beam = run(*args, "--beam", "3", "--no-echo", "--stop-at-eos")
    assert beam.exit_code == 0, beam.output
    assert beam.stdout.count("\n") == 1 and not beam.stdout.startswith("the dog")
    sampled = run(*args, "--top-p", "0.9", "--temperature", "0.8", "--seed", "1", "--stop-at-eos")
    assert sampled.exit_code == 0 and sampled.stdout.count("\n") == 1


def test_line_streamer_holds_a_bounded_part_of_a_line_that_never_ends():
    """A model that never ends its sentence: streaming a million words must not keep (and re-join) them all."""
    tokenizer = Tokenizer()
    words = [w for _ in range(400) for w in ("the", "cat", ",", "sees", "(", "a", "dog", ")", "again", ".")]
    pieces: list[str] = []
    streamer = LineStreamer(tokenizer.detokenize, pieces.append)
    held = 0
    for word in words:
        streamer.add(word)
        held = max(held, len(streamer.line))
    assert "".join(pieces) == tokenizer.detokenize(words)
    assert held <= 64


def test_line_streamer_writes_what_detokenize_gives():
    tokenizer = Tokenizer()
    words = tokenizer.tokenize('he said " hello , world " ( twice ) ...\nthe cat can not stop !\n') + ["end"]
    pieces: list[str] = []
    streamer = LineStreamer(tokenizer.detokenize, pieces.append)
    for word in words:
        streamer.add(word)
    assert "".join(pieces) == tokenizer.detokenize(words)


@pytest.mark.parametrize(
    "args, needles",
    [
        (["complete", "the", "-k", "0"], ["-k"]),
        (["complete", "the", "-k", "-2"], ["-k"]),
        (["complete", "the", "--runtime", "gpu"], ["--runtime"]),
        (["generate", "the", "-n", "-1"], ["-n"]),
        (["generate", "the", "--temperature", "0"], ["--temperature"]),
        (["generate", "the", "--temperature", "-0.5"], ["--temperature"]),
        (["generate", "the", "--top-p", "0"], ["--top-p"]),
        (["generate", "the", "--top-p", "1.5"], ["--top-p"]),
        (["generate", "the", "--top-k", "0"], ["--top-k"]),
        (["generate", "the", "--beam", "0"], ["--beam"]),
        (["generate", "the", "--seed", "-1"], ["--seed"]),
        (["generate", "the", "--beam", "2", "--temperature", "0.5"], ["--beam"]),
        (["generate", "the", "--greedy", "--top-p", "0.5"], ["--greedy"]),
        (["generate", "the", "-n", "1000001"], ["-n", "at most 1,000,000"]),  # issue 18 item 9
        (["generate", "the", "-n", "1001", "--beam", "2"], ["-n", "--beam", "at most 1,000"]),
    ],
)
def test_bad_options(tiny_model, args, needles):
    assert_clean_error(run(*args, "-m", str(tiny_model)), *needles)


@pytest.fixture()
def broken(tmp_path, tiny_model):
    def make(kind: str):
        target = tmp_path / kind
        shutil.copytree(tiny_model, target)
        manifest_path = target / "wordrnn.json"
        manifest = json.loads(manifest_path.read_text())
        if kind == "json":
            manifest_path.write_text("{broken")
        elif kind == "weights":
            (target / manifest["files"]["weights"]).unlink()
        elif kind == "version":
            manifest["format_version"] = 99
            manifest_path.write_text(json.dumps(manifest))
        elif kind == "vocab":
            manifest["config"]["model"]["vocab_size"] += 3
            manifest_path.write_text(json.dumps(manifest))
        return target

    return make


@pytest.mark.parametrize(
    "kind, needles",
    [("json", ["not valid JSON"]), ("weights", ["missing"]), ("version", ["version"]), ("vocab", ["vocabulary"])],
)
def test_broken_model_directories(broken, kind, needles):
    path = broken(kind)
    for command in ("complete", "generate"):
        assert_clean_error(run(command, "the cat", "-m", str(path), *KERAS), *needles)


def test_missing_model(tmp_path, monkeypatch):
    assert_clean_error(run("complete", "the", "-m", str(tmp_path / "nope")), "no such model directory")
    monkeypatch.delenv("WORDRNN_MODEL", raising=False)
    monkeypatch.setattr("wordrnn.store.saved.bundled_model_path", lambda: None)
    assert_clean_error(run("complete", "the"), "wordrnn train", "--model")
    assert_clean_error(run("generate", "the"), "WORDRNN_MODEL")


def test_a_closed_output_pipe_ends_quietly(tiny_model):
    """`wordrnn generate -n 1000000 ... | head -1`: the first line arrives while the rest is generated, and
    the run ends as soon as the reader goes away, with no traceback or 'internal error' (issue 18 item 9)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "wordrnn", "generate", "the cat", "-n", "1000000", "--model", str(tiny_model),
               *KERAS]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            first = proc.stdout.readline()
            proc.stdout.close()  # the reader goes away
            stderr = proc.stderr.read().decode()
            proc.wait(timeout=120)
        finally:
            proc.kill()
    assert first.startswith(b"the cat") and first.endswith(b"\n")
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert proc.returncode in (0, 141)


def test_generated_lines_are_written_as_they_come_and_kept_on_ctrl_c(tiny_model, monkeypatch):
    """`generate -n 1000000 > file` then Ctrl-C: the lines generated so far are in the file (issue 18 item 9)."""
    from wordrnn.predict.session import Session

    def three_lines_then_ctrl_c(self, *args, **kwargs):  # noqa: ANN001
        yield from "the cat sees the ball . </s> a bird likes the river ! </s> she finds".split()
        raise KeyboardInterrupt

    monkeypatch.setattr(Session, "iter_generate", three_lines_then_ctrl_c)
    result = run("generate", "the dog", "-m", str(tiny_model), "-n", "1000000", *KERAS)
    assert result.exit_code == 130
    assert result.stdout == "the dog the cat sees the ball.\na bird likes the river!\nshe finds\n"


def test_generate_help_states_the_cap():
    assert "1,000,000" in run("generate", "--help").stdout


# --- issue 18 item 16: vocabulary words holding control characters -------------------------------------

CONTROLS = ["\x1b[2J", "\x07", "\x08", "\r", "\x9b", "\x00", "\x7f"]  # clear screen, bell, backspace, CSI...


def raw_controls(text: str) -> list[str]:
    """Control characters a terminal would act on (line breaks are the output's own)."""
    return [c for c in text if unicodedata.category(c) == "Cc" and c != "\n"]


@pytest.fixture(scope="module")
def control_model(tmp_path_factory):
    """A model whose every word carries a control character, as a hostile corpus could teach one."""
    words = [f"w{i}{CONTROLS[i % len(CONTROLS)]}" for i in range(21)]
    return make_untrained(tmp_path_factory.mktemp("control") / "m", words=words)


def test_words_with_control_characters_are_printed_escaped(control_model):
    complete = runner.invoke(app, ["complete", "w1", "-m", str(control_model), "-k", "21", *KERAS])
    assert complete.exit_code == 0, complete.output
    assert not raw_controls(complete.stdout) and "w14\\x1b[2J" in complete.stdout
    generated = runner.invoke(app, ["generate", "w0", "-m", str(control_model), "-n", "20", "--seed", "1", *KERAS])
    assert generated.exit_code == 0, generated.output
    assert not raw_controls(generated.stdout) and generated.stdout.count("\\x") >= 15
    lines = runner.invoke(app, ["repl", "-m", str(control_model), *KERAS], input="w1\nw0 w1 \n:generate 5\n")
    assert lines.exit_code == 0, lines.output
    assert not raw_controls(lines.stdout) and lines.stdout.count("\\x") >= 3 + 5
    as_json = runner.invoke(app, ["complete", "w1", "-m", str(control_model), "--json", *KERAS])
    assert [s["word"] for s in json.loads(as_json.stdout)["suggestions"]][0].startswith("w1")  # JSON: exact words
