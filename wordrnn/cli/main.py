"""The ``wordrnn`` entry point: imports every command module so each registers itself on ``app``.

The app itself lives in ``cli.app``, which the command modules import; keeping the registration
here is what keeps the imports one-way (no command module imports this one).
"""

from __future__ import annotations

import os
import sys

from wordrnn.cli import evaluate, export, lexicon, predict, prepare, repl, serve, series, train  # noqa: F401 - registration
from wordrnn.cli.app import app, quiet_tensorflow


def main() -> None:
    from wordrnn.nn.tfimport import own_temporary_files

    quiet_tensorflow()
    own_temporary_files()
    try:
        app(prog_name="wordrnn")
    except BrokenPipeError:
        # The reader of our output closed it (`wordrnn generate -n 100000 | head`): stop quietly, as
        # Unix tools do, and keep Python from complaining again while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a tool killed by the closed pipe


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
