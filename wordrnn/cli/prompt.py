"""``wordrnn repl``: a prompt with a live suggestion bar (prompt_toolkit).

The bar is a bottom toolbar recomputed from ``keyboard.Keyboard`` whenever the line changes (a
keystroke costs at most one model step, memoised for repeated renders). The ``:`` commands live in
``commands.py``, shared with ``cli_repl.run_lines``, the mode used when standard input is not a
terminal. Nothing typed is written to disk unless asked for: the input
history lives in memory without ``--history`` and the cache is saved only with ``--cache`` or
``:save-cache``; files written are readable by their owner only.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.application.current import get_app
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.filters import completion_is_selected, has_completions
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyBindingsBase, merge_key_bindings
from prompt_toolkit.keys import Keys
from prompt_toolkit.styles import Style

from wordrnn.cli.app import cli_text, printable
from wordrnn.keyboard.commands import Commands, Reply, percent
from wordrnn.keyboard.keyboard import Suggestions

MENU_SIZE = 10  # words in the completion menu (Ctrl-Space)
_ATTACHED = set(".,;:!?)]}%…")  # punctuation written against the word before it
_OPENING = set("([{\"'“‘")

STYLE = Style.from_dict({
    "bottom-toolbar": "noreverse bg:#262626 #bcbcbc",
    "bottom-toolbar.text": "",
    "bar.key": "bg:#005f87 #ffffff bold",
    "bar.word": "#ffffff bold",
    "bar.prob": "#87d75f",
    "bar.note": "#d7af5f italic",
    "prompt": "#5fafff bold",
    "reply": "#87afd7",
    "reply.error": "#ff5f5f bold",
    "reply.text": "#d7d7af",
})


def insertion(before: str, prefix: str, word: str) -> tuple[int, str]:
    """How accepting ``word`` edits the text before the cursor: (characters to delete, text to insert).

    The partial word is replaced by the word and a space; punctuation such as ``,`` is written
    against the word before it; a word after punctuation (``hello,``) gets a space first.
    """
    delete = min(len(prefix), len(before))
    stem = before[: len(before) - delete]
    if word and all(c in _ATTACHED for c in word):
        return delete + len(stem) - len(stem.rstrip(" ")), word + " "
    if stem and not prefix and not stem[-1].isspace() and stem[-1] not in _OPENING:
        return delete, " " + word + " "
    return delete, word + " "


def bar(result: Suggestions, width: int, notes: Sequence[str] = ()) -> FormattedText:
    """The suggestion bar: ``1 word 12%`` per suggestion as far as ``width`` allows, then the notes."""
    parts: list[tuple[str, str]] = []
    used = 0
    for n, (word, p) in enumerate(result.words, 1):
        piece = [("class:bar.key", f" {n} " if n <= 9 else " · "), ("class:bar.word", f" {printable(word)}"),
                 ("class:bar.prob", f" {percent(p)}  ")]
        size = sum(len(text) for _, text in piece)
        if parts and used + size > width:
            break
        parts += piece
        used += size
    parts += [("class:bar.note", f" {printable(note)} ") for note in notes]
    return FormattedText(parts)



class Repl:
    """The interactive prompt.

    Args:
        commands: the typing session and its settings.
        history: input history (default: in memory only).
        input, output: prompt_toolkit's (tests pass a pipe input and a ``DummyOutput``).
        echo: shows a reply (default: printed above the prompt).
        extra_bindings: more key bindings (tests use one to look at the bar mid-line).
    """

    def __init__(self, commands: Commands, history: History | None = None, input=None, output=None,  # noqa: ANN001
                 echo: Callable[[Reply], None] | None = None, extra_bindings: KeyBindingsBase | None = None) -> None:
        self.commands = commands
        self.keyboard = commands.keyboard
        self.output = output
        self.echo = echo or self._print
        self.notice = ""
        bindings = self._bindings()
        self.session: PromptSession = PromptSession(
            message=[("class:prompt", "» ")], bottom_toolbar=self.toolbar, completer=_Completer(self),
            complete_while_typing=False, key_bindings=merge_key_bindings([bindings, extra_bindings or KeyBindings()]),
            history=history or InMemoryHistory(), style=STYLE, include_default_pygments_style=False,
            input=input, output=output, reserve_space_for_menu=MENU_SIZE // 2)

    def run(self) -> None:
        """Prompt until Ctrl-D or ``:quit``; Ctrl-C while a command runs interrupts it."""
        self._busy = False
        try:
            previous = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread: leave Ctrl-C as it is
            previous = None
        try:
            self._loop()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _on_sigint(self, signum, frame) -> None:  # noqa: ANN001
        """A Ctrl-C that reaches us as a signal (the terminal is in cooked mode: a command runs, or
        the prompt is being set up) interrupts a running command and is ignored otherwise, so it can
        never land inside prompt_toolkit's event-loop set-up. At the prompt, Ctrl-C is a key."""
        if self._busy:
            raise KeyboardInterrupt

    def _loop(self) -> None:
        while True:
            try:
                line = self.session.prompt()
            except EOFError:
                return
            except KeyboardInterrupt:
                continue
            self.notice = ""
            self._busy = True
            try:
                reply = self.commands.run(line)
                if reply is None:
                    self.keyboard.commit(line)
                    continue
            except KeyboardInterrupt:
                reply = Reply("interrupted", "error")
            finally:
                self._busy = False
            self.echo(reply)
            if reply.quit:
                return

    def _print(self, reply: Reply) -> None:
        style = {"error": "class:reply.error", "text": "class:reply.text"}.get(reply.kind, "class:reply")
        print_formatted_text(FormattedText([(style, printable(cli_text(reply.message)))]), style=STYLE, output=self.output,
                             include_default_pygments_style=False)

    def suggestions(self, k: int | None = None) -> Suggestions:
        """What the bar shows for the text before the cursor."""
        before = get_app().current_buffer.document.text_before_cursor
        return self.keyboard.suggest(before, k or self.commands.k)

    def toolbar(self) -> FormattedText:
        """The suggestion bar for the line being typed (see ``bar``)."""
        result = self.suggestions()
        notes = [self.notice] if self.notice else []
        if not result.words and result.prefix:
            learns = self.keyboard.cache is not None
            notes.append(f"no word starts with “{result.prefix}”" + ("; Enter learns new words" if learns else ""))
        elif result.unknown:
            notes.append("new: " + ", ".join(result.unknown[-3:]))
        return bar(result, get_app().output.get_size().columns, notes)

    def accept(self, buffer: Buffer, index: int) -> None:
        """Replace the partial word by the ``index``-th suggestion on the bar and a space (none: no change)."""
        result = self.suggestions()
        if index >= len(result.words):
            return
        delete, text = insertion(buffer.document.text_before_cursor, result.prefix, result.words[index][0])
        buffer.delete_before_cursor(delete)
        buffer.insert_text(text)

    def _bindings(self) -> KeyBindings:
        kb = KeyBindings()

        @kb.add("tab", filter=~has_completions)
        def _first(event) -> None:  # noqa: ANN001
            self.accept(event.current_buffer, 0)

        def pick(index: int) -> Callable:
            return lambda event: self.accept(event.current_buffer, index)

        for n in range(1, 10):
            kb.add("escape", str(n))(pick(n - 1))
            kb.add(f"f{n}")(pick(n - 1))

        @kb.add("c-space")
        @kb.add("s-tab", filter=~has_completions)
        def _menu(event) -> None:  # noqa: ANN001
            event.current_buffer.start_completion(select_first=False)

        @kb.add("enter", filter=completion_is_selected)
        def _take(event) -> None:  # noqa: ANN001
            event.current_buffer.complete_state = None  # the selected word is already in the line

        @kb.add("c-c")
        def _clear(event) -> None:  # noqa: ANN001
            had_text = bool(event.current_buffer.text)
            event.current_buffer.reset()
            self.notice = "" if had_text else "Ctrl-D or :quit leaves"

        @kb.add("c-d")
        def _quit(event) -> None:  # noqa: ANN001
            event.app.exit(exception=EOFError)

        @kb.add("c-z")
        @kb.add("c-q")
        @kb.add("c-]", eager=True)
        @kb.add("escape", "c-]", eager=True)
        def _ignore(event) -> None:  # noqa: ANN001
            """Keys that would otherwise insert a raw control character into the line, or (Ctrl-],
            Alt-Ctrl-]: search for a character) take the next key, a Ctrl-C say, as their argument."""

        @kb.add(Keys.Vt100MouseEvent)
        def _no_mouse(event) -> None:  # noqa: ANN001
            """The prompt does not use the mouse; and text that only looks like a mouse report (a colour
            escape such as ``\x1b[31m``, typed or pasted) makes prompt_toolkit's own handler fail."""

        return kb


class _Completer(Completer):
    """The completion menu: the bar's words (more of them), with their percentages."""

    def __init__(self, repl: Repl) -> None:
        self.repl = repl

    def get_completions(self, document, complete_event):  # noqa: ANN001, ANN201
        before = document.text_before_cursor
        result = self.repl.keyboard.suggest(before, max(MENU_SIZE, self.repl.commands.k))
        for word, p in result.words:
            delete, text = insertion(before, result.prefix, word)
            yield Completion(text, start_position=-delete, display=printable(word), display_meta=percent(p))
