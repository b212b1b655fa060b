"""``wordrnn train`` and ``wordrnn info``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from wordrnn.cli.app import app, cli_text, err, out, quiet_tensorflow
from wordrnn.json_output import json_text
from wordrnn.cli.options import Encoding, Eos, Lowercase, MaxVocab, ModelOutput, Pretokenized, Quiet, ReplaceModel, Seed, finite
from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig
from wordrnn.errors import option


RECIPE_HELP = " (default: chosen from the corpus size; the recipe line shows the choice)"


@app.command()
def train(
    ctx: typer.Context,
    corpus: list[str] = typer.Argument(..., help="Text files, directories of *.txt files, '-' for standard input, "
                                       "or one directory made by `wordrnn prepare` (its vocabulary and tokenizer settings apply)."),
    output: ModelOutput = Path("wordrnn-model"),
    valid: Optional[list[str]] = typer.Option(None, "--valid", help="Validation text (default: a held-out tail of the corpus)."),
    time_budget: Optional[float] = typer.Option(
        None, "--time-budget", metavar="MINUTES",
        callback=finite, help="Train for at most this many minutes, export included: the run is planned to fit, its learning "
             "rate decaying to a tenth over the budget, and ends with the best weights (overrides --epochs)."),
    pretokenized: Pretokenized = False,
    lowercase: Lowercase = False,
    eos: Eos = "line",
    encoding: Encoding = "utf-8",
    max_vocab: MaxVocab = 20000,
    min_count: Optional[int] = typer.Option(None, "--min-count", help="Keep only words seen at least this often." + RECIPE_HELP),
    cell: str = typer.Option("lstm", "--cell", help="Recurrent cell: lstm, gru, elman or jordan."),
    layers: Optional[int] = typer.Option(None, "--layers", help="Number of recurrent layers." + RECIPE_HELP),
    units: Optional[int] = typer.Option(None, "--units", help="Units per recurrent layer." + RECIPE_HELP),
    embedding: Optional[int] = typer.Option(None, "--embedding", help="Word embedding width." + RECIPE_HELP),
    dropout: Optional[float] = typer.Option(None, "--dropout", callback=finite, help="Dropout on embeddings and between layers." + RECIPE_HELP),
    recurrent_dropout: float = typer.Option(0.0, "--recurrent-dropout", callback=finite, help="Dropout on recurrent connections (slower)."),
    tied: Optional[bool] = typer.Option(None, "--tied/--untied", help="Share the embedding matrix with the output layer." + RECIPE_HELP),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Passes over the corpus (ignored with --time-budget)." + RECIPE_HELP),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Parallel contiguous streams." + RECIPE_HELP),
    window: int = typer.Option(35, "--window", help="Truncated-BPTT window: steps between weight updates."),
    warmup_steps: int = typer.Option(0, "--warmup-steps", help="Outputs without loss after each state reset."),
    optimizer: str = typer.Option("adam", "--optimizer", help="adam or sgd."),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", callback=finite,
                                                  help="Initial learning rate (default 2e-3; 7e-3 with --time-budget, whose decay ends inside it)."),
    clipnorm: float = typer.Option(5.0, "--clipnorm", callback=finite, help="Clip the global gradient norm (0: off)."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", callback=finite, help="Decoupled weight decay (AdamW)."),
    lr_patience: int = typer.Option(1, "--lr-patience", help="Halve the learning rate after this many epochs without improvement."),
    early_stopping: int = typer.Option(3, "--early-stopping", help="Stop after this many epochs without improvement (0: never); the best epoch is kept."),
    valid_fraction: float = typer.Option(0.05, "--valid-fraction", callback=finite, help="Held-out tail used for validation without --valid."),
    seed: Seed = None,
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Save a resumable checkpoint every N steps (0: epoch ends only)."),
    checkpoint_minutes: float = typer.Option(10.0, "--checkpoint-minutes", callback=finite, help="Also save one when this many minutes passed since the last (0: off)."),
    max_steps: int = typer.Option(0, "--max-steps", help="Stop after this many steps (0: no limit)."),
    xla: bool = typer.Option(False, "--xla/--no-xla", help="Compile the training step with XLA (on 2 CPU cores it measured no faster than without; bench_train.py)."),
    lr_decay: Optional[float] = typer.Option(None, "--lr-decay", callback=finite, help="Multiply the learning rate by this after every epoch (1: constant; "
                                             "with --time-budget it replaces the budget's decay)." + RECIPE_HELP),
    ema: float = typer.Option(0.0, "--ema", callback=finite, help="Also keep a moving average of the weights with this "
                              "momentum per step (e.g. 0.999; 0: off); validation keeps the better of the two. "
                              "--resume may turn it on late in a run."),
    ema_start: float = typer.Option(0.0, "--ema-start", metavar="FRACTION", callback=finite,
                                    help="With --ema: begin averaging after this fraction of the training (of a "
                                    "budget's time, else of its epochs), from the weights of that moment (0: from the start)."),
    fresh_state: float = typer.Option(0.0, "--fresh-state", metavar="FRACTION", callback=finite,
                                      help="For this first fraction of the training every window starts from a zero state, "
                                      "then the state carries (0: carried from the start; see the README)."),
    state_reset: Optional[int] = typer.Option(None, "--state-reset", metavar="WINDOWS",
                                              help="Reset each stream's state every this many windows, the streams taking "
                                              "turns, so every step also trains from a fresh state (0: only at each "
                                              "epoch's start; see the README)." + RECIPE_HELP),
    sampled_softmax: Optional[int] = typer.Option(None, "--sampled-softmax", help="Train with a softmax over this many sampled words "
                                                  "(0: full; faster on large vocabularies)." + RECIPE_HELP),
    adaptive_softmax: Optional[int] = typer.Option(None, "--adaptive-softmax", metavar="HEAD",
                                                   help="Score words with an adaptive softmax whose head holds the HEAD most "
                                                   "frequent words, rarer ones in narrower clusters: exact, and cheaper to "
                                                   "train on large vocabularies; not with --sampled-softmax (0: off; the "
                                                   "recipe chooses 2000 for a short --time-budget over more than 10,000 "
                                                   "words, else 0)."),
    force: ReplaceModel = False,
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted training in the output directory."),
    quiet: Quiet = False,
    strategy: str = typer.Option("default", "--strategy", help="default (one device), mirrored (every local GPU) or "
                                 "multiworker (one process per machine, cluster in TF_CONFIG; see the README)."),
    export: bool = typer.Option(True, "--export/--no-export", help="Also save a LiteRT export of the step (fast start for complete/generate)."),
) -> None:
    """Train a next-word model on plain text (stateful truncated BPTT) and save it.

    With no settings the proven recipe is scaled to the corpus (vocabulary cut, model size, dropout,
    sampled softmax, schedule) and printed in one line; any flag given overrides its part.
    """
    started = time.perf_counter()
    given = {name: value for name, value in (("min_count", min_count), ("layers", layers), ("units", units),
                                             ("embedding", embedding), ("dropout", dropout), ("tied", tied),
                                             ("epochs", epochs), ("lr_decay", lr_decay),
                                             ("sampled_softmax", sampled_softmax), ("adaptive_softmax", adaptive_softmax),
                                             ("batch_size", batch_size), ("state_reset", state_reset),
                                             ("learning_rate", learning_rate))
             if value is not None}
    settings = {**PLACEHOLDERS, **given}
    model_config = ModelConfig(vocab_size=1, cell=cell, layers=settings["layers"], units=settings["units"],
                               embedding=settings["embedding"], dropout=settings["dropout"],
                               recurrent_dropout=recurrent_dropout, tied=settings["tied"],
                               adaptive_softmax=settings["adaptive_softmax"])
    train_config = TrainConfig(epochs=settings["epochs"], batch_size=settings["batch_size"], window=window, warmup_steps=warmup_steps,
                               optimizer=optimizer, learning_rate=settings["learning_rate"], clipnorm=clipnorm,
                               weight_decay=weight_decay, lr_patience=lr_patience, early_stopping=early_stopping,
                               valid_fraction=valid_fraction, seed=seed, checkpoint_every=checkpoint_every,
                               checkpoint_minutes=checkpoint_minutes, max_steps=max_steps, xla=xla,
                               sampled_softmax=settings["sampled_softmax"], lr_decay=settings["lr_decay"],
                               time_budget=time_budget, ema=ema, ema_start=ema_start,
                               fresh_state=fresh_state, state_reset=settings["state_reset"])
    if time_budget is not None and epochs is not None and not quiet:
        err.print(f"[yellow]warning:[/] --time-budget decides how long training runs; --epochs {epochs} is ignored")
    from wordrnn.train.recipe import Recipe

    _train_with_progress(corpus, output, quiet, export, model_config=model_config, train_config=train_config,
                         tokenizer_config=TokenizerConfig(lowercase=lowercase, pretokenized=pretokenized, eos=eos),
                         valid=valid, max_vocab=max_vocab, min_count=settings["min_count"], encoding=encoding, force=force,
                         resume=resume, strategy=strategy, recipe=Recipe(frozenset(given)), started=started,
                         options=typed_options(ctx))


def typed_options(ctx: typer.Context) -> frozenset[str]:
    """The options given on the command line (a default is not a choice: ``--resume`` keeps the
    checkpoint's value of every option not given, and refuses a given one that would change it)."""
    return frozenset(name for name in ctx.params
                     if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP"))


# what a recipe setting is before the recipe sets it (any valid value: every one not given is replaced)
PLACEHOLDERS = {"min_count": 1, "layers": 1, "units": 256, "embedding": 128, "dropout": 0.1, "tied": False,
                "epochs": 10, "lr_decay": 1.0, "sampled_softmax": 0, "adaptive_softmax": 0, "batch_size": 32, "learning_rate": 2e-3,
                "state_reset": 0}


def recipe_line(choices: dict[str, Any], budget: bool = False) -> str:
    """The one line that says what the recipe chose, as the flags that would choose it."""
    flags = []
    for name, value in choices["chosen"].items():
        if budget and name == "lr_decay" and value == 1.0:
            continue  # the budget's own decay: the plan line shows it
        if isinstance(value, bool):
            flags.append("--tied" if value else "--untied")
        else:
            flags.append(f"--{name.replace('_', '-')} {value:g}" if isinstance(value, float) else f"--{name.replace('_', '-')} {value}")
    return (f"recipe for {choices['train_tokens']:,} training words and {choices['vocab_size']:,} words of vocabulary: "
            + " ".join(flags))


def _train_with_progress(corpus: list[str], output: Path, quiet: bool, export: bool, **settings: Any) -> None:
    """Run ``train_text`` with ``settings`` under a progress display, stage lines and a Ctrl-C that
    stops after the current step (and saves); print the recipe's choices before training, then the
    summary and how to resume."""
    from wordrnn.cli.export import export_after_training
    from wordrnn.cli.progress import RichProgress, StopFlag
    from wordrnn.train.jobs import train_text

    quiet_tensorflow()
    progress = RichProgress(err, "ppl", quiet)
    budget = settings["train_config"].time_budget is not None

    def stage(name: str) -> None:
        if not quiet:
            err.print(f"[dim]{escape(cli_text(name))}…[/]")

    def chosen(choices: dict[str, Any]) -> None:
        if not quiet:
            err.print(recipe_line(choices, budget), highlight=False)

    with StopFlag(err) as stop:
        summary = train_text(corpus, output, callbacks=[progress], should_stop=stop, on_stage=stage, on_choices=chosen,
                             after_save=export_after_training(stage) if export else None, **settings)
    if not quiet:
        err.print(progress.summary_table(summary, {"model": str(output), "vocabulary": summary["vocab_size"],
                                                   "training tokens": f"{summary['train_tokens']:,}"}))
    if summary["stopped"] == "interrupted":
        err.print(f"[yellow]stopped early; continue with: wordrnn train ... -o {output} --resume[/]")
    elif summary["stopped"] == "early_stopping" and summary.get("new_steps") == 0:
        err.print(f"[yellow]nothing trained: this run had already ended by early stopping (its best epoch is "
                  f"kept); to train on, resume with a larger {cli_text(option('early_stopping'))}[/]")


@app.command()
def info(
    model: Optional[Path] = typer.Argument(None, help="Model directory (default: $WORDRNN_MODEL or the bundled model)."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Describe a model: config, vocabulary, parameters, training history and metrics."""
    from wordrnn.evaluation.baseline import describe_baseline, is_baseline
    from wordrnn.store.saved import SavedModel, find_model

    path = find_model(model)
    description = describe_baseline(path) if is_baseline(path) else SavedModel.load(path).describe()
    if as_json:
        out.print_json(json_text(description))
        return
    if description.get("card"):
        out.print(card_table(description["card"]))
    out.print(_model_table(description))
    if description["history"]:
        out.print(_history_table(description["history"]))


def _model_table(description: dict[str, Any]) -> Table:
    """The table view of ``info``'s description: what the model is, its export, configs, corpus and metrics."""
    table = Table(title=f"model {description['path']}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for key in ("kind", "written", "wordrnn_version", "parameters", "vocab_size"):
        if description[key] is not None:
            table.add_row(key, f"{description[key]:,}" if isinstance(description[key], int) else str(description[key]))
    if description["litert"]:
        export = description["litert"]
        agreement = export.get("check", {}).get("top3_agreement")
        kind = {"none": "float32", "float16": "float16 weights",
                "dynamic": "int8 weights (dynamic range)"}.get(export.get("quantize"), str(export.get("quantize")))
        kept = export.get("weight_tensors")
        table.add_row("litert export", f"{kind}, {export.get('bytes', 0) / 1e6:.1f} MB"
                      + (f", top-3 agreement with TensorFlow {agreement:.1%}" if agreement is not None else "")
                      + (f"; keeps {len(kept)} weight arrays (the weights file: the rest)" if kept else ""))
    for section, values in (description["config"] or {}).items():
        table.add_row(section, ", ".join(f"{k}={v}" for k, v in values.items()))
    for key, value in (description["corpus"] or {}).items():
        table.add_row(f"corpus {key}", str(value))
    if description.get("interpolation"):
        table.add_row("interpolation", ", ".join(f"{k}={_text(v)}" for k, v in description["interpolation"].items()))
    for key, value in (description["metrics"] or {}).items():
        table.add_row(f"metric {key}", f"{value:.4g}" if isinstance(value, float) else str(value))
    return table


def _history_table(history: list[dict[str, Any]]) -> Table:
    """One row per trained epoch: loss, validation loss, learning rate and time."""
    table = Table(title="training history")
    for column in ("epoch", "loss", "val_loss", "learning_rate", "seconds"):
        table.add_column(column, justify="right")
    for record in history:
        table.add_row(*(f"{record[c]:.4g}" if isinstance(record.get(c), float) else str(record.get(c, "-"))
                        for c in ("epoch", "loss", "val_loss", "learning_rate", "seconds")))
    return table


def card_table(card: dict[str, Any]) -> Table:
    """A model card as a two-column table: what a newcomer asks first (data, licence, figures).

    Nested sections become ``section key`` rows; the configuration is left to the model table below.
    """
    table = Table(title=str(card.get("name", "model card")), show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for key, value in card.items():
        if key not in ("name", "configuration"):
            _card_rows(table, key, value)
    return table


def _card_rows(table: Table, label: str, value: Any, depth: int = 0) -> None:
    """``value`` under ``label``: a section one row per entry; below it, a record of plain values as
    ``k=v`` pairs on one row, and a record of records (metrics: text -> system -> figures) one row
    per innermost record; anything else as it is."""
    nested = isinstance(value, dict) and any(isinstance(v, dict) for v in value.values())
    if isinstance(value, dict) and (depth == 0 or nested):
        for sub, item in value.items():
            _card_rows(table, f"{label} {sub}", item, depth + 1)
    elif isinstance(value, dict):
        table.add_row(label.replace("_", " "), ", ".join(f"{k}={_text(v)}" for k, v in value.items()))
    else:
        table.add_row(label.replace("_", " "), _text(value))


def _text(value: Any) -> str:
    """A figure as a table shows it: 4 significant digits, thousands separated, lists joined; any
    other value (a nested record, say) as it is, so a field a newer writer adds never breaks ``info``."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return ", ".join(map(_text, value)) if isinstance(value, list) else str(value)
