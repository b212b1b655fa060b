"""Command-line options shared by several commands (one definition, one help text)."""

from __future__ import annotations

from typing import Annotated

import typer

Pretokenized = Annotated[bool, typer.Option("--pretokenized", help="Split on whitespace only (text already tokenized).")]
Lowercase = Annotated[bool, typer.Option("--lowercase/--keep-case", help="Fold the text to lower case.")]
Eos = Annotated[str, typer.Option("--eos", help="Sentence end at every 'line' break or only at blank lines ('paragraph').")]
Encoding = Annotated[str, typer.Option("--encoding", help="Text encoding of the corpus.")]
MaxVocab = Annotated[int, typer.Option("--max-vocab", help="Keep at most this many words (others become <unk>).")]
MinCount = Annotated[int, typer.Option("--min-count", help="Keep only words seen at least this often.")]
