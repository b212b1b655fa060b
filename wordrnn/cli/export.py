"""``wordrnn export``: write (or refresh) a model directory's LiteRT export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from wordrnn.cli.app import app, cli_text, err, out, quiet_tensorflow
from wordrnn.json_output import json_text


def export_after_training(announce: Callable[[str], None] = lambda stage: None) -> Callable[[Path], None]:
    """The ``after_save`` hook of ``wordrnn train`` and ``train-series``: export the saved model.

    A failed export only warns: the model itself is saved and `wordrnn export` can retry.
    """

    def export_step(directory: Path) -> None:
        from wordrnn.errors import WordRNNError
        from wordrnn.runtime.export import export_model

        announce("exporting the step for LiteRT")
        try:
            export_model(directory, lock=False)  # the training job holds the lock
        except WordRNNError as exc:
            err.print(f"[yellow]warning:[/] {cli_text(exc)}; the model is saved, retry with `wordrnn export {directory}`")

    return export_step


@app.command("export")
def export_command(
    model: Path = typer.Argument(..., help="Model directory to export (made by `wordrnn train`)."),
    quantize: str = typer.Option(
        "none", "--quantize",
        help="none: float32, same probabilities as TensorFlow (within 1e-4). float16: half the size, "
             "probabilities within ~1e-3 of their value. dynamic: int8 weights, about "
             "1/4 of the size; probabilities move by up to ~3e-3 and the top-3 words agree at >99% of positions.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the export's description as JSON."),
    weights_in_export: bool = typer.Option(
        False, "--weights-in-export",
        help="Keep the weights once: those the export holds exactly are read from it, and the weights file keeps "
             "only the rest (about half the directory's size; needs --quantize none for float32 weights, or float16 "
             "for float16 weights)."),
) -> None:
    """Convert a model's single step to LiteRT so complete/generate/repl start without TensorFlow."""
    from wordrnn.runtime.export import QUANTIZE_MODES, export_model

    if quantize not in QUANTIZE_MODES:
        from wordrnn.errors import ConfigError

        raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}, got {quantize!r}")
    quiet_tensorflow()
    info = export_model(model, quantize, weights_in_export=weights_in_export)
    if as_json:
        out.print_json(json_text(info))
        return
    check = info["check"]
    agreement = f", top-3 agreement {check['top3_agreement']:.1%}" if "top3_agreement" in check else ""
    kept = ", the weights kept in it" if info.get("weight_tensors") else ""
    out.print(f"exported {model} ({quantize}): {info['bytes'] / 1e6:.2f} MB{kept}, "
              f"max difference from TensorFlow {check['max_abs_diff']:.1e}{agreement}")
