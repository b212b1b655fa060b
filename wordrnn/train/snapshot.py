"""A ``Snapshot``: everything a checkpoint needs to continue training exactly where it stopped.

NumPy only, so the saving side (``saving.py``) reads and writes snapshots without TensorFlow;
``engine.Engine`` makes them (``snapshot``) and puts them back (``restore``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Snapshot:
    """Everything needed to continue training exactly where it stopped."""

    weights: dict[str, np.ndarray]
    optimizer: list[np.ndarray]
    states: list[np.ndarray]
    position: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    seeds: list[np.ndarray] = field(default_factory=list)  # dropout's random-stream positions
    model_weights: dict[str, np.ndarray] | None = None  # the model's, when not ``weights`` (averaged ones)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The optimizer variables, recurrent states and seed states as one flat dict of arrays.

        A checkpoint stores them as one ``.npz`` file; the ``opt_``/``rnn_``/``seed_`` prefixes and
        the 4-digit order keep the three lists apart and in order (``from_arrays`` reads them back).
        """
        arrays = {f"opt_{i:04d}": v for i, v in enumerate(self.optimizer)}
        arrays.update({f"rnn_{i:04d}": v for i, v in enumerate(self.states)})
        arrays.update({f"seed_{i:04d}": v for i, v in enumerate(self.seeds)})
        return arrays

    @classmethod
    def from_arrays(cls, weights: dict[str, np.ndarray], state: dict[str, np.ndarray], position: Any,
                    history: list[dict[str, Any]]) -> Snapshot:
        """The snapshot a checkpoint holds: its weights, its ``state_arrays()``, position and history."""

        def numbered(prefix: str) -> list[np.ndarray]:
            return [state[f"{prefix}{i:04d}"] for i in range(sum(k.startswith(prefix) for k in state))]

        return cls(weights, numbered("opt_"), numbered("rnn_"), position, history, numbered("seed_"))
