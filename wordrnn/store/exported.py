"""Weights kept once, in the model's LiteRT export, and read back from it by name.

A float16 export of float16 weights holds nearly every weight exactly (some transposed: a fully
connected layer stores its matrix as (out, in)), so a full weights file is the same numbers a second
time. ``wordrnn export --weights-in-export`` records, for each weight, the export tensor equal to it
(found by value, never assumed from the converter's names) and rewrites the weights file with only
the rest (biases the converter folded into others: kilobytes); ``SavedModel.weights`` joins the two
through this module. The bundled model is stored this way, at about half the size.

The tensors are read with LiteRT's interpreter without allocating or delegating anything, so
reading the weights of a 6 MB export costs about a millisecond and runs no graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.errors import ModelFormatError
from wordrnn.store.reading import read_manifest

EXPORT_STEM = "litert"  # files["litert"] -> litert-NNNNNN.tflite; manifest["litert"] -> what it is
WEIGHTS_KEY = "weight_tensors"  # the export's manifest entry: weight path -> [tensor name, transposed]


def constant_tensors(content: bytes) -> dict[str, np.ndarray]:
    """Every constant tensor of a LiteRT flatbuffer by name (tensors without data left out)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as exc:
        raise ModelFormatError(f"the LiteRT runtime is not available ({exc}); install it with "
                               "`pip install ai-edge-litert` to read weights kept in an export") from None
    try:
        interpreter = Interpreter(model_content=content,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except (ValueError, RuntimeError) as exc:
        raise ModelFormatError(f"the LiteRT export cannot be read ({str(exc).splitlines()[0]})") from None
    found = {}
    for detail in interpreter.get_tensor_details():
        try:
            found[str(detail["name"])] = interpreter.get_tensor(detail["index"])
        except ValueError:  # an intermediate tensor: no data
            continue
    return found


def find_weight_tensors(content: bytes, weights: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    """For each weight the export holds exactly (same dtype and values, maybe transposed), the
    tensor that holds it: ``path -> [name, transposed]``. Weights the converter folded into
    others (a bias added into the next layer's) or rounded (a float16 export of float32 weights)
    are left out: they stay in the weights file."""
    tensors = constant_tensors(content)
    mapping: dict[str, list[Any]] = {}
    for path, array in weights.items():
        for transposed, wanted in ((False, array), (True, array.T)):
            name = next((name for name, value in tensors.items() if value.shape == wanted.shape
                         and value.dtype == wanted.dtype and np.array_equal(value, wanted)), None)
            if name is not None:
                mapping[path] = [name, transposed]
                break
    return mapping


def read_weights(content: bytes, mapping: Any, where: str) -> dict[str, np.ndarray]:
    """The weights ``mapping`` (the manifest's ``weight_tensors``) names, read from the export ``content``."""
    if not isinstance(mapping, dict) or not all(
            isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) for v in mapping.values()):
        raise ModelFormatError(f"{where}: the manifest's record of the weights kept in the LiteRT export is damaged")
    tensors = constant_tensors(content)
    missing = [name for name, _ in mapping.values() if name not in tensors]
    if missing:
        raise ModelFormatError(f"{where}: the LiteRT export, which keeps this model's weights, lacks the tensor "
                               f"{missing[0]!r}; the model directory is damaged (reinstall or retrain it)")
    return {path: np.ascontiguousarray(tensors[name].T if transposed else tensors[name])
            for path, (name, transposed) in mapping.items()}


def made_from_present_weights(manifest: dict[str, Any]) -> bool:
    """The manifest's LiteRT export was made from the weights file the manifest names now (a save
    of other weights since makes it stale)."""
    info = manifest.get(EXPORT_STEM)
    return isinstance(info, dict) and info.get("weights") == (manifest.get("files") or {}).get("weights")


def export_is_current(directory: Path) -> bool:
    """The model's LiteRT export is there and made from its present weights (so a resume that trained
    nothing, a run already finished or early stopped, leaves it as it is instead of redoing it)."""
    try:
        manifest = read_manifest(directory)
    except (ModelFormatError, OSError):  # no model yet, or an unreadable one: exporting says what is wrong
        return False
    return EXPORT_STEM in (manifest.get("files") or {}) and made_from_present_weights(manifest)
