"""Contiguous parallel streams for truncated back-propagation through time.

A sequence of N steps has N-1 (input, target) pairs. They are cut into
``batch_size`` contiguous streams (lengths differ by at most one), and each
stream is read in windows of ``window`` steps. Window k of every stream follows
window k-1 directly, so the recurrent state at the end of one window is the
right initial state for the next. Positions past a stream's end are padded and
carry zero weight; so do the first ``warmup_steps`` outputs after a reset.

Works on any array indexable along its first axis: token ids (N,), float series
(N, F), or a read-only memory map, without copying it.
"""

from __future__ import annotations

from collections.abc import Iterator
import numpy as np

from wordrnn.errors import CorpusError, option


class StreamBatches:
    """Windows over one sequence.

    Args:
        data: the sequence (first axis is time).
        batch_size: number of parallel streams.
        window: steps per window.
        warmup_steps: outputs without loss at the start of each stream.
    """

    def __init__(self, data: np.ndarray, batch_size: int, window: int, warmup_steps: int = 0) -> None:
        self.data = data
        self.batch_size = batch_size
        self.window = window
        self.warmup_steps = warmup_steps
        pairs = len(self.data) - 1
        if pairs < self.batch_size:
            raise CorpusError(
                f"the sequence has {len(self.data)} steps but {self.batch_size} parallel streams need at least "
                f"{self.batch_size + 1}; use more text or a smaller {option('batch_size')}"
            )
        lengths = np.full(self.batch_size, pairs // self.batch_size, dtype=np.int64)
        lengths[: pairs % self.batch_size] += 1
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.lengths = lengths
        self.starts = starts

    @property
    def num_windows(self) -> int:
        return int(-(-int(self.lengths.max()) // self.window))

    @property
    def num_targets(self) -> int:
        """Positions that carry a loss in one pass (warm-up excluded)."""
        return int(np.maximum(self.lengths - self.warmup_steps, 0).sum())

    def batch(self, k: int, rows: slice = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Window k: inputs (B, T, ...), targets (B, T, ...), weights (B, T) float32.

        ``rows`` picks some of the streams (a replica's or a worker's share); only their part of
        ``data`` is read.
        """
        offsets = k * self.window + np.arange(self.window)
        lengths, starts = self.lengths[rows], self.starts[rows]
        valid = offsets[None, :] < lengths[:, None]
        index = starts[:, None] + np.minimum(offsets[None, :], lengths[:, None] - 1)
        weights = valid & (offsets[None, :] >= self.warmup_steps)
        return np.asarray(self.data[index]), np.asarray(self.data[index + 1]), weights.astype(np.float32)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for k in range(self.num_windows):
            yield self.batch(k)


def validation_batches(data: np.ndarray | None, batch_size: int, window: int) -> StreamBatches | None:
    """How a run validates ``data``: in windows of its training window, on as many streams as it
    trains (fewer when the text is too short to give each one a word); None when there is nothing
    to validate on."""
    if data is None or len(data) <= 1:
        return None
    return StreamBatches(data, min(batch_size, len(data) - 1), window)


def fresh_streams(window: int, batch_size: int, every: int) -> np.ndarray:
    """(B,) bool: the streams whose state is reset before ``window`` (``TrainConfig.state_reset``).

    Stream ``i`` is reset every ``every`` windows at its own offset, ``i * every // B``, so the
    resets are spread evenly over the windows and at any step the streams' states have every age
    from 0 to ``every - 1`` windows. Window 0 is the epoch's start, where every state is zero anyway.
    It depends on the window alone, so a resumed run resets exactly where an uninterrupted one does.
    """
    if every <= 0 or window <= 0:
        return np.zeros(batch_size, dtype=bool)
    return window % every == np.arange(batch_size) * every // batch_size


def split_tail(data: np.ndarray, fraction: float, min_steps: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Hold out the last ``fraction`` of a sequence for validation (None when too small)."""
    held = int(len(data) * fraction)
    if fraction <= 0 or held < min_steps:
        return data, None
    return data[: len(data) - held], data[len(data) - held :]
