"""``wordrnn lexicon``: let a model complete words outside its vocabulary."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from wordrnn.cli.app import app, out
from wordrnn.json_output import json_text


@app.command("lexicon")
def lexicon_command(
    model: Path = typer.Argument(..., help="Model directory to extend (made by `wordrnn train`)."),
    corpus: Optional[list[str]] = typer.Option(None, "--corpus", help="Training text whose words outside the "
                                               "vocabulary join the lexicon (repeat for several files)."),
    words: int = typer.Option(100_000, "--words", help="How many of wordfreq's most frequent English words to add "
                              "(0: only the corpus's)."),
    pretokenized: Optional[bool] = typer.Option(None, "--pretokenized/--tokenize",
                                                help="Read --corpus as already tokenized (default: as the model was trained)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of --corpus."),
    as_json: bool = typer.Option(False, "--json", help="Print what was stored as JSON."),
) -> None:
    """Add an open-vocabulary lexicon: completion then offers any word a person types, not only the vocabulary's."""
    from wordrnn.train.lexicon import add_lexicon

    info = add_lexicon(model, corpus or [], words, pretokenized=pretokenized, encoding=encoding)
    if as_json:
        out.print_json(json_text(info))
        return
    out.print(f"{model}: lexicon of {info['words']:,} words outside the vocabulary "
              f"(wordfreq {info['wordfreq_words']:,}{', plus the corpus' if info['corpus'] else ''})")
