"""Drawing one index in proportion to a vector of weights: the last step of sampling a word.

Kept apart (NumPy only) so the samplers of ``predict`` and the mixture's parts share it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_BLOCK = 128  # about this many words per block of ``draw``'s two-level search


@lru_cache(maxsize=8)
def _layout(size: int) -> tuple[int, int]:
    """(block, full) for a vector of ``size``: the block length, and how many words the whole blocks hold.

    A block length that divides ``size`` (from 3/4 to 5/4 of ``_BLOCK``, the nearest to it first)
    leaves no partial last block, whose separate sum would cost as much as all the others together
    (20,000 = 160 x 125).
    """
    for block in range(_BLOCK, _BLOCK * 3 // 4 - 1, -1):
        for length in (block, 2 * _BLOCK - block):
            if size % length == 0:
                return length, size
    return _BLOCK, size - size % _BLOCK


@lru_cache(maxsize=8)
def _ones(dtype: np.dtype, block: int) -> np.ndarray:
    """The vector that turns blocks into their sums (shared: never written to)."""
    return np.ones(block, dtype)


def draw(weights: np.ndarray, rng: np.random.Generator) -> int:
    """An index drawn in proportion to non-negative ``weights`` (zero-weight indices never, unless all are).

    Two levels: the sums of blocks of about 128 words, their running total to find the block holding
    the draw, then a running total over that block's words. A full cumulative sum over a 20k-word
    vocabulary is an element-by-element loop and cost more than the rest of the mixture; the block
    sums are one matrix-vector product (BLAS, vectorised). Generation calls this once a word, between
    two steps of the network, so every NumPy call counts (each costs about a microsecond).
    """
    weights = np.asarray(weights).reshape(-1)
    if weights.dtype.kind != "f":
        weights = weights.astype(np.float64)
    size = len(weights)
    block, full = _layout(size)
    # block sums in the weights' own precision (a 128-word sum loses nothing a draw could notice),
    # their running total in float64
    running = (weights[:full].reshape(-1, block) @ _ones(weights.dtype, block)).astype(np.float64).cumsum()
    head = float(running[-1]) if full else 0.0
    tail = float(weights[full:].sum()) if full < size else 0.0
    target = rng.random() * (head + tail)
    if not full or (tail and target >= head):  # the partial last block (or the only one)
        first, offset = full, target - head
    else:
        index = min(int(running.searchsorted(target, side="right")), len(running) - 1)
        while index and running[index] == running[index - 1]:  # rounding put the draw past the last block with mass
            index -= 1
        first, offset = index * block, target - (running[index - 1] if index else 0.0)
    inside = weights[first:first + block].astype(np.float64).cumsum()
    index = min(int(inside.searchsorted(offset, side="right")), len(inside) - 1)
    while index and inside[index] == inside[index - 1]:  # never an index without mass
        index -= 1
    return first + index
