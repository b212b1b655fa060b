"""``wordrnn export``: write (or refresh) a model directory's LiteRT export."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .cli import app, out, quiet_tensorflow


@app.command("export")
def export_command(
    model: Path = typer.Argument(..., help="Model directory to export (made by `wordrnn train`)."),
    quantize: str = typer.Option(
        "none", "--quantize",
        help="none: float32, same probabilities as TensorFlow (within 1e-4). dynamic: int8 weights, about "
             "1/4 of the size; probabilities move by ~1e-3 and the top-3 words agree at ~99% of positions.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the export's description as JSON."),
) -> None:
    """Convert a model's single step to LiteRT so complete/generate/repl start without TensorFlow."""
    from .export import QUANTIZE_MODES, export_model

    if quantize not in QUANTIZE_MODES:
        from .errors import ConfigError

        raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}, got {quantize!r}")
    quiet_tensorflow()
    info = export_model(model, quantize)
    if as_json:
        out.print_json(json.dumps(info))
        return
    check = info["check"]
    agreement = f", top-3 agreement {check['top3_agreement']:.1%}" if "top3_agreement" in check else ""
    out.print(f"exported {model} ({quantize}): {info['bytes'] / 1e6:.2f} MB, "
              f"max difference from TensorFlow {check['max_abs_diff']:.1e}{agreement}")
