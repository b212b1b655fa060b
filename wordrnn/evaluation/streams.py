"""Evaluation text -> target ids -> next-word distributions, batched like training.

The evaluation text becomes one stream: every sentence's tokens followed by ``</s>``,
with one ``</s>`` in front (the start-of-text input every prediction begins with),
so every token of the text is a target. A network is run batched, many contiguous
streams at once from a fresh state (like ``Engine.evaluate``), one window at a time;
an n-gram gives the same distributions from the true two-word history. Both yield
(probabilities, target positions) pairs for ``metrics.score``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.config import TokenizerConfig, replace
from wordrnn.errors import ConfigError, CorpusError, option
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import EOS_ID

NGRAM_CHUNK = 256
MIN_STREAM = 500  # targets per parallel stream, at least
BURN_IN = 500  # context read (not scored) before a stream's first scored target

Progress = Callable[[int, int], None]


def read_tokens(paths: Iterable[str | Path], tokenizer: Tokenizer, limit: int | None = None,
                encoding: str = "utf-8") -> list[str]:
    """The evaluation text as tokens (each sentence ending in ``</s>``), at most ``limit`` of them."""
    from wordrnn.text.encode import iter_tokens

    if limit is not None and limit < 1:
        raise ConfigError(f"{option('limit')} must be 1 or more, got {limit}")
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
    from wordrnn.runtime.ngram import histories

    stream = np.concatenate([[EOS_ID], np.asarray(ids, np.int64)])
    total = -(-len(ids) // chunk)
    for n, start in enumerate(range(0, len(ids), chunk)):
        stop = min(start + chunk, len(ids))
        yield kn.probabilities(histories(stream, start + 1, stop + 1)), np.arange(start, stop)
        if on_progress:
            on_progress(n + 1, total)


def load_word_model(path: str | Path) -> Any:
    from wordrnn.store.saved import SavedModel

    saved = SavedModel.load(path)
    saved.word_vocab("`evaluate`")
    return saved


def read_ids(files: Sequence[str | Path], saved: Any, pretokenized: bool | None, limit: int | None,
              encoding: str) -> tuple[list[str], np.ndarray]:
    tokenizer = Tokenizer(tokenizer_config_for(saved.tokenizer_config, pretokenized))
    tokens = read_tokens(files, tokenizer, limit, encoding)
    return tokens, np.asarray(saved.vocab.encode(tokens), np.int64)


def keras_runner(saved: Any, interpolated: bool = True) -> Any:
    """The Keras runner (it has ``sequence``), wrapped in the model's interpolation."""
    from wordrnn.runtime.mixture import wrap
    from wordrnn.runtime.keras import KerasStep

    runner = KerasStep(saved)
    return wrap(runner, saved) if interpolated else runner


def tokenizer_config_for(config: TokenizerConfig, pretokenized: bool | None) -> TokenizerConfig:
    return config if pretokenized is None else replace(config, pretokenized=pretokenized)
