"""``wordrnn sine``, ``wordrnn train-series`` and ``wordrnn forecast``: numeric series on the word model's engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from wordrnn.cli.app import RUNTIME_HELP, app, err, out, quiet_tensorflow, warnings_to_stderr
from wordrnn.json_output import json_text
from wordrnn.cli.options import Layers, ModelOutput, Quiet, ReplaceModel, Seed, Units, finite
from wordrnn.config import CELLS

CELL_HELP = f"Recurrent cell: {', '.join(CELLS)}."


class EpochProgress:
    """Engine callback: one bar over epochs with the latest MSE (series epochs are short and many)."""

    def __init__(self, epochs: int, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = None if quiet else Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("mse {task.fields[mse]}"),
            TimeElapsedColumn(), console=err, transient=True)
        self.task = None if self.progress is None else self.progress.add_task("train", total=epochs, mse="-")

    def on_train_begin(self, info: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress.start()

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        if self.progress is not None:
            mse = record.get("val_loss", record["loss"])
            self.progress.update(self.task, completed=record["epoch"], mse=f"{mse:.3g}")

    def on_train_end(self, summary: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_json(data: dict[str, Any]) -> None:
    out.print_json(json_text(data))


@app.command()
def sine(
    cell: str = typer.Option("lstm", "--cell", help=CELL_HELP),
    units: int = typer.Option(16, "--units", help="Units of the recurrent layer."),
    points: int = typer.Option(36, "--points", help="Observed points sin(0)..sin(points-1) to train and prime on."),
    generate: int = typer.Option(36, "--generate", help="Points to generate after the observed ones."),
    epochs: int = typer.Option(1000, "--epochs", help="Most full-sequence training epochs."),
    until_mse: float = typer.Option(1e-5, "--until-mse", callback=finite, help="Stop once an epoch's training MSE is at most this (0: run every epoch)."),
    learning_rate: float = typer.Option(0.04, "--learning-rate", "--lr", callback=finite, help="Adam learning rate (high: every update sees the whole series)."),
    seed: Optional[int] = typer.Option(0, "--seed", help="Random seed (the same seed gives the same run)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the series and both prediction modes to this image (.png, .svg...)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    quiet: Quiet = False,
) -> None:
    """The classic demo: learn sin(x), prime on the observed points, then generate the continuation.

    Prints each generated point with its free-running prediction (fed back from the previous prediction), its one-step-ahead prediction (from the true previous value) and the true value, and the mean squared error of both modes.
    """
    from wordrnn.predict.forecast import run_sine

    if plot is not None:
        from wordrnn.cli.plotting import check_plot_path

        check_plot_path(plot)
    quiet_tensorflow()
    progress = EpochProgress(epochs, quiet or as_json)
    with warnings_to_stderr():
        result = run_sine(cell=cell, units=units, points=points, generate=generate, epochs=epochs,
                          until_mse=until_mse, learning_rate=learning_rate, seed=seed, callbacks=[progress])
    if plot is not None:
        from wordrnn.cli.plotting import plot_prediction

        plot_prediction(plot, result.x, result.truth, result.points, result.one_step, result.free_running,
                        fitted=result.fitted, title=f"sin(x): {cell} {units} units, {result.epochs} epochs")
    if as_json:
        _print_json({**result.to_json(), "plot": str(plot) if plot else None})
        return
    table = Table(title=f"sin(x) after priming on x = 0..{points - 1}")
    for name in ("x", "predicted", "one-step", "expected"):
        table.add_column(name, justify="right")
    for x, p, o, e in zip(result.generated_x, result.free_running, result.one_step, result.expected):
        table.add_row(str(x), f"{p:+.4f}", f"{o:+.4f}", f"{e:+.4f}")
    out.print(table)
    out.print(f"mse free-running (predicted): {result.mse:.6f}")
    out.print(f"mse one-step-ahead:           {result.mse_one_step:.6f}")
    out.print(f"trained {result.epochs} epochs in {result.train_seconds:.2f}s ({result.stopped}, "
              f"final training mse {result.final_loss:.2e})")
    if plot is not None:
        out.print(f"plot written to {plot}")


@app.command("train-series")
def train_series(
    csv_file: Path = typer.Argument(..., help="CSV file with a header row (or none: columns are then named 1, 2...)."),
    column: Optional[list[str]] = typer.Option(None, "--column", "-c", help="Column to learn (repeat for several; default: the only column)."),
    output: ModelOutput = Path("wordrnn-series"),
    cell: str = typer.Option("lstm", "--cell", help=CELL_HELP),
    layers: Layers = 1,
    units: Units = 32,
    epochs: int = typer.Option(300, "--epochs", help="Most passes over the series."),
    until_mse: float = typer.Option(0.0, "--until-mse", callback=finite, help="Stop once an epoch's MSE (on z-scored values) is at most this (0: never)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Most parallel contiguous streams (fewer for short series)."),
    window: int = typer.Option(50, "--window", help="Most steps per truncated-BPTT window (shorter for short series)."),
    learning_rate: float = typer.Option(0.01, "--learning-rate", "--lr", callback=finite, help="Adam learning rate."),
    valid_fraction: float = typer.Option(0.0, "--valid-fraction", callback=finite, help="Hold out this tail fraction for validation."),
    early_stopping: int = typer.Option(0, "--early-stopping", help="Stop after this many epochs without validation improvement (0: never)."),
    seed: Seed = None,
    force: ReplaceModel = False,
    quiet: Quiet = False,
    export: bool = typer.Option(True, "--export/--no-export", help="Also save a LiteRT export of the step (fast forecasts)."),
) -> None:
    """Train a next-value model on numeric CSV columns (values are z-scored; the scaling is saved)."""
    from wordrnn.cli.export import export_after_training
    from wordrnn.config import ModelConfig, TrainConfig
    from wordrnn.cli.progress import StopFlag
    from wordrnn.train.jobs import train_series as run

    model_config = ModelConfig(input_kind="series", cell=cell, layers=layers, units=units)
    train_config = TrainConfig(epochs=epochs, batch_size=batch_size, window=window, learning_rate=learning_rate,
                               valid_fraction=valid_fraction, early_stopping=early_stopping, lr_patience=0, seed=seed,
                               until_loss=until_mse)
    quiet_tensorflow()
    progress = EpochProgress(epochs, quiet)
    with StopFlag(err) as stop, warnings_to_stderr():
        summary = run(csv_file, output, columns=column, model_config=model_config, train_config=train_config,
                      force=force, callbacks=[progress], should_stop=stop,
                      after_save=export_after_training() if export else None)
    if not quiet:
        history = summary["history"]
        final = f", final mse {history[-1]['loss']:.4g}" if history else ""
        valid = f", best validation mse {summary['best']:.4g}" if history and "val_loss" in history[-1] else ""
        err.print(f"trained {summary['epochs']} epochs on {summary['train_values']} values in {summary['seconds']:.1f}s "
                  f"(batch {summary['batch_size']} x window {summary['window']}{final}{valid}); saved to {output}")


@app.command()
def forecast(
    model: Path = typer.Argument(..., help="Model directory made by `wordrnn train-series`."),
    steps: int = typer.Option(10, "--steps", "-n", help="Points to forecast."),
    input_file: Optional[Path] = typer.Option(None, "--input", help="CSV with the model's columns to prime on (default: the training series stored with the model)."),
    prime: Optional[int] = typer.Option(None, "--prime", help="Prime on only the last N observed values (default: all)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the observed values and the forecast to this image."),
    as_json: bool = typer.Option(False, "--json", help="Print the forecast as JSON."),
    runtime: str = typer.Option("auto", "--runtime", help=RUNTIME_HELP),
) -> None:
    """Prime a series model on observed values, then forecast by feeding each prediction back."""
    from wordrnn.predict.forecast import forecast as run

    if plot is not None:
        from wordrnn.cli.plotting import check_plot_path

        check_plot_path(plot)
    quiet_tensorflow()
    with warnings_to_stderr():
        result = run(model, steps, input_path=input_file, prime_steps=prime, runtime=runtime)
    if plot is not None:
        from wordrnn.cli.plotting import plot_forecast

        plot_forecast(plot, result.observed, result.forecast, result.columns, fitted=result.fitted,
                      title=f"forecast of {', '.join(result.columns)}")
    if as_json:
        _print_json({**result.to_json(), "plot": str(plot) if plot else None})
        return
    table = Table(title=f"forecast after priming on {len(result.observed)} values")
    table.add_column("step", justify="right")
    for name in result.columns:
        table.add_column(name, justify="right")
    for i, row in enumerate(result.forecast, start=1):
        table.add_row(f"+{i}", *(f"{v:.6g}" for v in row))
    out.print(table)
    if plot is not None:
        out.print(f"plot written to {plot}")
