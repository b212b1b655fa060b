"""Fitting the continuous cache (``runtime.pointer``) on development text: its weight lambda and sharpness theta.

The network is stepped over the text as ``evaluate`` reads it (contiguous streams from a fresh
state, ``streams.stream_bounds``), keeping each position's top hidden state and its probability
of the target. Each target's pointer probability then only needs the hidden states of the N
positions before it in its stream, so a grid over theta and lambda is pure NumPy, on top of the
mixture the rest of the fit chose (``fitting.mixed_targets``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from wordrnn.evaluation.streams import Progress, stream_bounds
from wordrnn.runtime.pointer import top_hidden_index
from wordrnn.text.vocab import EOS_ID

THETAS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
WEIGHTS = np.arange(0.0, 0.61, 0.01)
POINTER_SIZE = 200  # pairs kept: nearly all of what 500 gains, at 0.2 MB of state per stream
_CHUNK = 256  # queries per block of the banded similarity matrix


@dataclass(frozen=True)
class HiddenPass:
    """The network over development text: each target's probability (n,), and per stream its
    first input position and the top hidden state after every input (predicting ``ids[position]``)."""

    net: np.ndarray
    begins: np.ndarray
    scored: np.ndarray
    hidden: list[np.ndarray]


def hidden_pass(runner: Any, ids: np.ndarray, batch_size: int = 32,
                on_progress: Progress | None = None) -> HiddenPass:
    """Step ``runner`` (a network runner without interpolation) over ``ids`` as ``evaluate`` reads them."""
    ids = np.asarray(ids, np.int64)
    stream = np.concatenate([[EOS_ID], ids]).astype(np.int32)
    begins, scored, ends = stream_bounds(len(ids), batch_size)
    top = top_hidden_index(runner.config.cell, runner.config.layers)
    steps = int((ends - begins).max())
    hidden = [np.empty((int(e - b), runner.config.units), np.float32) for b, e in zip(begins, ends)]
    net = np.empty(len(ids))
    state = runner.zero_state(len(begins))
    rows = np.arange(len(begins))
    for k in range(steps):
        positions = np.minimum(begins + k, len(ids) - 1)
        probs, state = runner.step(stream[positions], state)
        inside = begins + k < ends
        for row in rows[inside]:
            hidden[row][k] = state[top][row]
        net[positions[inside]] = probs[inside, ids[positions[inside]]]
        if on_progress and (k % 100 == 0 or k == steps - 1):
            on_progress(k + 1, steps)
    return HiddenPass(net, begins, scored, hidden)


def pointer_targets(run: HiddenPass, ids: np.ndarray, theta: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every target's pointer probability (n,) and the pairs held when it was predicted (n,)."""
    ids = np.asarray(ids, np.int64)
    found, held = np.zeros(len(ids)), np.zeros(len(ids))
    for begin, first, keys in zip(run.begins, run.scored, run.hidden):
        words = ids[begin: begin + len(keys)]
        for start in range(int(first - begin), len(keys), _CHUNK):
            stop = min(start + _CHUNK, len(keys))
            low = max(start - size, 0)
            scores = theta * (keys[start:stop].astype(np.float64) @ keys[low:stop].T.astype(np.float64))
            query = np.arange(start, stop)[:, None]
            key = np.arange(low, stop)[None, :]
            band = (key < query) & (key >= query - size)
            scores = np.where(band, scores, -np.inf)
            top = np.max(scores, axis=1, keepdims=True)
            weights = np.where(band, np.exp(scores - np.where(np.isfinite(top), top, 0.0)), 0.0)
            weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
            same = words[low:stop][None, :] == words[start:stop][:, None]
            found[begin + start: begin + stop] = (weights * same).sum(axis=1)
            held[begin + start: begin + stop] = band.sum(axis=1)
    return found, held


def fit_pointer(run: HiddenPass, ids: np.ndarray, mixed: np.ndarray, fill: float,
                size: int = POINTER_SIZE) -> tuple[float, float, float]:
    """(lambda, theta, perplexity) that make the targets most likely on top of the mixture's ``mixed``.

    Only the scored positions count (each stream's burn-in is context, scored by its neighbour).
    """
    scored = np.zeros(len(ids), bool)
    for begin, first, keys in zip(run.begins, run.scored, run.hidden):
        scored[first: begin + len(keys)] = True
    mixed = np.asarray(mixed, np.float64)[scored]
    best = (float(-np.log(np.maximum(mixed, 1e-300)).mean()), 0.0, THETAS[0])
    for theta in THETAS:
        pointed, held = pointer_targets(run, ids, theta, size)
        share = held[scored] / np.maximum(held[scored] + fill, 1e-30)
        delta = share * (pointed[scored] - mixed)
        for weight in WEIGHTS[1:]:
            nll = float(-np.log(np.maximum(mixed + weight * delta, 1e-300)).mean())
            if nll < best[0]:
                best = (nll, float(weight), theta)
    return best[1], best[2], float(np.exp(best[0]))
