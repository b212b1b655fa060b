"""Choosing the next word from a probability vector: greedy, temperature, top-k, nucleus.

NumPy only, so it sits below the predictor and runs the same on every runtime.
Filters apply in the usual order (temperature, then top-k, then top-p) and
work in float64 so that 10k-word vectors with tiny tails still sum to one.
Randomness comes from one ``numpy.random.Generator`` per sampler, so a seed
reproduces a whole generated text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from wordrnn.errors import ConfigError, option
from wordrnn.runtime.draw import draw


_REDRAWS = 64  # draws of a banned id before sampling from the dense vector instead (p(banned) ~ 1)


def check_k(k: int, name: str = option("k")) -> int:
    """Validate a number of suggestions (or beam width) before any model is loaded.

    ``name`` is what the message calls it: an ``option(...)`` marker, or the REPL's ``:k``.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"{name} must be a whole number of 1 or more, got {k!r}")
    return int(k)


def check_options(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                  seed: int | None = None) -> None:
    """Raise ``ConfigError`` for sampling options out of range (checked before the model loads)."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0 \
            or not np.isfinite(temperature):
        raise ConfigError(f"{option('temperature')} must be a number above 0, got {temperature!r} "
                          f"(use {option('top_k', 1)} for greedy)")
    if top_k is not None:
        check_k(top_k, option("top_k"))
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ConfigError(f"{option('top_p')} must be above 0 and at most 1, got {top_p!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ConfigError(f"{option('seed')} must be a whole number of 0 or more, got {seed!r}")


MAX_TRAINING_SEED = 2**32 - 1  # Keras seeds NumPy's legacy RandomState, which takes no more


def check_training_seed(seed: int | None) -> None:
    """Raise ``ConfigError`` for a seed training cannot use (checked before anything is built).

    Sampling takes any seed of 0 or more, but training seeds Keras, which refuses anything outside
    0..2**32-1 with a ValueError deep inside NumPy: said here, in terms of the option.
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or not 0 <= seed <= MAX_TRAINING_SEED):
        raise ConfigError(f"{option('seed')} must be a whole number from 0 to {MAX_TRAINING_SEED}, got {seed!r}")


def top_ids(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, best first (ties: lower index first).

    ``argpartition`` keeps this O(V) for a large vocabulary and a small k.
    """
    scores = np.asarray(scores)
    if k < len(scores):
        candidates = np.argpartition(-scores, k - 1)[:k]
    else:
        candidates = np.arange(len(scores))
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order]


def mask(probs: np.ndarray, banned: Sequence[int] | np.ndarray = ()) -> np.ndarray:
    """A float64 copy of a (V,) probability vector with ``banned`` ids set to zero."""
    out = np.array(probs, dtype=np.float64).reshape(-1)
    if len(banned):
        out[np.asarray(banned, dtype=np.int64)] = 0.0
    return out


def filtered(probs: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None) -> np.ndarray:
    """The distribution actually sampled from: reshaped by temperature, cut by top-k and top-p.

    Args:
        probs: (V,) non-negative weights (need not sum to one; zeros stay zero).
        temperature: below 1 sharpens, above 1 flattens (applied as ``p ** (1 / T)``).
        top_k: keep only the k most probable words.
        top_p: keep the smallest set of most probable words whose mass reaches ``top_p`` (nucleus).
    Returns:
        (V,) float64 probabilities summing to one.
    """
    p = np.array(probs, dtype=np.float64).reshape(-1)
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            logits = np.log(p) / temperature
        if np.isfinite(logits.max()):
            p = np.exp(logits - logits.max())
    if top_k is not None and top_k < len(p):
        keep = np.argpartition(-p, top_k - 1)[:top_k]
        cut = np.zeros_like(p)
        cut[keep] = p[keep]
        p = cut
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-p)  # introsort: deterministic, 4x faster than stable on 10k words
        mass = np.cumsum(p[order])
        last = int(np.searchsorted(mass, top_p * mass[-1]))
        cut = np.zeros_like(p)
        keep = order[: last + 1]
        cut[keep] = p[keep]
        p = cut
    total = p.sum()
    if not total > 0:  # everything masked or underflowed: fall back to the single best word
        p = np.zeros_like(p)
        p[int(np.argmax(probs))] = 1.0
        return p
    return p / total


class Sampler:
    """Picks one word id per step; call it with a (V,) or (1, V) probability vector.

    Args:
        temperature, top_k, top_p: see ``filtered``; ``top_k=1`` is greedy (no randomness used).
        seed: seeds the private ``numpy.random.Generator`` (None: fresh entropy).
        banned: ids never produced (the predictor passes ``<unk>``).
    """

    def __init__(self, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 seed: int | None = None, banned: Sequence[int] = ()) -> None:
        check_options(temperature, top_k, top_p, seed)
        self.temperature = float(temperature)
        self.top_k = top_k
        self.top_p = top_p
        self.banned = np.asarray(banned, dtype=np.int64)
        self._banned_set = frozenset(int(i) for i in self.banned)
        self.rng = np.random.default_rng(seed)

    @property
    def greedy(self) -> bool:
        return self.top_k == 1

    @property
    def plain(self) -> bool:
        """Sampling from the distribution as it is (no temperature, top-k or top-p reshaping it)."""
        return self.temperature == 1.0 and self.top_k is None and self.top_p is None

    def __call__(self, probs: np.ndarray | Any) -> int:
        """One id from a (V,) or (1, V) probability vector, or from a distribution kept as parts.

        When nothing reshapes the distribution, it is drawn from as it is (``_plain``): a vector
        directly, a distribution with a ``sample(rng)`` method (``runtime.mixture.MixtureParts``)
        from its parts. Otherwise a masked copy of the vector (a ``dense()`` one for parts) is.
        """
        parts = hasattr(probs, "sample")
        if self.plain:
            index = self._plain(probs, parts)
            if index is not None:
                return index
        if parts:
            probs = probs.dense()
        p = mask(probs, self.banned)
        if self.greedy:
            return int(np.argmax(p))
        if self.temperature != 1.0 or self.top_k is not None or self.top_p is not None:
            p = filtered(p, self.temperature, self.top_k, self.top_p)
        if not p.sum() > 0:  # every allowed word underflowed to zero: take the first allowed one
            return int(np.argmax(p))
        return draw(p, self.rng)

    def _plain(self, probs: np.ndarray | Any, parts: bool) -> int | None:
        """A draw from the distribution as it is, a banned id being drawn again (which leaves exactly
        the distribution renormalised without it); None when banned ids hold nearly all the mass, or
        (a dense vector) none has any, for the masked path to settle.

        What generation does at every word: no (V,) copy or mask, one ``draw``.
        """
        rng = self.rng
        flat = None if parts else np.asarray(probs).reshape(-1)
        for _ in range(_REDRAWS):
            index = probs.sample(rng) if parts else draw(flat, rng)
            if index not in self._banned_set:
                return index if parts or flat[index] > 0 else None
        return None


def greedy(probs: np.ndarray, banned: Sequence[int] = ()) -> int:
    """The most probable id that is not banned."""
    return int(np.argmax(mask(probs, banned)))
