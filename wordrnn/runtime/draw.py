"""Drawing one index in proportion to a vector of weights: the last step of sampling a word.

Kept apart (NumPy only) so the samplers of ``predict`` and the mixture's parts share it.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 128  # words per block of ``draw``'s two-level search


def draw(weights: np.ndarray, rng: np.random.Generator) -> int:
    """An index drawn in proportion to non-negative ``weights`` (zero-weight indices never).

    Two levels: block sums (vectorised), a cumulative sum over the blocks to find the block
    holding the draw, then one over that block's words; a full cumulative sum over a 20k-word
    vocabulary is an element-by-element loop and cost more than the rest of the mixture.
    """
    weights = np.asarray(weights).reshape(-1)
    size = len(weights)
    blocks = -(-size // _BLOCK)
    padded = weights if size == blocks * _BLOCK else np.concatenate([weights, np.zeros(blocks * _BLOCK - size, weights.dtype)])
    sums = np.cumsum(padded.reshape(blocks, _BLOCK).sum(axis=1, dtype=np.float64))
    draw = rng.random() * sums[-1]
    block = min(int(np.searchsorted(sums, draw, side="right")), blocks - 1)
    while block and sums[block] == sums[block - 1]:  # rounding put the draw past the last block with mass
        block -= 1
    inside = np.cumsum(padded[block * _BLOCK:(block + 1) * _BLOCK], dtype=np.float64)
    offset = draw - (sums[block - 1] if block else 0.0)
    index = min(int(np.searchsorted(inside, offset, side="right")), _BLOCK - 1)
    while index and inside[index] == inside[index - 1]:  # never an index without mass
        index -= 1
    return min(block * _BLOCK + index, size - 1)
