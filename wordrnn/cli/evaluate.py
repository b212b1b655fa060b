"""``wordrnn evaluate``, ``wordrnn interpolate`` and ``wordrnn baseline train|evaluate``.

Measuring prediction quality from the command line, by the protocol ``evaluation.metrics`` states
and the README explains under "Measuring quality".
TensorFlow loads only inside the commands that run a network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from wordrnn.cli.app import MODEL_HELP, app, err, out, quiet_tensorflow, warnings_to_stderr
from wordrnn.json_output import json_text
from wordrnn.cli.options import FILES_HELP

# Options several of this module's commands take (one definition, one help text each).
AsTrained = Annotated[Optional[bool], typer.Option(
    "--pretokenized/--tokenize", show_default=False,
    help="Read the text as already tokenized (split on whitespace); default: as the model was trained.")]
Limit = Annotated[Optional[int], typer.Option("--limit", help="Evaluate only the first N tokens.")]
MetricsJson = Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")]
QuietBar = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]

# = len(mixture_settings.BUCKET_EDGES) + 1, written out to keep NumPy out of start-up (test_mixture checks).
NGRAM_BUCKETS = 6
POINTER_SIZE = 200  # evaluation.pointer_fit.POINTER_SIZE, spelled here so that --help imports no NumPy (a test keeps them equal)

baseline_app = typer.Typer(help="The interpolated Kneser-Ney trigram baseline: train it, evaluate it.",
                           no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")


@contextmanager
def progress_bar(label: str, quiet: bool = False) -> Iterator[Any]:
    """A transient bar on stderr; yields the ``on_progress(done, total)`` callback."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=err, transient=True)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update


def show(result: Any, as_json: bool, render: Callable[[], Any]) -> None:
    """Print ``result`` as one JSON object, or what ``render`` makes of it for people."""
    if as_json:
        out.print_json(json_text(result))
    else:
        out.print(render())


def metrics_table(rows: dict[str, dict[str, Any]]) -> Table:
    """One row per evaluated model: perplexity, bits, accuracies and KSR in percent, OOV, sizes."""
    table = Table(title="evaluation")
    columns = [("ppl", "ppl", "{:.1f}"), ("bits/word", "bits", "{:.3f}"), ("top-1", "top1", "{:.1%}"),
               ("top-3", "top3", "{:.1%}"), ("top-5", "top5", "{:.1%}"), ("KSR@3", "ksr3", "{:.1%}"),
               ("OOV", "oov_rate", "{:.1%}"), ("tokens", "tokens", "{:,}"), ("vocab", "vocab", "{:,}")]
    if any("ppl_open" in metrics for metrics in rows.values()):  # a model with a lexicon
        columns[1:1] = [("ppl (open)", "ppl_open", "{:.1f}")]
        columns.insert(-2, ("OOV completable", "oov_completable", "{:.1%}"))
    table.add_column("model")
    for title, _, _ in columns:
        table.add_column(title, justify="right")
    for name, metrics in rows.items():
        table.add_row(name, *(fmt.format(metrics[key]) if key in metrics else "-" for _, key, fmt in columns))
    return table


@app.command()
def evaluate(
    files: list[str] = typer.Argument(..., help=FILES_HELP),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    pretokenized: AsTrained = None,
    limit: Limit = None,
    as_json: MetricsJson = False,
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="Also evaluate this n-gram baseline (same vocabulary)."),
    save: bool = typer.Option(False, "--save", help="Store the metrics in the model directory (shown by `wordrnn info`)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Parallel streams evaluated at once."),
    interpolation: bool = typer.Option(True, "--interpolation/--network-only", help="Use the model's cache/n-gram interpolation (as predictions do) or the network alone."),
    lexicon: bool = typer.Option(True, "--lexicon/--no-lexicon", help="Count the model's open-vocabulary lexicon, if it has one: KSR@3 taps the unknown words it completes; adds open-vocabulary perplexity."),
    quiet: QuietBar = False,
) -> None:
    """Perplexity, bits per word, top-1/3/5 accuracy, keystroke savings (KSR@3) and OOV rate on a text."""
    from wordrnn.errors import ConfigError
    from wordrnn.evaluation.measure import evaluate as run_evaluate

    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be 1 or more, got {limit}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be 1 or more, got {batch_size}")
    quiet_tensorflow()
    rows: dict[str, dict[str, Any]] = {}
    with progress_bar("evaluating", quiet or as_json) as update, warnings_to_stderr():
        rows[str(model or "model")] = run_evaluate(files, model, pretokenized=pretokenized, limit=limit,
                                                   batch_size=batch_size, save=save, interpolated=interpolation,
                                                   lexicon=lexicon, on_progress=update)
    if baseline is not None:
        from wordrnn.evaluation.baseline import evaluate_baseline, is_baseline
        from wordrnn.evaluation.streams import load_word_model
        from wordrnn.store.saved import find_model

        path = find_model(model)
        vocab = None if is_baseline(path) else load_word_model(path).vocab
        with progress_bar("baseline", quiet or as_json) as update:
            rows[str(baseline)] = evaluate_baseline(files, baseline, vocab=vocab, pretokenized=pretokenized,
                                                    limit=limit, on_progress=update)
    first, *rest = rows.values()
    show({**first, **({"baseline": rest[0]} if rest else {})}, as_json, lambda: metrics_table(rows))


@app.command()
def interpolate(
    model: Path = typer.Argument(..., help="Model directory to tune (it is updated in place)."),
    valid: list[str] = typer.Option(..., "--valid", help="Development text the weights are fitted on (not the text you report on)."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Interpolate a decaying word cache."),
    ngram: Optional[list[str]] = typer.Option(None, "--ngram", help="Also interpolate a Kneser-Ney trigram trained on this text (usually the training text)."),
    ngram_min_count: int = typer.Option(1, "--ngram-min-count", help="Prune trigrams seen fewer times than this (2 keeps about a quarter: a much smaller model)."),
    ngram_buckets: int = typer.Option(NGRAM_BUCKETS, "--ngram-buckets",
                                      help="With --ngram: fit one (cache, n-gram) weight pair per bucket of how often the "
                                           "trigram saw the two-word history: buckets unseen/pruned, 1-2, 3-9, 10-99, "
                                           "100-999, 1000+ (fewer buckets drop the last edges; 1: one global pair)."),
    pointer_size: int = typer.Option(POINTER_SIZE, "--pointer-size", metavar="N",
                                     help="Also fit a continuous cache of the network's last N hidden states and the "
                                          "words that followed them (0: none)."),
    pretokenized: AsTrained = None,
    as_json: bool = typer.Option(False, "--json", help="Print the fitted settings as JSON."),
    quiet: QuietBar = False,
) -> None:
    """Fit and store interpolation weights (word cache, continuous cache, optional trigram) that every prediction then uses."""
    from wordrnn.errors import ConfigError
    from wordrnn.evaluation.interpolation import interpolate as run_interpolate
    from wordrnn.runtime.mixture_settings import BUCKET_EDGES

    if not 1 <= ngram_buckets <= len(BUCKET_EDGES) + 1:
        raise ConfigError(f"--ngram-buckets must be 1 to {len(BUCKET_EDGES) + 1}, got {ngram_buckets}")
    quiet_tensorflow()
    with progress_bar("fitting", quiet or as_json) as update:
        result = run_interpolate(model, valid, cache=cache, ngram_corpus=ngram, ngram_min_count=ngram_min_count,
                                 bucket_edges=BUCKET_EDGES[: ngram_buckets - 1], pointer_size=pointer_size,
                                 pretokenized=pretokenized,
                                 on_progress=update)
    show(result, as_json, lambda: fitted_summary(result))


def fitted_summary(result: dict[str, Any]) -> Group:
    """The fitted weights for people: the global pair, the per-bucket table (with an n-gram), the perplexities."""
    bucketed = "buckets" in result
    scope = "global pair; each context uses its bucket's, below" if bucketed else "one pair for every context"
    parts: list[Any] = [(f"cache weight {result['cache']:.3f} (decay {result['cache_decay']}), "
                         f"n-gram weight {result['ngram']:.3f} ({scope})")]
    if bucketed:
        table = Table(title="weights by how often the trigram saw the two-word history")
        for column in ("history count", "positions", "cache", "n-gram"):
            table.add_column(column, justify="left" if column == "history count" else "right")
        for row in result["contexts"]:
            table.add_row(row["history_count"], f"{row['share']:.1%}", f"{row['cache']:.2f}",
                          f"{row['ngram']:.2f}" + (" (global: too few positions)" if row["fallback"] else ""))
        parts.append(table)
    pointer = result.get("pointer")
    if pointer:
        parts.append(f"continuous cache weight {pointer['weight']:.2f} (theta {pointer['theta']}, the last "
                     f"{pointer['size']} hidden states; without it: {result['valid_ppl_mixture']:.1f})")
    parts.append(f"validation perplexity {result['valid_ppl_network']:.1f} -> {result['valid_ppl_interpolated']:.1f}"
                 + (f" (one global pair: {result['valid_ppl_global']:.1f})" if bucketed else ""))
    parts.append(f"[yellow]warning:[/] {escape(result['warning'])}")
    return Group(*parts)


@baseline_app.command("train")
def baseline_train(
    corpus: list[str] = typer.Argument(..., help=FILES_HELP),
    output: Path = typer.Option(Path("wordrnn-baseline"), "-o", "--output", help="Baseline directory to write."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Use this word model's vocabulary and tokenizer (for a fair comparison)."),
    pretokenized: bool = typer.Option(False, "--pretokenized", help="Split on whitespace only (without --model)."),
    lowercase: bool = typer.Option(False, "--lowercase/--keep-case", help="Fold the text to lower case (without --model)."),
    min_count: int = typer.Option(3, "--min-count", help="Keep words seen at least this often (without --model)."),
    max_vocab: Optional[int] = typer.Option(None, "--max-vocab", help="Keep at most this many words (without --model)."),
    force: bool = typer.Option(False, "--force", help="Replace what the output directory holds."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Count an interpolated (modified) Kneser-Ney trigram on text and save it."""
    from wordrnn.evaluation.baseline import train_baseline
    from wordrnn.config import TokenizerConfig

    summary = train_baseline(corpus, output, model=model, min_count=min_count, max_vocab=max_vocab, force=force,
                             tokenizer_config=TokenizerConfig(lowercase=lowercase, pretokenized=pretokenized))
    show(summary, as_json, lambda: (
        f"trigram baseline in {output}: {summary['ngrams']:,} n-grams over {summary['vocab']:,} words "
        f"from {summary['tokens']:,} tokens ({summary['seconds']:.1f} s)"))


@baseline_app.command("evaluate")
def baseline_evaluate(
    files: list[str] = typer.Argument(..., help=FILES_HELP),
    baseline: Path = typer.Option(Path("wordrnn-baseline"), "--baseline", "-b", help="Baseline directory."),
    pretokenized: AsTrained = None,
    limit: Limit = None,
    as_json: MetricsJson = False,
    quiet: QuietBar = False,
) -> None:
    """The same metrics as `wordrnn evaluate`, for the n-gram baseline."""
    from wordrnn.evaluation.baseline import evaluate_baseline

    with progress_bar("evaluating", quiet or as_json) as update:
        metrics = evaluate_baseline(files, baseline, pretokenized=pretokenized, limit=limit, on_progress=update)
    show(metrics, as_json, lambda: metrics_table({str(baseline): metrics}))
