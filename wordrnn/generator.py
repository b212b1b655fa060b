"""Priming and feedback: the two ways a recurrent network is driven at inference time.

``prime`` reads real inputs step by step to set the state (the network is not
asked to predict anything it will be judged on); ``feedback`` then feeds each
chosen output back in as the next input. Words and numeric series use the same
two functions; they differ only in ``choose`` (sample a word id / take the
predicted value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from .runtime import StepRunner


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


def feedback(runner: StepRunner, output: np.ndarray, state: list[np.ndarray], steps: int,
             choose: Callable[[np.ndarray], np.ndarray]) -> Iterator[np.ndarray]:
    """Generate ``steps`` inputs recursively: ``choose`` turns each output into the next input.

    Yields each chosen input as soon as it is known (so callers can stream words), after which
    it is fed back to produce the next output.
    """
    for _ in range(steps):
        chosen = choose(output)
        yield chosen
        output, state = runner.step(np.asarray(chosen), state)
