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
