"""The ``wordrnn`` console script: starts with Python's cyclic garbage collector paused.

Start-up (Typer, Rich, NumPy, the model's files) allocates a few hundred thousand objects and frees
almost none, so the collections that run meanwhile find nothing to free and cost several
milliseconds of a cold ``wordrnn complete`` (about 0.2 s in all). ``cli.main.main`` resumes the
collector as soon as it knows the command, for every command but ``complete``: one context, a
bounded amount of work, then the process ends.
"""

from __future__ import annotations

import gc


def main() -> None:
    gc.disable()
    from wordrnn.cli.main import main as run

    run()
