"""``wordrnn repl``: interactive suggestions on a terminal, one result per line from a pipe.

Options are checked (and a ``--cache`` file read) before the model loads, so mistakes fail in
milliseconds. Nothing here imports TensorFlow: a model with a LiteRT export runs without it.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TextIO

import typer
from rich.markup import escape

from wordrnn.cli.app import MODEL_HELP, RUNTIME_HELP, cli_text, printable, warnings_to_stderr
from wordrnn.json_output import json_text
from wordrnn.cli.app import app, err, out
from wordrnn.cli.options import finite
from wordrnn.errors import ConfigError, WordRNNWarning

if TYPE_CHECKING:
    from wordrnn.keyboard.commands import Commands

DEFAULT_WEIGHT = 0.2  # adapt.DEFAULT_WEIGHT (not imported: `wordrnn --help` stays light; a test keeps them equal)
MAX_LINE_CHARS = 65536  # longer piped lines are cut (a 200 MB line must not be held or fed whole)


def _lines(stream: TextIO) -> Iterator[str]:
    """Lines of a text stream, undecodable bytes replaced, each cut to ``MAX_LINE_CHARS``."""
    if hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="replace")
    while True:
        line = stream.readline(MAX_LINE_CHARS)
        if not line:
            return
        if len(line) == MAX_LINE_CHARS and not line.endswith("\n"):
            while (rest := stream.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                pass
            warnings.warn(f"a line longer than {MAX_LINE_CHARS:,} characters was cut to its first {MAX_LINE_CHARS:,}",
                          WordRNNWarning)
        yield line


def run_lines(commands: Commands, lines: Iterable[str], write: Callable[[str], None], as_json: bool = False,
              on_unknown: Callable[[tuple[str, ...]], None] | None = None) -> None:
    """The line mode: for each line, print what the bar would show at its end, then commit it.

    As in ``wordrnn complete``, a line ending on a vocabulary word ("the next") asks for the next
    word; one ending inside a word ("the nex") for its completions.

    One output line per input line: ``word 12%  word 3.1%`` or, with ``as_json``,
    ``{"line", "prefix", "suggestions": [{"word", "prob"}]}``; a command prints its reply
    (``{"command", "reply", "error"}`` in JSON).
    """
    from wordrnn.keyboard.commands import percent
    from wordrnn.predict.ranking import ends_on_finished_word

    keyboard = commands.keyboard
    for raw in lines:
        line = raw.rstrip("\r\n")
        reply = commands.run(line)
        if reply is not None:
            shown = cli_text(reply.message)
            text = shown.replace("\n", " ")
            write(json_text({"command": reply.command, "reply": shown, "error": reply.kind == "error"})
                  if as_json else f"error: {text}" if reply.kind == "error" else text)
            if reply.quit:
                return
            continue
        result = keyboard.suggest(line, commands.k)
        if ends_on_finished_word(keyboard.predictor.vocab, result.prefix, result.words):
            result = keyboard.suggest(line + " ", commands.k)  # a finished word, as `complete` reads it
        if result.unknown and on_unknown is not None:
            on_unknown(result.unknown)
        if as_json:
            write(json_text({"line": line, "prefix": result.prefix,
                             "suggestions": [{"word": w, "prob": float(f"{p:.6g}")} for w, p in result.words]}))
        else:
            write("  ".join(f"{w} {percent(p)}" for w, p in result.words))
        keyboard.commit(line)


def file_history(path: Path) -> Any:
    """prompt_toolkit's ``FileHistory`` on a file only its owner can read (created or tightened to 0600)."""
    from prompt_toolkit.history import FileHistory

    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        os.chmod(path, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot use --history {path}: {exc.strerror or exc}") from None
    return FileHistory(str(path))


def _write(text: str) -> None:
    out.file.write(printable(text) + "\n")
    out.file.flush()


@app.command()
def repl(
    model: Optional[Path] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    k: int = typer.Option(3, "-k", "--k", help="Number of suggestions on the bar."),
    adapt_weight: float = typer.Option(DEFAULT_WEIGHT, "--adapt-weight",
                                       callback=finite, help="Share of the session cache (your words and word pairs) in the "
                                            "suggestions, above 0 and below 1."),
    no_adapt: bool = typer.Option(False, "--no-adapt", help="Do not learn from what you type."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Keep what was learned in this file between sessions "
                                         "(JSON, mode 0600). Default: nothing you type is written to disk."),
    history: Optional[Path] = typer.Option(None, "--history", help="Keep the input history in this file (mode 0600). "
                                           "Default: in memory only."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", callback=finite, help="Sampling temperature of :generate (above 0)."),
    runtime: str = typer.Option("auto", "--runtime", help=RUNTIME_HELP),
    as_json: bool = typer.Option(False, "--json", help="Line mode with one JSON object per input line "
                                 '({"line", "prefix", "suggestions"}).'),
) -> None:
    """Type with live next-word suggestions that adapt to you (Tab accepts; :help lists the keys).

    From a pipe (standard input not a terminal): one line of suggestions per input line.
    """
    from wordrnn.keyboard.adapt import AdaptationCache, read_cache_file
    from wordrnn.keyboard.keyboard import Keyboard
    from wordrnn.predict.predictor import load
    from wordrnn.keyboard.commands import Commands

    weight = _check_options(k, temperature, adapt_weight, no_adapt, cache, history)
    cached = read_cache_file(cache) if cache is not None else None  # a damaged file fails before the model loads
    interactive = not as_json and sys.stdin.isatty() and sys.stdout.isatty()
    with warnings_to_stderr():
        predictor = load(model, runtime)
    adaptation = None
    if weight is not None:
        adaptation = (AdaptationCache.from_json(cached, predictor.vocab, weight, source=str(cache)) if cached is not None
                      else AdaptationCache(predictor.vocab, weight))
    commands = Commands(Keyboard(predictor, adaptation), k, temperature, cache)
    if interactive:
        _interactive(commands, predictor, weight, cache, history)
    else:
        _line_mode(commands, as_json)


def _check_options(k: int, temperature: float, adapt_weight: float, no_adapt: bool, cache: Path | None,
                   history: Path | None) -> float | None:
    """Refuse bad options before the model loads (so mistakes fail in milliseconds); returns the
    adaptation weight, or None without adaptation."""
    from wordrnn.keyboard.adapt import check_weight
    from wordrnn.predict.sampling import check_k, check_options

    check_k(k)
    check_options(temperature)
    if no_adapt and cache is not None:
        raise ConfigError("--cache keeps what the adaptation learns; drop --no-adapt or --cache")
    weight = None if no_adapt else check_weight(adapt_weight)
    for option, path in (("--cache", cache), ("--history", history)):
        if path is not None and not path.parent.is_dir():
            raise ConfigError(f"{option} {path}: the directory {path.parent} does not exist")
        if path is not None and path.is_dir():
            raise ConfigError(f"{option} {path} is a directory; give a file")
    return weight


def _interactive(commands: Commands, predictor: Any, weight: float | None, cache: Path | None,
                 history: Path | None) -> None:
    """The terminal session: a header saying what is kept and learned, the prompt_toolkit REPL,
    then what ``finish`` reports (e.g. the cache it saved)."""
    kept = [f"cache {cache}" if cache else "", f"history {history}" if history else ""]
    saved = ", ".join(p for p in kept if p) or "nothing you type is written to disk"
    learning = f"adapting to you (weight {weight:g})" if weight is not None else "not adapting (--no-adapt)"
    out.print(f"[bold]wordrnn repl[/] · {escape(str(predictor.path))} ({predictor.runtime}, "
              f"{len(predictor.vocab):,} words) · {learning} · {escape(saved)}\n"
              "[dim]Tab accepts · Alt+1..9 or F1..F9 pick · Enter commits · :help · Ctrl-D quits[/]")
    from wordrnn.cli.prompt import Repl  # prompt_toolkit only for a terminal

    Repl(commands, file_history(history) if history is not None else None).run()
    done = commands.finish()
    if done:
        err.print(f"[dim]{escape(done)}[/]")


def _line_mode(commands: Commands, as_json: bool) -> None:
    """Standard input is not a terminal: one line of suggestions per input line, until the input
    ends or the reader goes away."""
    with warnings_to_stderr():
        try:
            from wordrnn.predict.session import warn_unknown

            run_lines(commands, _lines(sys.stdin), _write, as_json, on_unknown=warn_unknown)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, without a flush error at exit
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):
                pass
        finally:
            commands.finish()
