"""What a model directory says about itself: the manifest fields that describe a model.

Whatever makes a model (``wordrnn train``, ``train-series``, ``baseline train``) writes them
with ``model_meta``, so every directory carries its kind, its configs, what it was trained on
and the wordrnn version that wrote it; ``wordrnn info`` reads them back with ``describe``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wordrnn import __version__
from wordrnn.config import to_dict
from wordrnn.errors import ModelFormatError

# The JSON type of each descriptive field a reader uses; a field may be absent or null.
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("config", "corpus", "strategy", "training", "interpolation", "lexicon", "litert", "series"), (dict,)),
    **dict.fromkeys(("kind", "written", "wordrnn_version"), (str,)),
    **dict.fromkeys(("generation", "parameters"), (int,)),
}


def check_field_types(path: str | Path, manifest: Mapping[str, Any]) -> None:
    """Refuse a manifest whose descriptive fields have the wrong JSON type (``"litert": "x"``).

    Every reader (``info``, the runtimes, the mixture) then may take a field's type for granted;
    an edited or damaged manifest is one clear error here, not an AttributeError wherever it is used.
    """
    for key, types in FIELD_TYPES.items():
        value = manifest.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            wanted = {dict: "an object", str: "a string", int: "a whole number"}[types[0]]
            raise ModelFormatError(f"{path}: the manifest's {key!r} field is not {wanted}; the model directory is "
                                   "damaged, retrain or restore it")


NGRAM_KIND = "ngram"  # the kind of an n-gram baseline directory (evaluation/baseline.py): no network in it


def model_meta(kind: str, configs: Mapping[str, Any], corpus: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A model's descriptive manifest fields, in the layout ``SavedModel.load`` and ``info`` read.

    Args:
        kind: "tokens", "series" or "ngram": what loaders and ``info`` go by.
        configs: the ``config`` sections by name; config records are stored as plain dicts.
        corpus: what the model was trained on (files, token counts...).
        fields: more top-level fields (``parameters``, ``series``...).
    """
    sections = {name: to_dict(c) if dataclasses.is_dataclass(c) else c for name, c in configs.items()}
    return {"kind": kind, "wordrnn_version": __version__, "config": sections, "corpus": corpus, **fields}


def describe(path: str | Path, manifest: dict[str, Any], **read: Any) -> dict[str, Any]:
    """What ``wordrnn info`` shows of a model directory: one set of keys for every kind of model.

    ``read`` holds what the caller read beyond the manifest (vocabulary size, history, metrics,
    card...); anything not given is the manifest's entry or empty.
    """
    return {
        "path": str(path),
        "kind": manifest.get("kind"),
        "written": manifest.get("written"),
        "wordrnn_version": manifest.get("wordrnn_version"),
        "parameters": manifest.get("parameters"),
        "vocab_size": None,
        "config": manifest.get("config"),
        "corpus": manifest.get("corpus"),
        "history": [],
        "metrics": {},
        "card": None,
        "litert": manifest.get("litert"),
        "interpolation": manifest.get("interpolation"),
        **read,
    }
