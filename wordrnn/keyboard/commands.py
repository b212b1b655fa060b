"""The REPL's ``:`` commands (``:k``, ``:generate``, ``:save``...), apart from any terminal UI.

Shared by the interactive prompt (``repl.Repl``) and ``cli_repl.run_lines``, the mode used when
standard input is not a terminal, so the line mode never imports prompt_toolkit. A command answers
with a ``Reply`` instead of printing, and a bad argument is an error reply, never an exception that
would end the session.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from wordrnn.durable import write_durable
from wordrnn.errors import ConfigError, WordRNNError, in_library_terms, option
from wordrnn.keyboard.cachefile import is_cache_file
from wordrnn.keyboard.keyboard import Keyboard
from wordrnn.predict.sampling import check_k, check_options

MAX_GENERATE = 1000
_COMMAND = re.compile(r"^\s*:([a-z][a-z-]*)\b(.*)$")

HELP = """\
Type: the bar shows the next words (or completions of the word being typed) with their probabilities.
  Tab              accept the first suggestion      Alt+1..9 / F1..F9  accept the n-th
  Ctrl-Space       completion menu                  Enter              commit the line (the context continues)
  Up/Down          earlier lines                    Ctrl-C             clear the line      Ctrl-D  quit
Commands:
  :k N             show N suggestions               :generate [N]      continue the text with N sampled words
  :temp T          sampling temperature (:generate) :reset             forget the context and the cache
  :save FILE       write the session's text         :save-cache [FILE] keep what was learned (JSON, mode 0600)
  :forget          empty the cache and delete its file                 :quit              leave"""


def percent(p: float) -> str:
    """A probability as a short percentage for the bar."""
    if p >= 0.0995:
        return f"{p:.0%}"
    return f"{p:.1%}" if p >= 0.001 else "<0.1%"


@dataclass(frozen=True)
class Reply:
    """What a command answers: a message (style ``info``, ``error`` or ``text``), whether to quit, the command.

    The message may name options (``wordrnn.errors.option``, e.g. the cache file a session was
    started with): ``text`` spells them as keyword arguments, the CLI's REPL as its flags.
    """

    message: str
    kind: str = "info"
    quit: bool = False
    command: str = ""

    @property
    def text(self) -> str:
        """The message in library terms."""
        return in_library_terms(self.message)


class Commands:
    """The ``:`` commands and the settings they change, shared by the prompt and the line mode.

    Args:
        keyboard: the typing session.
        k: suggestions shown; temperature: for ``:generate``.
        cache_path: where the adaptation cache is kept, or None.
    """

    def __init__(self, keyboard: Keyboard, k: int = 3, temperature: float = 1.0, cache_path: Path | None = None) -> None:
        self.keyboard = keyboard
        self.k = check_k(k)
        check_options(temperature)
        self.temperature = float(temperature)
        self.cache_path = cache_path
        self._saved: set[Path] = set()

    def run(self, line: str) -> Reply | None:
        """The reply to a command line, or None when ``line`` is text to commit."""
        match = _COMMAND.match(line)
        if not match:
            return None
        return dataclasses.replace(self._run(match.group(1), match.group(2).strip()), command=match.group(1))

    def _run(self, name: str, rest: str) -> Reply:
        handler = getattr(self, f"_cmd_{name.replace('-', '_')}", None)
        if handler is None:
            return Reply(f"unknown command :{name}; :help lists the commands", "error")
        try:
            args = shlex.split(rest)
        except ValueError as exc:
            return Reply(f":{name}: {exc}", "error")
        try:
            inspect.signature(handler).bind(*args)
        except TypeError:
            return Reply(f":{name} takes different arguments; :help shows how to use it", "error")
        try:
            return handler(*args)
        except WordRNNError as exc:
            return Reply(exc.marked, "error")  # its options still to be spelled by whoever shows it

    def finish(self) -> str | None:
        """Save the cache when it is kept in a file; returns what was done (for a message)."""
        cache = self.keyboard.cache
        if cache is None or self.cache_path is None:
            return None
        cache.save(self.cache_path)
        return f"cache saved to {self.cache_path} ({len(cache)} words)"

    def _cmd_help(self) -> Reply:
        return Reply(HELP)

    def _cmd_quit(self) -> Reply:
        return Reply("bye", quit=True)

    _cmd_q = _cmd_exit = _cmd_quit

    def _cmd_k(self, n: str) -> Reply:
        self.k = check_k(_number(n, int, ":k N"), ":k")
        return Reply(f"showing {self.k} suggestion{'s' if self.k > 1 else ''}")

    def _cmd_temp(self, t: str) -> Reply:
        value = _number(t, float, ":temp T")
        if not (math.isfinite(value) and value > 0):  # said as the command typed, not as the --temperature flag
            raise ConfigError(f":temp must be a number above 0, got {t} (below 1 safer, above 1 wilder)")
        self.temperature = value
        return Reply(f"temperature {value:g} for :generate")

    def _cmd_generate(self, n: str = "20") -> Reply:
        count = _number(n, int, ":generate N")
        if count < 1:
            raise ConfigError(f":generate N must be 1 or more, got {n}")
        if count > MAX_GENERATE:
            raise ConfigError(f":generate takes at most {MAX_GENERATE} words, got {count}")
        words = self.keyboard.context.iter_generate(count, self.temperature)
        return Reply(self.keyboard.predictor.detokenize(list(words)), "text")

    def _cmd_reset(self) -> Reply:
        self.keyboard.reset()
        self.keyboard.forget()
        return Reply("context and cache cleared (a cache file is kept until :forget)")

    def _cmd_forget(self) -> Reply:
        if self.keyboard.cache is None:
            return Reply(f"adaptation is off ({option('cache', None)}): there is nothing to forget", "error")
        self.keyboard.forget()
        if self.cache_path is not None and self.cache_path.exists():
            if not is_cache_file(self.cache_path):  # only a file wordrnn wrote as a cache is ours to delete
                return Reply(f"cache emptied; {self.cache_path} is not a wordrnn adaptation cache, so it was "
                             "not deleted", "error")
            try:
                self.cache_path.unlink()
            except OSError as exc:
                return Reply(f"cache emptied, but {self.cache_path} could not be deleted: {exc.strerror}", "error")
            return Reply(f"cache emptied and {self.cache_path} deleted (what you type next is saved there at exit)")
        return Reply("cache emptied")

    def _cmd_save_cache(self, file: str | None = None) -> Reply:
        if self.keyboard.cache is None:
            return Reply(f"adaptation is off ({option('cache', None)}): there is no cache to save", "error")
        if file is None and self.cache_path is None:
            return Reply(f"give a file: :save-cache FILE (or start with {option('cache_path', metavar='FILE')})", "error")
        if file is not None:
            path = Path(file).expanduser()
            if os.path.lexists(path) and not is_cache_file(path):  # a typo must not replace someone's notes
                return Reply(f"{path} exists and is not a wordrnn adaptation cache; give a new file name "
                             "(:save-cache replaces only a cache)", "error")
            self.cache_path = path
        self.keyboard.cache.save(self.cache_path)
        return Reply(f"saved {len(self.keyboard.cache)} words to {self.cache_path} (saved again when you quit)")

    def _cmd_save(self, file: str) -> Reply:
        path = Path(file).expanduser()
        if path.exists() and path.resolve() not in self._saved:
            return Reply(f"{path} exists; give a new file name (:save only replaces files it wrote itself)", "error")
        try:
            write_durable(path, self.keyboard.text().encode("utf-8"), private=True)
        except OSError as exc:
            return Reply(f"cannot write {path}: {exc.strerror or exc}", "error")
        self._saved.add(path.resolve())
        return Reply(f"saved {len(self.keyboard.lines)} lines to {path}")


def _number(text: str, kind: type, usage: str) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{usage}: {text!r} is not a {'whole ' if kind is int else ''}number") from None
