"""The exception hierarchy.

The library raises these with a message that says what was wrong and what to
do about it; only the CLI turns them into one line on stderr and an exit code.
"""

from __future__ import annotations


class WordRNNError(Exception):
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


class WordRNNWarning(UserWarning):
    """Something the user should know but that does not stop the work (e.g. unknown context words).

    Raised with ``warnings.warn``; the CLI shows each as one ``warning:`` line on stderr.
    """


class ExportError(ModelFormatError):
    """A LiteRT export is missing, damaged, stale or cannot be made or run."""


class AdaptCacheError(WordRNNError):
    """An adaptation cache file (``wordrnn repl --cache``) cannot be read or written."""


class DistributedError(WordRNNError):
    """A distributed run cannot start or lost a worker (TF_CONFIG, addresses, a peer that died)."""
