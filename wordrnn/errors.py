"""The exception hierarchy, and how its messages name options.

The library raises these with a message that says what was wrong and what to
do about it; only the CLI turns them into one line on stderr and an exit code.

A message names an option through ``option("min_count")`` rather than as text, because the
same option has two spellings: a Python caller passes the keyword argument ``min_count``, a
command-line user the flag ``--min-count``. ``option`` leaves a marker in the message;
``str()`` of an error or warning shows it in library terms (``min_count``, ``force=True``), and
the CLI renders the same marker as its flag (``wordrnn.cli.app.cli_text``). So the library never
speaks in flags, and the CLI's messages stay what they were.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Shift Out / Shift In around a marker: control characters that repr() escapes, so a value shown
# with ``!r`` in a message can never be mistaken for one.
_OPEN, _CLOSE = "\x0e", "\x0f"
_MARKER = re.compile("\x0e([A-Za-z_][A-Za-z0-9_]*)(?:([=:])([^\x0e\x0f]*))?\x0f")
_LITERALS = (type(None), bool, int, float, str)
_UNSET: Any = object()


@dataclass(frozen=True)
class Option:
    """An option named in a message (what a marker carries).

    Args:
        name: the keyword argument, e.g. ``min_count``.
        value: the value the advice is about (``force=True``, ``runtime="keras"``), if any.
        metavar: a placeholder for a value the user chooses (``cache_path=FILE``), if any.
    """

    name: str
    value: Any = _UNSET
    metavar: str | None = None

    @property
    def has_value(self) -> bool:
        return self.value is not _UNSET


def option(name: str, value: Any = _UNSET, *, metavar: str | None = None) -> str:
    """Name the option ``name`` in a message, for each audience to spell its own way.

    ``option("min_count")`` reads ``min_count`` from Python and ``--min-count`` at the CLI;
    ``option("force", True)`` reads ``force=True`` and ``--force``; ``option("cache_path",
    metavar="FILE")`` reads ``cache_path=FILE`` and ``--cache FILE``. The marker survives
    f-strings and concatenation. A value is kept as a Python literal (None, bool, number, str;
    anything else as its text), so the CLI can read it back.
    """
    if value is not _UNSET:
        value = value.item() if hasattr(value, "item") else value  # a NumPy scalar: its Python number
        if not isinstance(value, _LITERALS) or (isinstance(value, float) and not math.isfinite(value)):
            value = str(value)  # never fail while building an error message; NaN has no literal either
        return f"{_OPEN}{name}={value!r}{_CLOSE}"
    if metavar is not None:
        return f"{_OPEN}{name}:{metavar}{_CLOSE}"
    return f"{_OPEN}{name}{_CLOSE}"


def render(text: str, spell: Callable[[Option], str]) -> str:
    """``text`` with each option marker replaced by ``spell(option)``."""

    def replace(match: re.Match[str]) -> str:
        name, kind, payload = match.groups()
        if kind == "=":
            return spell(Option(name, value=ast.literal_eval(payload)))
        return spell(Option(name, metavar=payload if kind == ":" else None))

    return _MARKER.sub(replace, text)


def library_spelling(opt: Option) -> str:
    """An option as a Python caller writes it: ``min_count``, ``force=True``, ``cache_path=FILE``."""
    if opt.has_value:
        return f"{opt.name}={opt.value!r}"
    return f"{opt.name}={opt.metavar}" if opt.metavar is not None else opt.name


def in_library_terms(text: str) -> str:
    """``text`` with its option markers spelled as keyword arguments."""
    return render(text, library_spelling)


class _NamesOptions:
    """``str()`` in library terms; ``marked`` keeps the markers for a front end that spells them otherwise."""

    @property
    def marked(self) -> str:
        """The message with its option markers (the CLI renders them as flags)."""
        return BaseException.__str__(self)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return in_library_terms(self.marked)


class WordRNNError(_NamesOptions, Exception):
    """Base class: every error a user can cause or fix."""

    exit_code = 1


class ConfigError(WordRNNError):
    """A hyper-parameter or option is out of range or inconsistent."""

    exit_code = 2


class CorpusError(WordRNNError):
    """Training or evaluation text is missing, empty, binary or undecodable."""


class ModelFormatError(WordRNNError):
    """A model directory is missing, incomplete, corrupt or of an unknown format."""


class ModelNotFoundError(ModelFormatError):
    """No model was given and no default model could be found."""


class OutputExistsError(WordRNNError):
    """The output directory already holds something we would overwrite."""


class LockedError(WordRNNError):
    """Another live process is training into the same model directory."""


class SeriesError(WordRNNError):
    """A numeric series (CSV column) is missing, non-numeric or too short."""


class ResourceError(WordRNNError):
    """The job cannot fit in memory or on disk."""


class WordRNNWarning(_NamesOptions, UserWarning):
    """Something the user should know but that does not stop the work (e.g. unknown context words).

    Raised with ``warnings.warn``; the CLI shows each as one ``warning:`` line on stderr.
    """


class ExportError(ModelFormatError):
    """A LiteRT export is missing, damaged, stale or cannot be made or run."""


class AdaptCacheError(WordRNNError):
    """An adaptation cache file (``wordrnn repl --cache``) cannot be read or written."""


class DistributedError(WordRNNError):
    """A distributed run cannot start or lost a worker (TF_CONFIG, addresses, a peer that died)."""
