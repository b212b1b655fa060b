"""The command line: a thin Typer layer over the library.

This is the only place that prints or exits. Library errors (``WordRNNError``)
become one line on stderr and a non-zero exit code; TensorFlow is imported only
by commands that need it, inside their bodies.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from wordrnn import __version__
from wordrnn.errors import Option, WordRNNError, WordRNNWarning, render

# emoji=False: text people type or paths they give (":smile:") are shown as they are, never as emoji
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


# The library names options by their keyword arguments (``wordrnn.errors.option``); the CLI shows
# the flag that sets each: the name with dashes (``min_count`` -> ``--min-count``), except these.
FLAGS = {
    "k": "-k",
    "n_words": "-n",
    "beam_width": "--beam",
    "prime_steps": "--prime",
    "input_path": "--input",
    "columns": "--column",
    "cache_path": "--cache",
    "weight": "--adapt-weight",
    "out_dir": "-o",
    "until_loss": "--until-mse",
}
# An option given a value that a flag of its own stands for.
FLAG_VALUES = {("cache", None): "--no-adapt"}


def flag_spelling(opt: Option) -> str:
    """An option as a command-line user types it: ``--min-count``, ``--force``, ``--runtime keras``."""
    if opt.has_value and (opt.name, opt.value) in FLAG_VALUES:
        return FLAG_VALUES[opt.name, opt.value]
    flag = FLAGS.get(opt.name, "--" + opt.name.replace("_", "-"))
    if opt.metavar is not None:
        return f"{flag} {opt.metavar}"
    if opt.value is True:
        return flag
    if opt.value is False:
        return "--no-" + flag.lstrip("-")
    return f"{flag} {opt.value}" if opt.has_value else flag


def cli_text(message: str | BaseException) -> str:
    """A library message (or error, or warning) with the options it names spelled as flags."""
    if isinstance(message, (WordRNNError, WordRNNWarning)):
        message = message.marked
    return render(str(message), flag_spelling)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 and C1 controls but tab and line break


def printable(text: str) -> str:
    """``text`` with its control characters shown as escapes (``\\x1b``), for a terminal.

    A vocabulary word learned from a hostile corpus (``w\\x1b[2J``) must not clear the screen, move
    the cursor or ring the bell when ``complete``, ``generate`` or the REPL prints it. Tabs and line
    breaks are the output's own and stay; JSON escapes control characters by itself.
    """
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def fail(message: str, code: int = 1) -> None:
    """Print one error line and exit (also used by commands for their own checks)."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


# Typer's own exit/usage exceptions must pass through untouched (Typer >= 0.29 vendors Click,
# older releases use Click itself, so the classes are found through Typer's public names).
_PASS_THROUGH = tuple(
    {typer.Exit, typer.Abort, *(c for c in typer.BadParameter.__mro__ if c.__name__ in ("ClickException", "Exit"))}
)


class _Group(TyperGroup):
    """Turns domain errors, Ctrl-C and unexpected failures into one line and an exit code."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # keep the order commands were defined in

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except WordRNNError as exc:
            fail(cli_text(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
            try:  # and keep Python from failing again while it flushes standard output at exit
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            raise typer.Exit(141) from None  # 128 + SIGPIPE, what a shell reports for a tool the pipe ended
        except MemoryError:
            fail("out of memory; use a smaller model, vocabulary or batch")
        except _PASS_THROUGH:
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("WORDRNN_DEBUG"):
                raise
            fail(f"internal error: {type(exc).__name__}: {exc} (set WORDRNN_DEBUG=1 for details and report it)")


app = typer.Typer(
    cls=_Group,
    help="Next-word prediction with stateful recurrent neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain Click help and usage errors: Rich's help formatter imports Markdown and tracebacks (+40 ms)
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        out.print(f"wordrnn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Next-word prediction with stateful recurrent neural networks."""


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter off the user's terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


# Shared by the command modules.
MODEL_HELP = "Model directory (default: $WORDRNN_MODEL, then the bundled model)."
RUNTIME_HELP = "Step runner: auto (fastest available), keras (TensorFlow) or litert (the exported step)."


@contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Show library warnings (unknown words...) as one ``warning:`` line each, as they happen."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # third-party chatter stays off the terminal
        warnings.simplefilter("always", WordRNNWarning)

        def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
            err.print(f"[yellow]warning:[/] {escape(cli_text(message))}", markup=True, highlight=False)

        warnings.showwarning = show
        yield
