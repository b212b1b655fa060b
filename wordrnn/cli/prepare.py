"""``wordrnn prepare``: tokenise a corpus once into memory-mappable shards for ``wordrnn train DATA_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from wordrnn.cli.app import app, err
from wordrnn.cli.options import FILES_HELP, Encoding, Eos, Lowercase, MaxVocab, MinCount, Pretokenized, Quiet
from wordrnn.config import TokenizerConfig


@app.command()
def prepare(
    corpus: list[str] = typer.Argument(..., help=FILES_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="Dataset directory to write (then: wordrnn train DATA_DIR)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Tokenising processes (default: every CPU)."),
    pretokenized: Pretokenized = False,
    lowercase: Lowercase = False,
    eos: Eos = "line",
    encoding: Encoding = "utf-8",
    max_vocab: MaxVocab = 20000,
    min_count: MinCount = 1,
    shard_tokens: int = typer.Option(1 << 26, "--shard-tokens", help="Tokens per shard file (at least 1,000)."),
    force: bool = typer.Option(False, "--force", help="Replace a dataset already in the output directory."),
    quiet: Quiet = False,
) -> None:
    """Tokenise a corpus in parallel into sharded token-id files plus a manifest (for corpora of any size)."""
    from wordrnn.text.prepare import prepare as run_prepare

    tokenizer_config = TokenizerConfig(lowercase=lowercase, pretokenized=pretokenized, eos=eos)
    progress = Progress(TextColumn("[bold]tokenising"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                        console=err, disable=quiet, transient=True)
    task = progress.add_task("prepare", total=None)

    def show(done: int, total: int) -> None:
        progress.start()  # on the first report only, so that a bad input gives nothing but its error line
        progress.update(task, completed=done, total=total)

    try:
        manifest = run_prepare(corpus, output, workers=workers, tokenizer_config=tokenizer_config, max_vocab=max_vocab,
                               min_count=min_count, encoding=encoding, shard_tokens=shard_tokens, force=force,
                               on_progress=show)
    finally:
        progress.stop()
    if quiet:
        return
    table = Table(title=f"dataset {output}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    stats = manifest["prepare"]
    for key, value in (("tokens", f"{manifest['tokens']:,}"), ("vocabulary", f"{manifest['vocab']['size']:,}"),
                       ("unknown tokens", f"{manifest['unk_tokens']:,}"), ("shards", len(manifest["shards"])),
                       ("id type", manifest["dtype"]), ("workers", stats["workers"]),
                       ("seconds", f"{stats['seconds']:.1f}"), ("tokens/s", f"{stats['tokens_per_second']:,}")):
        table.add_row(key, str(value))
    err.print(table)
    err.print(f"train with: wordrnn train {output} -o MODEL_DIR")
