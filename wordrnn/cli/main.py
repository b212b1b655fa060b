"""The ``wordrnn`` entry point: imports every command module so each registers itself on ``app``.

The app itself lives in ``cli.app``, which the command modules import; keeping the registration
here is what keeps the imports one-way (no command module imports this one).
"""

from __future__ import annotations

import sys

from wordrnn.cli import evaluate, export, lexicon, predict, prepare, repl, series, train  # noqa: F401 - registration
from wordrnn.cli.app import app, quiet_tensorflow


def main() -> None:
    quiet_tensorflow()
    app(prog_name="wordrnn")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
