"""A continuous cache (Grave, Joulin & Usunier, 2017): the next word as the text's own words predicted it.

The word cache (``mixture``) remembers *which* words a text used; it cannot tell in which
context. The continuous cache also remembers where: for each of the last N words it keeps the
network's top hidden state h_i that preceded the word, and lends probability to the words whose
contexts resemble the current one:

    p_ptr(w) = sum over i with x_i = w of softmax_i(theta * h_t . h_i)

So a name, a phrase or a turn of speech the writer used before comes back when the network
reaches a similar state again ("I mean", a speaker's name, a term after its article). It needs
no training: the network's own states are the keys. The mixture then gives it the share
``lambda * n / (n + K)`` (n pairs held, K the cache's fill constant), so a few typed words are
not echoed back; ``lambda`` and ``theta`` are fitted on development text with the rest of the
mixture (``evaluation.pointer_fit``).

Its state is two arrays per stream: the keys (N * d, oldest first) and their words (N, as
float32 ids, -1 for an empty slot), so priming fills it and a fresh state empties it like every
other state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMPTY = -1.0


def top_hidden_index(cell: str, layers: int) -> int:
    """Where the top layer's output h sits in a network's state list (``nn.model.state_sizes`` order)."""
    return (2 if cell == "lstm" else 1) * (layers - 1)


@dataclass(frozen=True)
class Pointer:
    """The continuous cache's settings: ``weight`` (lambda), ``theta`` and ``size`` (N pairs kept).

    ``units`` is the width d of the hidden states it keeps.
    """

    weight: float
    theta: float
    size: int
    units: int

    @property
    def state_sizes(self) -> list[int]:
        return [self.size * self.units, self.size]

    def zero_state(self, batch: int) -> list[np.ndarray]:
        return [np.zeros((batch, self.size * self.units), np.float32),
                np.full((batch, self.size), EMPTY, np.float32)]

    def advance(self, hidden: np.ndarray, inputs: np.ndarray, state: list[np.ndarray]) -> list[np.ndarray]:
        """The state after pairing each row's previous hidden state with the word that followed it.

        New arrays (a state may be kept for undo): the oldest pair drops out at the front.
        """
        keys, words = state
        hidden = np.asarray(hidden, np.float32)
        read = np.where(hidden.any(axis=1), np.asarray(inputs, np.float32).reshape(-1), EMPTY)  # a zero state read nothing
        keys = np.concatenate([keys[:, self.units:], hidden], axis=1)
        words = np.concatenate([words[:, 1:], read[:, None]], axis=1)
        return [keys, words]

    def held(self, state: list[np.ndarray]) -> np.ndarray:
        """How many pairs each row holds, (B,)."""
        return (state[1] >= 0).sum(axis=1)

    def share(self, held: np.ndarray | int, fill: float) -> np.ndarray:
        """The pointer's weight in the mixture, ``lambda n / (n + K)``, for rows holding ``held`` pairs."""
        held = np.asarray(held, np.float64)
        return self.weight * held / np.maximum(held + fill, 1e-30)

    def attention(self, hidden: np.ndarray, keys: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One row's (word ids, weights) of the pairs it holds, the weights summing to one (empty: no pairs)."""
        held = words >= 0
        if not held.any():
            return np.zeros(0, np.int64), np.zeros(0)
        keys = keys.reshape(self.size, self.units)[held]
        scores = self.theta * (keys.astype(np.float64) @ np.asarray(hidden, np.float64))
        weights = np.exp(scores - scores.max())
        return words[held].astype(np.int64), weights / weights.sum()

    def probabilities(self, hidden: np.ndarray, state: list[np.ndarray], vocab_size: int) -> np.ndarray:
        """p_ptr (B, V) for every row (rows holding no pair are all zero)."""
        keys, words = state
        batch = len(words)
        scores = self.theta * np.einsum("bnd,bd->bn", keys.reshape(batch, self.size, self.units).astype(np.float64),
                                        np.asarray(hidden, np.float64))
        held = words >= 0
        scores = np.where(held, scores, -np.inf)
        top = scores.max(axis=1, keepdims=True)
        weights = np.where(held, np.exp(scores - np.where(np.isfinite(top), top, 0.0)), 0.0)
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
        flat = (np.arange(batch)[:, None] * vocab_size + np.maximum(words, 0).astype(np.int64))
        return np.bincount(flat.ravel(), weights.ravel(), batch * vocab_size).reshape(batch, vocab_size)
