"""Command-line options shared by several commands (one definition, one help text)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

FILES_HELP = "Text files, directories of *.txt files, or '-' for standard input."

Pretokenized = Annotated[bool, typer.Option("--pretokenized", help="Split on whitespace only (text already tokenized).")]
Lowercase = Annotated[bool, typer.Option("--lowercase/--keep-case", help="Fold the text to lower case.")]
Eos = Annotated[str, typer.Option("--eos", help="Sentence end at every 'line' break or only at blank lines ('paragraph').")]
Encoding = Annotated[str, typer.Option("--encoding", help="Text encoding of the corpus.")]
MaxVocab = Annotated[int, typer.Option("--max-vocab", help="Keep at most this many words (others become <unk>).")]
MinCount = Annotated[int, typer.Option("--min-count", help="Keep only words seen at least this often.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]

# training a model (`train`, `train-series`); the defaults differ per command
ModelOutput = Annotated[Path, typer.Option("-o", "--output", help="Model directory to write.")]
Layers = Annotated[int, typer.Option("--layers", help="Number of recurrent layers.")]
Units = Annotated[int, typer.Option("--units", help="Units per recurrent layer.")]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Random seed for reproducible training.")]
ReplaceModel = Annotated[bool, typer.Option("--force", help="Replace a model already in the output directory.")]
