"""The mixture's settings as stored in a model's manifest (``"interpolation"``): weights per context bucket.

One pair of weights (cache a, trigram b) for every context wastes the trigram: where it has
seen the two-word history hundreds of times it is sharp and deserves weight, where it never
saw it it only backs off to a bigram and deserves little. So the weights may depend on the
*history count* c(u v), how often the trigram's history was seen in its training text,
through a few buckets with lower edges ``edges``: with the default edges (1, 3, 10, 100, 1000)
the buckets are unseen (or pruned), 1-2, 3-9, 10-99, 100-999 and 1000+ times.

JSON layout (every key but the first four optional, so manifests written before the buckets
load unchanged and mix exactly as before)::

    {"cache": a, "ngram": b, "cache_decay": d, "cache_fill": K,
     "buckets": {"edges": [1, 3, ...], "cache": [a0, a1, ...], "ngram": [b0, b1, ...]},
     "fitted_on": {"files": ["dev.txt"], "sha256": "..."},
     "pointer": {"weight": l, "theta": t, "size": N}}

With buckets, ``cache``/``ngram`` hold the one-pair fit: what a reader that predates buckets
uses, and the fallback the fitting gave to buckets with too few positions.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from wordrnn.errors import ModelFormatError

BUCKET_EDGES = (1, 3, 10, 100, 1000)  # decades of history counts, with a 1-2 bucket for the rarest
DAMAGED = "; the model directory is damaged"
MAX_THETA = 100.0
MAX_POINTER_SIZE = 5000  # pairs: 5000 x 256 float32 keys are 5 MB of state per stream


def _damaged(what: str) -> ModelFormatError:
    return ModelFormatError(f"the model's interpolation {what}{DAMAGED}")


@dataclass(frozen=True)
class FittedOn:
    """Which text the weights were fitted on: names as given, SHA-256 of the text's bytes (files in order)."""

    files: tuple[str, ...]
    sha256: str

    def __post_init__(self) -> None:
        if not (all(isinstance(f, str) for f in self.files) and isinstance(self.sha256, str)
                and re.fullmatch(r"[0-9a-f]{64}", self.sha256)):
            raise _damaged("fitting text record is malformed")


@dataclass(frozen=True)
class Interpolation:
    """Mixture weights (what is left goes to the network), the cache's per-word decay and fill constant.

    Args:
        cache, ngram: the weights used in every context when there are no buckets.
        edges: lower history-count edges of buckets 1.. (bucket 0 is below the first edge); empty: no buckets.
        bucket_cache, bucket_ngram: one weight per bucket (``len(edges) + 1``), empty without buckets.
        fitted_on: the text the weights were fitted on (for the same-text warning of ``evaluate``).
        pointer, pointer_theta, pointer_size: the continuous cache's weight lambda, sharpness theta
            and number of (hidden state, word) pairs kept (``runtime.pointer``); size 0: none.
    """

    cache: float = 0.0
    ngram: float = 0.0
    cache_decay: float = 0.995
    cache_fill: float = 50.0
    edges: tuple[int, ...] = ()
    bucket_cache: tuple[float, ...] = ()
    bucket_ngram: tuple[float, ...] = ()
    fitted_on: FittedOn | None = None
    pointer: float = 0.0
    pointer_theta: float = 1.0
    pointer_size: int = 0

    def __post_init__(self) -> None:
        pairs = [(self.cache, self.ngram), *zip(self.bucket_cache, self.bucket_ngram)]
        if not (all(0 <= a < 1 and 0 <= b < 1 and a + b < 1 for a, b in pairs) and 0 < self.cache_decay < 1
                and 0 <= self.cache_fill < math.inf):
            raise _damaged("weights are out of range")
        if not (0 <= self.pointer < 1 and 0 < self.pointer_theta <= MAX_THETA
                and 0 <= self.pointer_size <= MAX_POINTER_SIZE):
            raise _damaged("continuous cache settings are out of range")
        buckets = len(self.edges) + 1 if self.edges else 0
        if len(self.bucket_cache) != buckets or len(self.bucket_ngram) != buckets:
            raise _damaged("buckets do not match their edges")
        if any(low >= high for low, high in zip(self.edges, self.edges[1:])) or (self.edges and self.edges[0] < 1):
            raise _damaged("bucket edges are not increasing counts of 1 or more")

    @cached_property  # asked at every generated word
    def active(self) -> bool:
        """Whether the mixture changes the network's distribution at all."""
        return self.uses_pointer or any(w > 0 for w in (self.cache, self.ngram, *self.bucket_cache, *self.bucket_ngram))

    @property
    def uses_pointer(self) -> bool:
        """Whether the continuous cache takes part (a weight and room for pairs)."""
        return self.pointer > 0 and self.pointer_size > 0

    @property
    def needs_ngram(self) -> bool:
        """Whether mixing needs the n-gram: it is weighted, or its history counts choose the bucket."""
        return bool(self.edges) or any(w > 0 for w in (self.ngram, *self.bucket_ngram))

    def bucket_of(self, counts: np.ndarray) -> np.ndarray:
        """The bucket (0..len(edges)) of each history count."""
        return bucket_of(counts, self.edges)

    def row_weights(self, counts: np.ndarray | None, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """(cache, n-gram) weights, (rows,) each, for contexts with these history counts (None: no buckets)."""
        if not self.edges:
            return np.full(rows, self.cache), np.full(rows, self.ngram)
        bucket = self.bucket_of(counts)
        return np.asarray(self.bucket_cache)[bucket], np.asarray(self.bucket_ngram)[bucket]

    def weights_for(self, count: float | None) -> tuple[float, float]:
        """``row_weights`` for one context with history count ``count`` (None: no buckets)."""
        if not self.edges:
            return self.cache, self.ngram
        bucket = bisect.bisect_right(self.edges, count)
        return self.bucket_cache[bucket], self.bucket_ngram[bucket]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"cache": self.cache, "ngram": self.ngram, "cache_decay": self.cache_decay,
                                "cache_fill": self.cache_fill}
        if self.edges:
            data["buckets"] = {"edges": list(self.edges), "cache": list(self.bucket_cache),
                               "ngram": list(self.bucket_ngram)}
        if self.fitted_on is not None:
            data["fitted_on"] = {"files": list(self.fitted_on.files), "sha256": self.fitted_on.sha256}
        if self.pointer_size:
            data["pointer"] = {"weight": self.pointer, "theta": self.pointer_theta, "size": self.pointer_size}
        return data

    @classmethod
    def from_json(cls, data: Any) -> Interpolation:
        """Settings from a manifest; anything malformed raises ``ModelFormatError`` (damaged directory)."""
        if not isinstance(data, dict):
            raise _damaged("settings are not an object")
        scalars = [_number(data.get(key, default), key) for key, default in
                   (("cache", 0.0), ("ngram", 0.0), ("cache_decay", 0.995), ("cache_fill", 50.0))]
        buckets = data.get("buckets")
        edges: tuple[int, ...] = ()
        bucket_cache: tuple[float, ...] = ()
        bucket_ngram: tuple[float, ...] = ()
        if buckets is not None:
            if not isinstance(buckets, dict):
                raise _damaged("buckets are not an object")
            edges = tuple(_count(e) for e in _list(buckets.get("edges"), "bucket edges"))
            bucket_cache = tuple(_number(w, "cache") for w in _list(buckets.get("cache"), "bucket cache weights"))
            bucket_ngram = tuple(_number(w, "ngram") for w in _list(buckets.get("ngram"), "bucket n-gram weights"))
        return cls(*scalars, edges, bucket_cache, bucket_ngram, _fitted_on(data.get("fitted_on")),
                   **_pointer(data.get("pointer")))


def bucket_of(counts: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    """The bucket of each history count: how many of the lower ``edges`` it reaches (0 below the first)."""
    return np.searchsorted(np.asarray(edges, np.float64), np.asarray(counts, np.float64), side="right")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _damaged(f"{what} setting is not a finite number")
    return float(value)


def _count(value: Any, what: str = "bucket edges are") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _damaged(f"{what} not a whole number" if what.endswith(" is") else f"{what} not whole numbers")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _damaged(f"{what} are not a list")
    return value


def _pointer(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _damaged("continuous cache settings are not an object")
    return {"pointer": _number(value.get("weight"), "continuous cache weight"),
            "pointer_theta": _number(value.get("theta"), "continuous cache theta"),
            "pointer_size": _count(value.get("size"), "continuous cache size is")}


def _fitted_on(value: Any) -> FittedOn | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _damaged("fitting text record is not an object")
    return FittedOn(tuple(_list(value.get("files"), "fitting text files")), value.get("sha256"))
