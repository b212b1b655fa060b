"""Fitting the mixture's weights per context bucket, from the targets' probabilities alone.

The likelihood of a text under the mixture only needs each model's probability of each
target, so the network runs once and the fit is pure NumPy. Positions are grouped by the
bucket of their history count (``mixture_settings``); each bucket gets the pair that
maximises its own likelihood (``mixture.fit_weights``, the same grid search as the global
fit), because the buckets' likelihoods add up and do not interact. A bucket with too few
positions would be fitted to noise, so it keeps the global pair instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_BUCKET_POSITIONS = 200  # fewer positions than this: the bucket keeps the global pair


@dataclass(frozen=True)
class BucketFit:
    """The fitted weights: one (cache, n-gram) pair per bucket, and the global pair they fall back on.

    ``positions`` counts each bucket's positions, ``fallback`` marks the buckets that kept the
    global pair; ``ppl`` is the perplexity with the bucket pairs, ``global_ppl`` with the global one.
    """

    cache: tuple[float, ...]
    ngram: tuple[float, ...]
    positions: tuple[int, ...]
    fallback: tuple[bool, ...]
    global_cache: float
    global_ngram: float
    global_ppl: float
    ppl: float


def mixed_targets(net: np.ndarray, cache: np.ndarray | None, fill_share: np.ndarray | None,
                  ngram: np.ndarray | None, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """The mixture's probability of each target: ``(1 - a g - b) net + a g cache + b ngram``, per position."""
    mixed = np.asarray(net, np.float64).copy()
    if cache is not None:
        mixed += a * np.asarray(fill_share) * (np.asarray(cache) - net)
    if ngram is not None:
        mixed += b * (np.asarray(ngram, np.float64) - net)
    return mixed


def fit_by_bucket(net: np.ndarray, cache: np.ndarray | None, fill_share: np.ndarray | None,
                  ngram: np.ndarray | None, buckets: np.ndarray, count: int,
                  min_positions: int = MIN_BUCKET_POSITIONS) -> BucketFit:
    """Fit one pair per bucket ``0..count-1`` (``buckets`` gives each position's), the global pair first.

    Args:
        net, cache, ngram: each model's probability of every target (``cache``/``ngram`` None: unused).
        fill_share: the cache's ``n / (n + K)`` at every position (with ``cache``).
        min_positions: buckets with fewer positions keep the global pair.
    """
    from wordrnn.runtime.mixture import fit_weights

    global_a, global_b, global_ppl = fit_weights(net, cache, fill_share, ngram)
    buckets = np.asarray(buckets)
    pairs, sizes, fallback = [], [], []
    for bucket in range(count):
        rows = np.flatnonzero(buckets == bucket)
        sizes.append(len(rows))
        fallback.append(len(rows) < min_positions)
        if fallback[-1] or len(rows) == len(buckets):  # too few, or the global fit already
            pairs.append((global_a, global_b))
            continue
        a, b, _ = fit_weights(*(None if x is None else np.asarray(x)[rows] for x in (net, cache, fill_share, ngram)))
        pairs.append((a, b))
    a_rows = np.array([a for a, _ in pairs])[buckets]
    b_rows = np.array([b for _, b in pairs])[buckets]
    mixed = mixed_targets(net, cache, fill_share, ngram, a_rows, b_rows)
    ppl = float(np.exp(-np.log(np.maximum(mixed, 1e-300)).mean()))
    return BucketFit(tuple(a for a, _ in pairs), tuple(b for _, b in pairs), tuple(sizes), tuple(fallback),
                     global_a, global_b, global_ppl, ppl)
