"""``wordrnn repl`` from the command line: the line mode, options, cache files, privacy, a real terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error
from wordrnn.keyboard import adapt
from wordrnn.cli import repl as cli_repl
from wordrnn.cli.main import app
from wordrnn.keyboard.commands import percent

runner = CliRunner()
KERAS = ["--runtime", "keras"]
WORDRNN = [sys.executable, "-c", "from wordrnn.cli.main import main; main()"]


def run(*args: str, input: str | bytes | None = None):  # noqa: A002
    return runner.invoke(app, ["repl", *args], input=input)


def bar(suggestions) -> str:  # noqa: ANN001
    return "  ".join(f"{w} {percent(p)}" for w, p in suggestions)


@pytest.fixture(scope="module")
def predictor(tiny_model):
    import wordrnn

    return wordrnn.load(tiny_model, "keras")


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory) -> Path:
    """The tiny model with a LiteRT export: the repl runs it without TensorFlow."""
    from wordrnn.runtime.export import export_model

    directory = tmp_path_factory.mktemp("exported") / "tiny"
    shutil.copytree(tiny_model, directory, ignore=shutil.ignore_patterns("*.lock"))
    export_model(directory)
    return directory


@pytest.mark.filterwarnings("ignore::wordrnn.errors.WordRNNWarning")  # the predictor's, for "li"
def test_piped_lines_get_one_result_line_each_and_the_context_continues(tiny_model, predictor):
    result = run("--model", str(tiny_model), "--no-adapt", *KERAS, input="the cat \nshe li\n\n:k 2\nthe\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == [bar(predictor.suggest("the cat ", 3)), bar(predictor.suggest("the cat \nshe li", 3)),
                     bar(predictor.suggest("the cat \nshe li\n\n", 3)), "showing 2 suggestions",
                     bar(predictor.suggest("the cat \nshe li\n\nthe", 2))]  # "the" is finished: next words
    assert result.stderr == ""


def test_json_lines(tiny_model, predictor):
    result = run("--model", str(tiny_model), "--json", "-k", "4", *KERAS, input="the dog \n:temp 0.7\n:quit\nunread\n")
    assert result.exit_code == 0, result.output
    data = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(data) == 3
    assert data[0]["line"] == "the dog " and data[0]["prefix"] == ""
    assert [s["word"] for s in data[0]["suggestions"]] == [w for w, _ in predictor.suggest("the dog ", 4, complete_known_words=True)]
    assert data[1]["command"] == "temp" and data[2]["reply"] == "bye"


def test_unknown_words_warn_once_per_line(tiny_model):
    result = run("--model", str(tiny_model), *KERAS, input="the zorblax sees the qux \nthe cat \n")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "zorblax" in warnings[0] and "qux" in warnings[0]


def test_hostile_input_is_handled(tiny_model, monkeypatch):
    data = b"the \xff\xfe cat \x00\x1b[31m \r\nshe \xe2\x80\xae likes\rthe " + "😀 é".encode() + b"\n" + b"a" * 50 + b"\n"
    result = run("--model", str(tiny_model), *KERAS, input=data)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 4  # a lone \r ends a line too (mixed line endings)
    monkeypatch.setattr(cli_repl, "MAX_LINE_CHARS", 16)
    result = run("--model", str(tiny_model), *KERAS, input="the cat sees the ball every day\nthe \n")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2
    assert "was cut" in result.stderr


@pytest.mark.parametrize("args, needle", [
    (["-k", "0"], "-k"),
    (["--adapt-weight", "1.5"], "--adapt-weight"),
    (["--adapt-weight", "0"], "--adapt-weight"),
    (["--no-adapt", "--cache", "c.json"], "--no-adapt"),
    (["--temperature", "0"], "--temperature"),
    (["--cache", "no/such/dir/c.json"], "does not exist"),
    (["--history", "."], "is a directory"),
    (["--runtime", "fast"], "--runtime"),
])
def test_bad_options_fail_cleanly(tiny_model, args, needle):
    assert_clean_error(run("--model", str(tiny_model), *args, input="the\n"), needle)


def test_missing_model_and_damaged_cache_fail_cleanly(tiny_model, tmp_path):
    assert_clean_error(run("--model", str(tmp_path / "none"), input="the\n"))
    damaged = tmp_path / "cache.json"
    damaged.write_text('{"format": "something else"}')
    assert_clean_error(run("--model", str(tiny_model), "--cache", str(damaged), input="the\n"), "adaptation cache")


def test_cache_file_keeps_the_adaptation_between_sessions(tiny_model, tmp_path):
    cache = tmp_path / "cache.json"
    probe = "the old man wants the "

    def river(*extra: str) -> float:
        result = run("--model", str(tiny_model), "--json", "-k", "30", *KERAS, *extra, input=probe + "\n")
        assert result.exit_code == 0, result.output
        return {s["word"]: s["prob"] for s in json.loads(result.stdout)["suggestions"]}.get("river", 0.0)

    before = river("--cache", str(cache))
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    taught = run("--model", str(tiny_model), "--cache", str(cache), *KERAS,
                 input="the old man wants the river\n" * 4)
    assert taught.exit_code == 0
    assert json.loads(cache.read_text())["words"]["river"] > 3
    assert river("--cache", str(cache)) > before
    assert river() < river("--cache", str(cache))  # without --cache nothing is remembered
    forget = run("--model", str(tiny_model), "--cache", str(cache), *KERAS, input=":forget\n")
    assert forget.exit_code == 0 and "deleted" in forget.stdout
    assert json.loads(cache.read_text())["words"] == {}  # re-saved empty at exit: what was typed since


def test_default_weight_matches_the_library():
    assert cli_repl.DEFAULT_WEIGHT == adapt.DEFAULT_WEIGHT


def private_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "WORDRNN_"))}
    dirs = {"HOME": home, "XDG_CONFIG_HOME": home / ".config", "XDG_DATA_HOME": home / ".local/share",
            "XDG_CACHE_HOME": home / ".cache", "XDG_STATE_HOME": home / ".local/state", "TMPDIR": home / "tmp"}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return {**env, **{k: str(v) for k, v in dirs.items()}, "TF_CPP_MIN_LOG_LEVEL": "2"}


def files_under(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_piped_from_a_shell_without_tensorflow_and_without_writing_files(exported, tmp_path):
    home = tmp_path / "home"
    env = private_env(home)
    check = ("import sys\nfrom wordrnn.cli.main import main\ntry:\n    main()\nfinally:\n"
             "    print('tensorflow' in sys.modules, 'prompt_toolkit' in sys.modules, file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", check, "repl", "--model", str(exported)], input="the next\n",
                            capture_output=True, text=True, env=env, cwd=home, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr.splitlines()[-1] == "False False"  # LiteRT ran without TensorFlow; no terminal UI loaded
    assert files_under(home) == []
    asked = subprocess.run([*WORDRNN, "repl", "--model", str(exported), "--cache", "c.json", "--history", "h.txt"],
                           input="the cat\n", capture_output=True, text=True, env=env, cwd=home, timeout=120)
    assert asked.returncode == 0, asked.stderr
    assert files_under(home) == ["c.json"]  # piped lines have no input history to keep
    assert stat.S_IMODE((home / "c.json").stat().st_mode) == 0o600


def interact(command: list[str], keys: list[str], env: dict[str, str], cwd: Path, timeout: float = 90) -> tuple[int, str]:
    """Run ``command`` on a pseudo-terminal, typing each of ``keys`` once the screen has settled."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        os.execvpe(command[0], command, env)
    screen, deadline = b"", time.monotonic() + timeout
    pending = list(keys)

    def read(seconds: float) -> bool:
        nonlocal screen
        ready, _, _ = select.select([fd], [], [], seconds)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return False
            if not chunk:
                return False
            screen += chunk
            if b"\x1b[6n" in chunk:  # answer the cursor position request as a terminal would
                os.write(fd, b"\x1b[1;1R")
        return True

    try:
        while time.monotonic() < deadline and b"Ctrl-D quits" not in screen:
            if not read(0.5):
                break
        while time.monotonic() < deadline:
            if not read(0.7 if pending else 5):
                break
            if pending and not select.select([fd], [], [], 0.7)[0]:
                os.write(fd, pending.pop(0).encode())
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    return os.waitstatus_to_exitcode(status), screen.decode("utf-8", "replace")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminal test written for Linux")
def test_interactive_on_a_real_terminal_writes_nothing(exported, tmp_path):
    home = tmp_path / "home"
    env = {**private_env(home), "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "20"}
    code, screen = interact([*WORDRNN, "repl", "--model", str(exported)],
                            ["the c", "\t", "\x1b[1;5A", "\x03", "she ", "\r", ":k 4\r", "\x04"], env, home)
    assert code == 0, screen
    assert "showing 4 suggestions" in screen and " 1 " in screen and "%" in screen
    assert files_under(home) == []
    code, screen = interact([*WORDRNN, "repl", "--model", str(exported), "--history", "h.txt", "--cache", "c.json"],
                            ["the cat", "\r", "\x04"], env, home)
    assert code == 0, screen
    assert files_under(home) == ["c.json", "h.txt"] and "the cat" in (home / "h.txt").read_text()
    assert all(stat.S_IMODE((home / name).stat().st_mode) == 0o600 for name in ("c.json", "h.txt"))


def test_a_fifo_or_device_as_cache_fails_cleanly_without_blocking(tiny_model, tmp_path):
    """Issue 18 item 6: ``repl --cache FIFO`` hung reading it (and /dev/zero would be read forever)."""
    import signal

    def expired(*_: object) -> None:
        raise TimeoutError("repl --cache blocked on a FIFO")

    os.mkfifo(tmp_path / "fifo.json")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    try:
        for cache in (tmp_path / "fifo.json", "/dev/zero"):
            assert_clean_error(run("--model", str(tiny_model), "--cache", str(cache), input="the\n"),
                               "not a regular file")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
