"""The ``wordrnn`` entry point: imports the command modules, each of which registers its commands on ``app``.

The app itself lives in ``cli.app``, which the command modules import; keeping the registration
here is what keeps the imports one-way (no command module imports this one).

A run imports only the module of the command it calls (``wordrnn complete`` needs neither the
training nor the server code, and Typer then builds one command's options instead of sixteen):
a cold ``complete`` is mostly start-up, so this is a fifth of it. Anything else (``--help``,
``--version``, a misspelt command) gets every command, as does ``app`` imported from here.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from typing import Any

from wordrnn.cli.app import app as _app, quiet_tensorflow

# Command -> the module of ``wordrnn.cli`` that defines it; the modules in the order their commands
# are listed by ``--help``. A test checks this table against what the modules register.
COMMAND_MODULES = {
    "evaluate": "evaluate", "interpolate": "evaluate", "baseline": "evaluate", "export": "export",
    "lexicon": "lexicon", "complete": "predict", "generate": "predict", "prepare": "prepare", "repl": "repl",
    "serve": "serve", "sine": "series", "train-series": "series", "forecast": "series", "train": "train",
    "info": "train",
}


def registered(command: str | None = None) -> Any:
    """The Typer app with ``command``'s module imported (registered), or every module when it is None
    or not a known command."""
    modules = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else dict.fromkeys(COMMAND_MODULES.values())
    for module in modules:
        importlib.import_module(f"wordrnn.cli.{module}")
    return _app


def called_command(argv: list[str]) -> str | None:
    """The command a command line calls: its first argument when that is not an option."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def __getattr__(name: str) -> Any:  # ``from wordrnn.cli.main import app``: the app with every command
    if name == "app":
        return registered()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    from wordrnn.nn.tfimport import own_temporary_files

    quiet_tensorflow()
    own_temporary_files()
    command = called_command(sys.argv[1:])
    if command != "complete":
        gc.enable()  # paused by ``cli.entry`` for start-up; only a one-shot ``complete`` goes without
    app = registered(command)
    try:
        app(prog_name="wordrnn")
    except BrokenPipeError:
        # The reader of our output closed it (`wordrnn generate -n 100000 | head`): stop quietly, as
        # Unix tools do, and keep Python from complaining again while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a tool killed by the closed pipe
    except SystemExit as done:
        if command == "complete" and done.code in (0, None):
            end_without_teardown()
        raise


def end_without_teardown() -> None:
    """End a successful one-shot ``complete`` at once, its answer flushed, without Python's teardown.

    Tearing the interpreter down (every module, the LiteRT interpreter and its packed XNNPACK
    weights, NumPy's arrays) costs about 18 ms, a tenth of a cold ``complete``, for nothing: the
    command writes no file and holds nothing that needs closing. A run that imported TensorFlow
    (the Keras fallback) returns instead, so its clean-up at exit (the private temporary
    directory) still runs; so does one whose output cannot be flushed, for the usual error.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        return
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
