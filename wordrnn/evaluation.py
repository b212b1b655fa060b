"""Measuring a word model the way the field does (``BENCHMARKS.md`` section 1).

The evaluation text becomes one stream: every sentence's tokens followed by ``</s>``,
with one ``</s>`` in front (the start-of-text input every prediction begins with),
so every token of the text is a target. From each target's full next-word
distribution we take:

- **perplexity**: exp of the mean negative log-probability over all targets
  (``</s>`` and ``<unk>`` included), and the same in bits per word;
- **top-k accuracy**: over targets that are not ``</s>``, how often the target is
  among the k most probable words; ``<unk>``/``</s>`` are never candidates, an
  ``<unk>`` target is a miss; equal probabilities rank the lower (more frequent) id first;
- **KSR@3**: keystroke savings with a three-word suggestion bar, typing each word's
  original spelling letter by letter (``1 - keys pressed / keys needed``);
- the out-of-vocabulary rate over words (``</s>`` excluded).

A network is run batched, many contiguous streams at once from a fresh state (like
``Engine.evaluate``), one window at a time; an n-gram baseline gives the same
distributions from the true two-word history. Both feed ``MetricAccumulator``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import TokenizerConfig, replace
from .errors import ConfigError, CorpusError, ModelFormatError
from .tokenizer import Tokenizer
from .vocab import EOS_ID, SPECIALS, UNK_ID, Vocabulary

TOP_KS = (1, 3, 5)
BAR = 3  # suggestions on the bar in the keystroke simulation
NGRAM_CHUNK = 256
MIN_STREAM = 500  # targets per parallel stream, at least
BURN_IN = 500  # context read (not scored) before a stream's first scored target

Progress = Callable[[int, int], None]


class MetricAccumulator:
    """Adds up the metrics of predicted distributions against their targets.

    Args:
        vocab: the vocabulary the distributions are over (its order breaks ties).
    """

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self._words = np.asarray(vocab.words, dtype=object)
        self._candidates: dict[str, np.ndarray] = {}
        self.tokens = 0
        self.nll = 0.0
        self.words = 0
        self.oov = 0
        self.hits = dict.fromkeys(TOP_KS, 0)
        self.keys = 0
        self.cost = 0

    def candidates(self, prefix: str) -> np.ndarray:
        """Vocabulary ids (specials excluded) whose spelling starts with ``prefix`` exactly."""
        found = self._candidates.get(prefix)
        if found is None:
            ids = self.vocab.prefix_ids(prefix)
            keep = [w.startswith(prefix) for w in self._words[ids]] if len(ids) else []
            found = self._candidates[prefix] = ids[np.asarray(keep, bool)] if len(ids) else ids
        return found

    def add(self, probs: np.ndarray, targets: np.ndarray, spellings: Sequence[str]) -> None:
        """Score (n, V) distributions against n target ids whose text spellings are ``spellings``."""
        probs = np.asarray(probs)
        targets = np.asarray(targets, np.int64)
        rows = np.arange(len(targets))
        target_p = probs[rows, targets]
        self.nll -= float(np.log(np.maximum(target_p.astype(np.float64), 1e-300)).sum())
        self.tokens += len(targets)
        word = targets != EOS_ID
        known = word & (targets != UNK_ID)
        self.words += int(word.sum())
        self.oov += int((targets == UNK_ID).sum())
        ranks = self._ranks(probs[known], targets[known], target_p[known])
        for k in TOP_KS:
            self.hits[k] += int((ranks < k).sum())
        rank_of = dict(zip(np.flatnonzero(known).tolist(), ranks.tolist()))
        for i in np.flatnonzero(word).tolist():
            spelling = spellings[i]
            self.keys += len(spelling) + 1
            rank = rank_of.get(i)
            self.cost += self._keystrokes(probs[i], int(targets[i]), float(target_p[i]), spelling, rank)

    @staticmethod
    def _ranks(probs: np.ndarray, targets: np.ndarray, target_p: np.ndarray) -> np.ndarray:
        """Rank of each target among the non-special words: more probable first, then lower id."""
        if not len(targets):
            return np.zeros(0, np.int64)
        words = probs[:, len(SPECIALS):]
        ids = np.arange(len(SPECIALS), probs.shape[1])
        above = (words > target_p[:, None]).sum(axis=1)
        tied = ((words == target_p[:, None]) & (ids[None, :] < targets[:, None])).sum(axis=1)
        return above + tied

    def _keystrokes(self, probs: np.ndarray, target: int, target_p: float, spelling: str, rank: int | None) -> int:
        """Keys pressed to enter ``spelling`` and its space with a 3-word bar (``rank``: overall rank or None)."""
        if rank is None:  # <unk>: never suggested, typed in full
            return len(spelling) + 1
        if rank < BAR:
            return 1
        for typed in range(1, len(spelling)):
            ids = self.candidates(spelling[:typed])
            p = probs[ids]
            shown = int((p > target_p).sum()) + int(((p == target_p) & (ids < target)).sum())
            if shown < BAR:
                return typed + 1
        return len(spelling) + 1

    def result(self) -> dict[str, Any]:
        """The metrics so far (fractions in 0..1)."""
        if not self.tokens:
            raise CorpusError("nothing was evaluated; the text holds no words")
        mean = self.nll / self.tokens
        words = max(self.words, 1)
        return {
            "ppl": math.exp(mean),
            "bits": mean / math.log(2),
            **{f"top{k}": self.hits[k] / words for k in TOP_KS},
            "ksr3": 1.0 - self.cost / self.keys if self.keys else 0.0,
            "oov_rate": self.oov / words,
            "tokens": self.tokens,
            "words": self.words,
            "vocab": len(self.vocab),
        }


def read_tokens(paths: Iterable[str | Path], tokenizer: Tokenizer, limit: int | None = None,
                encoding: str = "utf-8") -> list[str]:
    """The evaluation text as tokens (each sentence ending in ``</s>``), at most ``limit`` of them."""
    from .textdata import iter_tokens

    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be 1 or more, got {limit}")
    tokens = itertools.chain.from_iterable(iter_tokens(paths, tokenizer, encoding))
    result = list(itertools.islice(tokens, limit))
    if not result:
        raise CorpusError("the evaluation text holds no words (empty or whitespace only); give a text with some sentences")
    return result


def stream_bounds(n: int, batch_size: int, burn_in: int = BURN_IN) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How ``n`` targets are split into contiguous streams: (first input, first scored, end) per stream.

    Each stream starts ``burn_in`` positions before the targets it scores (its predecessor
    scores those), so its state has read real context instead of starting from zero in the
    middle of a sentence: batched evaluation then matches reading the text as one stream.
    Streams are at least ``MIN_STREAM`` targets long.
    """
    streams = int(max(1, min(batch_size, n // MIN_STREAM)))
    bounds = np.linspace(0, n, streams + 1).astype(np.int64)
    scored, ends = bounds[:-1], bounds[1:]
    return np.maximum(scored - burn_in, 0), scored, ends


def network_distributions(runner: Any, ids: np.ndarray, batch_size: int = 32, window: int = 35,
                          on_progress: Progress | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(probabilities (n, V), target positions (n,)) of a token model, window by window.

    Input j is the stream ``</s> ids...`` at j and its target is ``ids[j]``. The inputs are cut
    into up to ``batch_size`` contiguous streams (``stream_bounds``) run at once from the zero
    state. ``runner`` needs ``zero_state(B)`` and ``sequence(inputs (B, T), state) ->
    (probabilities (B, T, V), state)`` (``runtime.KerasStep``, ``mixture.MixtureRunner``).
    """
    ids = np.asarray(ids, np.int64)
    stream = np.concatenate([[EOS_ID], ids]).astype(np.int32)
    begins, scored, ends = stream_bounds(len(ids), batch_size)
    windows = int(-(-int((ends - begins).max()) // window))
    state = runner.zero_state(len(begins))
    for k in range(windows):
        positions = begins[:, None] + k * window + np.arange(window)[None, :]
        inside = positions < ends[:, None]
        probs, state = runner.sequence(stream[np.minimum(positions, len(ids) - 1)], state)
        keep = inside & (positions >= scored[:, None])
        yield np.asarray(probs)[keep], positions[keep]
        if on_progress:
            on_progress(k + 1, windows)


def ngram_distributions(kn: Any, ids: np.ndarray, chunk: int = NGRAM_CHUNK,
                        on_progress: Progress | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(probabilities, target positions) of an n-gram model, ``chunk`` positions at a time."""
    from .ngram import histories

    stream = np.concatenate([[EOS_ID], np.asarray(ids, np.int64)])
    total = -(-len(ids) // chunk)
    for n, start in enumerate(range(0, len(ids), chunk)):
        stop = min(start + chunk, len(ids))
        yield kn.probabilities(histories(stream, start + 1, stop + 1)), np.arange(start, stop)
        if on_progress:
            on_progress(n + 1, total)


def score(distributions: Iterable[tuple[np.ndarray, np.ndarray]], vocab: Vocabulary, ids: np.ndarray,
          tokens: Sequence[str]) -> dict[str, Any]:
    """Metrics of (probabilities, positions) pairs against the stream ``ids`` spelled ``tokens``."""
    acc = MetricAccumulator(vocab)
    for probs, positions in distributions:
        if probs.shape[-1] != len(vocab):
            raise ModelFormatError(
                f"the model predicts {probs.shape[-1]} words but its vocabulary has {len(vocab)}; "
                "the model directory mixes files of different models"
            )
        acc.add(probs, ids[positions], [tokens[i] for i in positions.tolist()])
    return acc.result()


def evaluate(
    files: Sequence[str | Path],
    model: str | Path | None = None,
    *,
    pretokenized: bool | None = None,
    limit: int | None = None,
    encoding: str = "utf-8",
    batch_size: int = 32,
    window: int = 35,
    save: bool = False,
    interpolated: bool = True,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate a word model on text files; returns ppl, bits, top1/3/5, ksr3, oov_rate, tokens, vocab.

    The model predicts as it does everywhere else: with its interpolation (cache, n-gram) when
    it has one. An n-gram baseline directory is evaluated as such.

    Args:
        model: model directory (default: ``$WORDRNN_MODEL`` or the bundled model).
        pretokenized: read the text as already tokenized (split on whitespace); default: as the model was trained.
        limit: evaluate only the first ``limit`` tokens.
        save: also store the result as the model's ``metrics.json`` (shown by ``wordrnn info``).
        interpolated: use the model's interpolation (False: the network alone).
        on_progress: called with (windows done, windows in all).
    """
    from .baseline import evaluate_baseline, is_baseline
    from .saved import find_model

    path = find_model(model)
    if is_baseline(path):
        metrics = evaluate_baseline(files, path, pretokenized=pretokenized, limit=limit, encoding=encoding,
                                    on_progress=on_progress)
    else:
        saved = load_word_model(path)
        tokens, ids = read_ids(files, saved, pretokenized, limit, encoding)
        runner = keras_runner(saved, interpolated)
        metrics = score(network_distributions(runner, ids, batch_size, window, on_progress), saved.vocab, ids, tokens)
        metrics["parameters"] = saved.parameter_count()
    metrics["text"] = [str(f) for f in files]
    if save:
        save_metrics(path, metrics)
    return metrics


def save_metrics(directory: str | Path, metrics: dict[str, Any]) -> None:
    """Store evaluation metrics in the model directory (atomically, through its manifest)."""
    from . import checkpoint as ckpt

    ckpt.update_files(Path(directory), ckpt.MODEL_MANIFEST, {"metrics.json": metrics})


def load_word_model(path: str | Path) -> Any:
    from .saved import SavedModel

    saved = SavedModel.load(path)
    if saved.model_config.input_kind != "tokens" or saved.vocab is None:
        raise ConfigError(f"{saved.path} is a numeric-series model; `evaluate` measures word models")
    return saved


def read_ids(files: Sequence[str | Path], saved: Any, pretokenized: bool | None, limit: int | None,
              encoding: str) -> tuple[list[str], np.ndarray]:
    tokenizer = Tokenizer(tokenizer_config_for(saved.tokenizer_config, pretokenized))
    tokens = read_tokens(files, tokenizer, limit, encoding)
    return tokens, np.asarray(saved.vocab.encode(tokens), np.int64)


def keras_runner(saved: Any, interpolated: bool = True) -> Any:
    """The Keras runner (it has ``sequence``), wrapped in the model's interpolation."""
    from .mixture import wrap
    from .runtime import KerasStep

    runner = KerasStep(saved)
    return wrap(runner, saved) if interpolated else runner


def tokenizer_config_for(config: TokenizerConfig, pretokenized: bool | None) -> TokenizerConfig:
    return config if pretokenized is None else replace(config, pretokenized=pretokenized)


__all__ = ["MetricAccumulator", "evaluate", "read_tokens", "network_distributions", "ngram_distributions", "score"]
