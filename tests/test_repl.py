"""The interactive prompt driven through prompt_toolkit's pipe input and a dummy output.

Keys are sent up front and processed in order; the test's own key, Ctrl-T (``PROBE``), records
what the bar shows at that point of the typing, so every check sees the state mid-line.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from dataclasses import dataclass, field

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prompt_toolkit.application.current import get_app
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.output import DummyOutput

import wordrnn
from wordrnn.keyboard.adapt import AdaptationCache
from wordrnn.keyboard.keyboard import Keyboard, Suggestions
from wordrnn.cli.repl import run_lines
from wordrnn.errors import WordRNNWarning
from wordrnn.keyboard.commands import Commands, Reply, percent
from wordrnn.cli.prompt import Repl, insertion

PROBE = "\x14"  # Ctrl-T
PAUSE = "\x1f"  # not a key: ``drive`` waits there, so work the app does in the background can finish
TAB, ENTER, CTRL_C, CTRL_D, CTRL_SPACE, UP = "\t", "\r", "\x03", "\x04", "\x00", "\x1b[A"
ALT = {n: f"\x1b{n}" for n in range(1, 10)}
F = {1: "\x1bOP", 2: "\x1bOQ", 3: "\x1bOR", 4: "\x1bOS", 5: "\x1b[15~"}


@dataclass
class Run:
    commands: Commands
    bars: list[tuple[str, Suggestions]] = field(default_factory=list)
    toolbars: list[str] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    @property
    def keyboard(self) -> Keyboard:
        return self.commands.keyboard


def drive(predictor, keys: str, cache: AdaptationCache | None = None, k: int = 3, on_probe=None) -> Run:  # noqa: ANN001
    """Run the REPL on ``keys`` (Ctrl-D is appended); ``on_probe`` also runs at each probe."""
    import threading
    import time

    run = Run(Commands(Keyboard(predictor, cache), k))
    probe = KeyBindings()
    repl: Repl

    @probe.add("c-t")
    def _record(event) -> None:  # noqa: ANN001
        run.bars.append((event.current_buffer.document.text_before_cursor, repl.suggestions()))
        run.toolbars.append("".join(text for _, text in repl.toolbar()))
        if on_probe is not None:
            on_probe(event)

    def timeout(*_) -> None:  # noqa: ANN002
        raise TimeoutError("the REPL did not finish its keys")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(60)
    try:
        with create_pipe_input() as pipe:
            repl = Repl(run.commands, input=pipe, output=DummyOutput(), echo=run.replies.append, extra_bindings=probe)
            chunks = (keys + CTRL_D).split(PAUSE)
            pipe.send_text(chunks[0])

            def send_rest() -> None:
                for chunk in chunks[1:]:
                    time.sleep(1.0)
                    pipe.send_text(chunk)

            sender = threading.Thread(target=send_rest, daemon=True)
            sender.start()
            repl.run()
            sender.join()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return run


@pytest.fixture(scope="module")
def predictor(tiny_model):
    return wordrnn.load(tiny_model, "keras")


def test_typing_shows_the_predictors_suggestions_at_every_probe(predictor):
    run = drive(predictor, f"{PROBE}the c{PROBE}at {PROBE}sees the gr{PROBE}")
    assert [text for text, _ in run.bars] == ["", "the c", "the cat ", "the cat sees the gr"]
    for text, shown in run.bars:
        assert shown.words == predictor.suggest(text, 3, complete_known_words=True)
        assert shown.prefix == predictor.complete(text).prefix
    word, p = run.bars[1][1].words[0]
    assert run.toolbars[1].startswith(f" 1  {word} {percent(p)}")


def test_tab_alt_and_function_keys_insert_the_chosen_word_and_a_space(predictor):
    run = drive(predictor, f"the c{TAB}{PROBE}{ALT[2]}{PROBE}{F[3]}{PROBE}{ALT[4]}{F[5]}{PROBE}{ENTER}:k 5{ENTER}the {F[5]}{PROBE}")
    first = predictor.suggest("the c", 1, complete_known_words=True)[0][0]
    second = predictor.suggest(f"the {first} ", 3, complete_known_words=True)[1][0]
    third = predictor.suggest(f"the {first} {second} ", 3, complete_known_words=True)[2][0]
    texts = [text for text, _ in run.bars]
    assert texts[:3] == [f"the {first} ", f"the {first} {second} ", f"the {first} {second} {third} "]
    assert texts[3] == texts[2]  # only words on the bar (3 of them) can be picked
    fifth = predictor.suggest(f"{texts[2]}\nthe ", 5, complete_known_words=True)[4][0]
    assert texts[4] == f"the {fifth} "


def test_enter_feeds_the_state_and_the_context_continues_across_lines(predictor):
    first, second = "the cat sees the ball.", "a bird wants"
    run = drive(predictor, f"{first}{ENTER}{PROBE}{second}{ENTER}she li{PROBE}kes {PROBE}", cache=None)
    expected = [f"{first}\n", f"{first}\n{second}\nshe li", f"{first}\n{second}\nshe likes "]
    assert [shown.words for _, shown in run.bars] == [predictor.suggest(text, 3, complete_known_words=True) for text in expected]
    assert run.keyboard.lines == [first, second]
    fed = predictor.session(f"{first}\n{second}\n")  # the context: both lines, in the state it carries on
    assert run.keyboard.context.probabilities() == pytest.approx(fed.probabilities(), abs=1e-6)


def test_commands_k_temp_generate_reset(predictor):
    cache = AdaptationCache(predictor.vocab)
    keys = (f"the dog sees{ENTER}:k 5{ENTER}{PROBE}:temp 0.5{ENTER}:generate 7{ENTER}{PROBE}"
            f":reset{ENTER}{PROBE}:help{ENTER}:quit{ENTER}never typed{ENTER}")
    run = drive(predictor, keys, cache=cache)
    k5, after_generate, after_reset = (shown for _, shown in run.bars)
    assert len(k5.words) == 5 and len(cache) == 0  # (the cache had learned "the dog sees" until :reset)
    assert after_generate.words == k5.words  # generating does not change the context
    assert after_reset.words == predictor.suggest("", 5, complete_known_words=True) and len(cache) == 0
    assert run.commands.temperature == 0.5 and run.commands.k == 5
    kinds = [(reply.kind, reply.text.split()[0] if reply.text else "") for reply in run.replies]
    assert kinds[0] == ("info", "showing") and kinds[1] == ("info", "temperature")
    assert run.replies[2].kind == "text" and run.replies[2].text.strip()
    assert "Alt+1..9" in run.replies[4].text and run.replies[-1].quit
    assert run.keyboard.lines == []  # reset emptied them; nothing after :quit was read


@pytest.mark.parametrize("line, needle", [
    (":k zero", "not a whole number"), (":k 0", "1 or more"), (":k", "different arguments"),
    (":temp -1", ":temp must be a number above 0, got -1"), (":temp nan", ":temp must be a number above 0, got nan"),
    (":generate -1", ":generate N must be 1 or more, got -1"), (":generate 5000", "at most"), (":nope", "unknown command"),
    (":save", "different arguments"), (":save-cache", "give a file"), (':k "5', "quotation"),
])
def test_bad_commands_answer_with_an_error_and_the_repl_goes_on(predictor, line, needle):
    from wordrnn.cli.app import cli_text

    run = drive(predictor, f"{line}{ENTER}the {PROBE}", cache=AdaptationCache(predictor.vocab))
    assert run.replies[0].kind == "error" and needle in run.replies[0].text
    if line.startswith((":temp", ":generate", ":k")):  # a command's own argument, never a command-line flag
        assert "--" not in cli_text(run.replies[0].message)
    assert run.bars[0][1].words == predictor.suggest("the ", 3, complete_known_words=True)


def test_ctrl_c_clears_the_line_and_ctrl_d_quits(predictor):
    run = drive(predictor, f"the cat sees{CTRL_C}{PROBE}{CTRL_C}{PROBE}a bird{CTRL_D}more text{ENTER}")
    assert run.bars[0][0] == "" and run.bars[0][1].words == predictor.suggest("", 3, complete_known_words=True)
    assert "Ctrl-D" in run.toolbars[1]  # Ctrl-C on an empty line says how to leave
    assert run.keyboard.lines == []  # Ctrl-D left without committing, later keys unread


def test_odd_keys_escape_sequences_and_resizes_do_not_crash(predictor):
    def resize(event) -> None:  # noqa: ANN001
        os.kill(os.getpid(), signal.SIGWINCH)
        get_app()._on_resize()

    odd = ("\x1b", "\x1b[1;5A", "\x1b[24~", "\x1b[999~", "\x1b[<0;3;4M", "\x1b[M !!", "\x1bOZ", "\x1a", "\x11",
           "\x7f" * 3, "\x1b[200~pasted\nlines\x00 with NUL\x1b[201~", "\x1b\x1b\x1b", "é€😀\u202e", "x" * 5000)
    keys = "".join(f"{key}{PROBE}" for key in odd)
    run = drive(predictor, f"{keys}{CTRL_C}the c{TAB}{PROBE}{ENTER}{PROBE}", on_probe=resize)
    assert len(run.bars) == len(odd) + 2
    first = predictor.suggest("the c", 1, complete_known_words=True)[0][0]
    assert run.bars[-2][0] == f"the {first} "
    assert run.keyboard.lines == [f"the {first} "]
    assert run.bars[-1][1].words == predictor.suggest(f"the {first} \n", 3, complete_known_words=True)


@pytest.mark.parametrize("keys", [
    "abc \x1b[31m",  # a colour escape typed or pasted: prompt_toolkit reads it as a malformed mouse report
    "\x1b[5;9m\x1b[;M\x1b[12M",
    "0\x1d",  # Ctrl-] (search for the next key typed) would swallow the Ctrl-C that follows
    "\x1b\x1d",  # Alt-Ctrl-], the same backwards
])
def test_escape_sequences_and_character_search_keys_are_ignored(predictor, keys):
    run = drive(predictor, f"{keys}{PROBE}{CTRL_C}the {PROBE}")
    assert run.bars[0][0] in (keys.split("\x1b")[0], "0")  # what was typed before the sequence, if anything
    assert run.bars[-1][0] == "the " and 0 < len(run.bars[-1][1].words) <= 3


def test_words_with_control_characters_are_shown_escaped_on_the_bar(tmp_path):
    from conftest import make_untrained

    model = make_untrained(tmp_path / "m", words=[f"w{i}\x1b[2J" if i % 2 else f"w{i}\x07" for i in range(12)])
    run = drive(wordrnn.load(model, "keras"), f"w{PROBE}")
    assert "\x1b" not in run.toolbars[0] and "\x07" not in run.toolbars[0] and "\\x1b[2J" in run.toolbars[0]
    assert all("\x1b" in word or "\x07" in word for word, _ in run.bars[0][1].words)  # escaped only when shown


def test_the_completion_menu_inserts_the_selected_word(predictor):
    run = drive(predictor, f"the c{CTRL_SPACE}{PAUSE}{TAB}{ENTER}{PROBE}")
    first = predictor.suggest("the c", 1, complete_known_words=True)[0][0]
    assert run.bars[0][0] == f"the {first} " and run.keyboard.lines == []


def test_up_recalls_earlier_lines_and_history_stays_in_memory(predictor):
    run = drive(predictor, f"the dog{ENTER}a bird{ENTER}{PAUSE}{UP}{UP}{PROBE}")  # history loads in the background
    assert run.bars[0][0] == "the dog"


def test_the_bar_is_cut_to_the_terminal_width(predictor):
    run = drive(predictor, f":k 9{ENTER}{PROBE}")
    assert 0 < len(run.toolbars[0]) <= DummyOutput().get_size().columns
    assert run.toolbars[0].startswith(" 1 ")


def test_typing_a_line_a_few_times_raises_its_words_on_the_bar(predictor):
    cache = AdaptationCache(predictor.vocab, weight=0.3)
    line = "the old man follows the river every day."
    run = drive(predictor, f"the old man follows the {PROBE}" + f"{CTRL_C}{line}{ENTER}" * 4
                + f"the old man follows the {PROBE}", cache=cache, k=20)
    before, after = (dict(shown.words).get("river", 0.0) for _, shown in run.bars)
    assert after > before


@pytest.mark.parametrize("before, prefix, word, expected", [
    ("the ca", "ca", "cat", (2, "cat ")),
    ("the cat ", "", ",", (1, ", ")),
    ("the cat  ", "", ".", (2, ". ")),
    ("hello,", "", "world", (0, " world ")),
    ("(", "", "note", (0, "note ")),
    ("", "", "the", (0, "the ")),
])
def test_insertion(before, prefix, word, expected):
    assert insertion(before, prefix, word) == expected


def test_percent():
    assert [percent(p) for p in (0.5, 0.1, 0.0994, 0.012, 0.0004)] == ["50%", "10%", "9.9%", "1.2%", "<0.1%"]


def test_run_lines_prints_one_result_per_line(predictor):
    printed: list[str] = []
    commands = Commands(Keyboard(predictor), 2)
    run_lines(commands, ["the cat \n", ":k 3\n", "she li\n", "\n", ":generate 3\n", ":bogus\n"], printed.append)
    assert len(printed) == 6
    assert printed[0] == "  ".join(f"{w} {percent(p)}" for w, p in predictor.suggest("the cat ", 2, complete_known_words=True))
    assert printed[2] == "  ".join(f"{w} {percent(p)}" for w, p in predictor.suggest("the cat \nshe li", 3, complete_known_words=True))
    assert printed[5].startswith("error: unknown command")
    as_json: list[str] = []
    run_lines(Commands(Keyboard(predictor), 2), ["the cat \n", ":k 1\n", ":quit\n", "unread\n"], as_json.append, True)
    data = [json.loads(line) for line in as_json]
    assert list(data[0]) == ["line", "prefix", "suggestions"] and data[0]["line"] == "the cat "
    assert [s["word"] for s in data[0]["suggestions"]] == [w for w, _ in predictor.suggest("the cat ", 2, complete_known_words=True)]
    assert data[1] == {"command": "k", "reply": "showing 1 suggestion", "error": False} and len(data) == 3


def test_save_save_cache_and_forget_write_private_files_only_when_asked(predictor, tmp_path):
    text_file, cache_file, foreign = tmp_path / "session.txt", tmp_path / "cache.json", tmp_path / "mine.txt"
    foreign.write_text("keep me")
    cache = AdaptationCache(predictor.vocab)
    keys = (f"the dog sees the river{ENTER}:save {text_file}{ENTER}a bird{ENTER}:save {text_file}{ENTER}"
            f":save {foreign}{ENTER}:save-cache {cache_file}{ENTER}")
    run = drive(predictor, keys, cache=cache)
    assert [r.kind for r in run.replies] == ["info", "info", "error", "info"]
    assert text_file.read_text() == "the dog sees the river\na bird\n" and foreign.read_text() == "keep me"
    for path in (text_file, cache_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "river" in json.loads(cache_file.read_text())["words"]
    assert run.commands.cache_path == cache_file and run.commands.finish().startswith("cache saved")
    forget = drive(predictor, f":forget{ENTER}", cache=cache)
    assert "deleted" not in forget.replies[0].text  # this run was given no cache file
    forget.commands.cache_path = cache_file
    assert forget.commands.run(":forget").text.startswith("cache emptied and") and not cache_file.exists()
    assert len(cache) == 0
    off = drive(predictor, f":forget{ENTER}:save-cache {cache_file}{ENTER}")
    assert [r.kind for r in off.replies] == ["error", "error"] and not cache_file.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt", "session.txt"]


KEYS = st.sampled_from(["a", "th", " ", "e", ".", ",", TAB, ALT[1], ALT[3], F[2], CTRL_C, CTRL_SPACE, UP, "\x1b[B",
                        "\x1b", "\x1b[D", "\x1b[C", "\x7f", "\x08", "\x17", "\x15", "\x1a", "\x1b[24~", "\x1b[1;5A",
                        ENTER, f":k 2{ENTER}", f":generate 2{ENTER}", f":reset{ENTER}", f":temp x{ENTER}", "é😀\u202e",
                        "\x1b[200~pasted\nlines\x1b[201~"])


@settings(max_examples=20, deadline=None)
@given(keys=st.lists(KEYS, max_size=25))
def test_random_key_sequences_never_crash_and_the_context_stays_exact(predictor, keys):
    run = drive(predictor, "".join(keys) + f"{CTRL_C}the {PROBE}")
    assert len(run.bars) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WordRNNWarning)
        expected = predictor.suggest(run.keyboard.text() + "the ", run.commands.k, complete_known_words=True)
    assert run.bars[0][1].words == expected


def test_save_cache_never_overwrites_and_forget_never_deletes_a_file_that_is_not_a_cache(predictor, tmp_path):
    """Issue 18 item 3: ``:save-cache FILE`` replaced any file (``:save`` refuses) and ``:forget`` then deleted it."""
    notes, cache_file = tmp_path / "notes.txt", tmp_path / "cache.json"
    notes.write_text("my notes\n")
    commands = Commands(Keyboard(predictor, AdaptationCache(predictor.vocab)))
    commands.keyboard.commit("the dog sees the river")
    reply = commands.run(f":save-cache {notes}")
    assert reply.kind == "error" and "not a wordrnn adaptation cache" in reply.text, reply.text
    assert notes.read_text() == "my notes\n" and commands.cache_path is None
    os.mkfifo(tmp_path / "fifo")
    assert commands.run(f":save-cache {tmp_path / 'fifo'}").kind == "error"  # refused without reading (no hang)
    assert commands.run(f":save-cache {cache_file}").kind == "info"
    assert commands.run(f":save-cache {cache_file}").kind == "info"  # a cache may be replaced by a cache
    commands.cache_path = notes  # e.g. a file that became something else since the session started
    reply = commands.run(":forget")
    assert reply.kind == "error" and "not deleted" in reply.text and notes.read_text() == "my notes\n", reply.text
    commands.cache_path = cache_file
    assert commands.run(":forget").text.startswith("cache emptied and") and not cache_file.exists()
