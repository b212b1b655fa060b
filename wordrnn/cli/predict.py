"""``wordrnn complete`` and ``wordrnn generate``: the predictor from the command line.

Both run on whatever step runner ``--runtime`` picks; nothing here imports
TensorFlow (the Keras runner does, only when it is the one chosen). Options are
validated before the model loads, so a typo fails in milliseconds.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape
from rich.table import Table

from wordrnn.errors import ConfigError, WordRNNWarning
from wordrnn.predict.streaming import LineStreamer

from wordrnn.cli.app import MODEL_HELP, RUNTIME_HELP, app, out, printable, warnings_to_stderr
from wordrnn.json_output import json_text
from wordrnn.cli.options import finite

if TYPE_CHECKING:
    from wordrnn.predict.predictor import Completion

MAX_WORDS = 1_000_000  # a bound on one run, however long it may stream; more is more runs
MAX_BEAM_WORDS = 1_000  # beam search keeps every candidate whole until the end


def _load(model: Optional[Path], runtime: str):
    from wordrnn.predict.predictor import load

    return load(model, runtime)


@app.command()
def complete(
    text: str = typer.Argument(..., help="Typed text; if it ends inside a word, that word is completed."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    k: int = typer.Option(3, "-k", "--k", help="Number of suggestions."),
    as_json: bool = typer.Option(False, "--json", help='Print {"context": [...], "prefix": ..., "suggestions": [...]}.'),
    runtime: str = typer.Option("auto", "--runtime", help=RUNTIME_HELP),
) -> None:
    """Suggest the next word, or complete the word being typed."""
    from wordrnn.predict.sampling import check_k

    check_k(k)
    with warnings_to_stderr():
        if not text.strip():
            warnings.warn("empty context; suggesting words that start a text", WordRNNWarning)
        completion = _load(model, runtime).complete(text, k)
    if as_json:
        out.print(json_text(completion.to_json()), markup=False, highlight=False, emoji=False)
        return
    out.print(suggestion_table(completion))


def suggestion_table(completion: Completion) -> Table:
    """The table ``complete`` prints: the context (its last 8 words) and the ranked suggestions."""
    shown = escape(printable(" ".join(completion.context[-8:])))
    title = f"after “{shown}”" if completion.context else "at the start of a text"
    if completion.prefix:
        title = f"completions of “{escape(printable(completion.prefix))}” {title}"
    table = Table(title=title)
    table.add_column("#", justify="right", style="dim")
    table.add_column("suggestion", style="bold")
    table.add_column("probability", justify="right")
    for rank, (word, prob) in enumerate(completion.suggestions, 1):
        table.add_row(str(rank), escape(printable(word)), f"{prob:.1%}" if prob >= 0.001 else f"{prob:.2e}")
    if not completion.suggestions:
        table.add_row("-", f"no vocabulary word starts with “{escape(printable(completion.prefix))}”", "")
    return table


@app.command()
def generate(
    seed_text: str = typer.Argument("", metavar="SEED", help="Text to continue (empty: start a new text)."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    n_words: int = typer.Option(50, "-n", "--words", help=f"Number of words to generate (at most {MAX_WORDS:,}; "
                                f"with --beam at most {MAX_BEAM_WORDS:,})."),
    temperature: Optional[float] = typer.Option(None, "--temperature", "-t", callback=finite, help="Above 0: <1 safer, >1 wilder (default 1)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Sample among the K most probable words (1: greedy)."),
    top_p: Optional[float] = typer.Option(None, "--top-p", callback=finite, help="Nucleus sampling: the most probable words holding mass P, in (0, 1]."),
    beam: Optional[int] = typer.Option(None, "--beam", help="Beam search with this width (deterministic; no sampling)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed: the same seed gives the same text."),
    greedy: bool = typer.Option(False, "--greedy", help="Always take the most probable word (same as --top-k 1)."),
    stop_at_eos: bool = typer.Option(False, "--stop-at-eos", help="Stop at the first end of sentence."),
    echo: bool = typer.Option(True, "--echo/--no-echo", help="Print the seed text before the generated text."),
    runtime: str = typer.Option("auto", "--runtime", help=RUNTIME_HELP),
) -> None:
    """Continue a seed text by sampling (or beam search), written as it is generated: word by word on a
    terminal, line by line to a file or pipe."""
    from wordrnn.predict.predictor import check_words
    from wordrnn.predict.sampling import check_k, check_options

    _check_length(check_words(n_words), beam)
    check_options(1.0 if temperature is None else temperature, top_k, top_p, seed)
    if greedy:
        if top_k not in (None, 1) or top_p is not None or temperature is not None:
            raise ConfigError("--greedy cannot be combined with --temperature, --top-k or --top-p")
        top_k = 1
    if beam is not None:
        check_k(beam, "--beam")
        if any(v is not None for v in (temperature, top_k, top_p, seed)):
            raise ConfigError("--beam is deterministic; drop --temperature, --top-k, --top-p, --seed and --greedy")
    with warnings_to_stderr():
        predictor = _load(model, runtime)
        session = predictor.session(seed_text)
        if beam is not None:
            words: Iterable[str] = session.beam_search(n_words, beam, stop_at_eos)
        else:
            words = session.iter_generate(n_words, 1.0 if temperature is None else temperature, top_k, top_p, seed,
                                          stop_at_eos)
    prompt = list(session.words) if echo else []
    if beam is not None:  # the best beam is known only at the end
        _write(predictor.detokenize([*prompt, *words]) + "\n", flush=True)
        return
    streamer = LineStreamer(predictor.detokenize, lambda text: _write(text, flush=out.is_terminal or "\n" in text))
    try:
        for word in itertools.chain(prompt, words):  # `words` is generated while it is written
            streamer.add(word)
    finally:  # also on Ctrl-C: what was generated is kept, its last line ended
        if streamer.line:  # a text ending with </s> has had its line break already
            _write("\n", flush=False)


def _check_length(n_words: int, beam: int | None) -> None:
    """Refuse more words than one run may generate, before the model loads."""
    if n_words > MAX_WORDS:
        raise ConfigError(f"-n may be at most {MAX_WORDS:,} words, got {n_words:,}; generate the rest in another run "
                          "(with another --seed)")
    if beam is not None and n_words > MAX_BEAM_WORDS:
        raise ConfigError(f"-n may be at most {MAX_BEAM_WORDS:,} words with --beam (beam search holds every "
                          f"candidate until the end), got {n_words:,}; sample longer texts without --beam")


def _write(text: str, flush: bool) -> None:
    """Generated text to standard output (control characters escaped), flushed when asked (each line;
    each word on a terminal)."""
    out.file.write(printable(text))
    if flush:
        out.file.flush()
