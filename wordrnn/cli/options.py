"""Command-line options shared by several commands (one definition, one help text)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from wordrnn.errors import ConfigError

def finite(param: typer.CallbackParam, value: float | None) -> float | None:
    """Refuse NaN and infinity for a float option (the ``callback`` of every one): Click parses
    ``nan``, ``inf`` and ``1e999`` as floats, and range checks written as ``value < 0`` let NaN
    through, so a NaN learning rate would train and save a model of NaN weights."""
    if value is not None and not math.isfinite(value):
        flags = "/".join(flag for flag in param.opts if flag.startswith("--"))
        raise ConfigError(f"{flags} must be a finite number, got {value}")
    return value


FILES_HELP = "Text files, directories of *.txt files, or '-' for standard input."

Pretokenized = Annotated[bool, typer.Option("--pretokenized", help="Split on whitespace only (text already tokenized).")]
Lowercase = Annotated[bool, typer.Option("--lowercase/--keep-case", help="Fold the text to lower case.")]
Eos = Annotated[str, typer.Option("--eos", help="Sentence end at every 'line' break or only at blank lines ('paragraph').")]


def _text_encoding(encoding: str) -> str:
    """Refuse an unknown codec or one that is not a text encoding (base64, rot13) while the options
    are read, before a command starts counting or shows progress."""
    from wordrnn.text.corpus import check_encoding

    return check_encoding(encoding)  # a CorpusError: one clean line, like any library error


Encoding = Annotated[str, typer.Option("--encoding", callback=_text_encoding, help="Text encoding of the corpus.")]
MaxVocab = Annotated[int, typer.Option("--max-vocab", help="Keep at most this many words (others become <unk>).")]
MinCount = Annotated[int, typer.Option("--min-count", help="Keep only words seen at least this often.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]

# training a model (`train`, `train-series`); the defaults differ per command
ModelOutput = Annotated[Path, typer.Option("-o", "--output", help="Model directory to write.")]
Layers = Annotated[int, typer.Option("--layers", help="Number of recurrent layers.")]
Units = Annotated[int, typer.Option("--units", help="Units per recurrent layer.")]


def _training_seed(seed: int | None) -> int | None:
    """Refuse a seed Keras cannot take while the options are read: before any text is tokenized,
    and without touching the training modules (their libraries take the seed as given)."""
    if seed is not None:
        from wordrnn.predict.sampling import check_training_seed

        check_training_seed(seed)  # a ConfigError: one clean line, like any library error
    return seed


Seed = Annotated[Optional[int], typer.Option("--seed", callback=_training_seed,
                                             help="Random seed for reproducible training.")]
ReplaceModel = Annotated[bool, typer.Option("--force", help="Replace a model already in the output directory.")]
