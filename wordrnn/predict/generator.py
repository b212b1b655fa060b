"""Priming and feedback: the two ways a recurrent network is driven at inference time.

``prime`` reads real inputs step by step to set the state (the network is not
asked to predict anything it will be judged on); ``feedback`` then feeds each
chosen output back in as the next input. Words and numeric series use the same
two functions; they differ only in ``choose`` (sample a word id / take the
predicted value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from wordrnn.runtime.runner import StepRunner


def prime(runner: StepRunner, inputs: Iterable[np.ndarray | int | float], state: list[np.ndarray] | None = None,
          batch: int = 1) -> tuple[np.ndarray | None, list[np.ndarray], list[np.ndarray]]:
    """Feed ``inputs`` one step at a time.

    Returns the last step's output (None when ``inputs`` is empty), the state after the last
    input, and every step's output (one-step-ahead predictions of the primed region).
    """
    state = runner.zero_state(batch) if state is None else state
    output = None
    outputs: list[np.ndarray] = []
    for value in inputs:
        step_input = np.full((batch,), value) if np.ndim(value) == 0 else np.broadcast_to(value, (batch, *np.shape(value)))
        output, state = runner.step(step_input, state)
        outputs.append(output)
    return output, state, outputs


def feedback(runner: StepRunner, output: Any, state: list[np.ndarray], steps: int,
             choose: Callable[[Any], np.ndarray]) -> Iterator[np.ndarray]:
    """Generate ``steps`` inputs recursively: ``choose`` turns each output into the next input.

    Yields each chosen input as soon as it is known (so callers can stream words), after which
    it is fed back to produce the next output.
    """
    for _ in range(steps):
        chosen = choose(output)
        yield chosen
        output, state = runner.step(np.asarray(chosen), state)


def mean_state_before(runner: StepRunner, ids: np.ndarray, token: int, streams: int = 32) -> list[np.ndarray]:
    """The average state in which ``token`` is read, over a sequence of ids read as parallel streams.

    With ``token`` = ``</s>`` this is a learned start-of-text state: training streams rarely start
    from zeros, so a zero state followed by ``</s>`` is a poor picture of "a new sentence begins";
    the mean state at real sentence ends is a much better one (e.g. it makes capitalised words
    the likely first words).
    """
    length = len(ids) // streams
    grid = np.asarray(ids[: length * streams]).reshape(streams, length)
    state = runner.zero_state(streams)
    totals = [np.zeros(s.shape[1], np.float64) for s in state]
    count = 0
    for t in range(length):
        hits = grid[:, t] == token
        if t >= 50 and hits.any():  # skip the first steps, still close to the zero state
            for total, s in zip(totals, state):
                total += s[hits].sum(axis=0)
            count += int(hits.sum())
        _, state = runner.step(grid[:, t], state)
    if not count:
        return [np.zeros_like(s[0]) for s in state]
    return [(total / count).astype(np.float32) for total in totals]
