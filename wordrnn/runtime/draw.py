"""Drawing one index in proportion to a vector of weights: the last step of sampling a word.

Kept apart (NumPy only) so the samplers of ``predict`` and the mixture's parts share it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_BLOCK = 128  # words per block of ``draw``'s two-level search


@lru_cache(maxsize=8)
def _block_starts(size: int) -> np.ndarray:
    return np.arange(0, size, _BLOCK)


def draw(weights: np.ndarray, rng: np.random.Generator) -> int:
    """An index drawn in proportion to non-negative ``weights`` (zero-weight indices never).

    Two levels: block sums (one vectorised ``reduceat``), a cumulative sum over the blocks to find
    the block holding the draw, then one over that block's words; a full cumulative sum over a
    20k-word vocabulary is an element-by-element loop and cost more than the rest of the mixture.
    """
    weights = np.asarray(weights).reshape(-1)
    starts = _block_starts(len(weights))
    # block sums in the weights' own precision (half the time of float64 for float32 weights; a
    # 128-word sum loses nothing a draw could notice), their running total in float64
    sums = np.cumsum(np.add.reduceat(weights, starts), dtype=np.float64)
    draw = rng.random() * sums[-1]
    block = min(int(sums.searchsorted(draw, side="right")), len(starts) - 1)
    while block and sums[block] == sums[block - 1]:  # rounding put the draw past the last block with mass
        block -= 1
    first = block * _BLOCK
    inside = np.cumsum(weights[first:first + _BLOCK], dtype=np.float64)
    offset = draw - (sums[block - 1] if block else 0.0)
    index = min(int(inside.searchsorted(offset, side="right")), len(inside) - 1)
    while index and inside[index] == inside[index - 1]:  # never an index without mass
        index -= 1
    return first + index
