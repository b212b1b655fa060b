"""Beam search over a step runner: the most probable continuation, not a random one.

All live hypotheses run as one batch through ``runner.step`` (the state is
gathered by row when beams are pruned), so a width-W search costs one batched
step per word, not W separate ones. Runner-agnostic: only ``step`` is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wordrnn.runtime.runner import StepRunner
from wordrnn.predict.sampling import top_ids


@dataclass(frozen=True)
class Hypothesis:
    """One candidate continuation.

    Args:
        ids: the chosen word ids (ending with the end-of-sentence id when ``finished``).
        log_prob: natural-log probability of ``ids`` given the primed context.
        finished: it ended with end-of-sentence while searching with ``eos_id``.
    """

    ids: tuple[int, ...]
    log_prob: float
    finished: bool = False

    @property
    def mean_log_prob(self) -> float:
        return self.log_prob / max(len(self.ids), 1)


def _log(probs: np.ndarray, banned: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        logp = np.log(np.asarray(probs, dtype=np.float64))
    logp[:, banned] = -np.inf
    return logp


def beam_search(runner: StepRunner, probs: np.ndarray, state: list[np.ndarray], steps: int, width: int,
                banned: Sequence[int] = (), eos_id: int | None = None) -> list[Hypothesis]:
    """Keep the ``width`` most probable continuations for ``steps`` words.

    Args:
        probs: (1, V) next-word probabilities after priming; ``state``: the matching batch-1 state.
        banned: ids never chosen (``<unk>``).
        eos_id: when given, a hypothesis that chooses it is finished (kept aside, not extended),
            and hypotheses are ranked by log-probability per word so short sentences are not
            favoured just for being short. Without it they are ranked by total log-probability.
    Returns:
        Up to ``width`` hypotheses, best first.
    """
    banned_ids = np.asarray(banned, dtype=np.int64)
    if steps <= 0:
        return [Hypothesis((), 0.0)]
    alive = np.zeros((1, 0), dtype=np.int64)
    scores = np.zeros(1)
    logp = _log(probs, banned_ids)
    finished: list[Hypothesis] = []
    for t in range(steps):
        candidates = scores[:, None] + logp
        if eos_id is not None:
            for row in np.flatnonzero(np.isfinite(candidates[:, eos_id])):
                finished.append(Hypothesis((*alive[row].tolist(), eos_id), float(candidates[row, eos_id]), True))
            candidates[:, eos_id] = -np.inf
        flat = candidates.ravel()
        best = top_ids(flat, width)
        best = best[np.isfinite(flat[best])]
        if not len(best):
            break
        rows, cols = np.divmod(best, candidates.shape[1])
        alive = np.concatenate([alive[rows], cols[:, None]], axis=1)
        scores = flat[best]
        if t == steps - 1:
            break
        output, state = runner.step(cols, [np.asarray(s)[rows] for s in state])
        logp = _log(output, banned_ids)
    hypotheses = finished + [Hypothesis(tuple(ids.tolist()), float(s)) for ids, s in zip(alive, scores)]
    key = (lambda h: h.mean_log_prob) if eos_id is not None else (lambda h: h.log_prob)
    return sorted(hypotheses, key=key, reverse=True)[:width]
