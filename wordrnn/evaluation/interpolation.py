"""Fitting a model's interpolation (word cache, optional trigram) on development text.

``wordrnn interpolate`` runs this once after training. The network's probabilities of the
development targets are computed once, batched as in ``evaluation.evaluate``; the cache's
(``mixture.cache_probabilities``) for each candidate decay; a grid search over the weights
(``mixture.fit_weights``) then finds the most likely ones, one pair per bucket of the
trigram's history count (``evaluation.fitting``), and the best decay wins. The result goes
into the model's manifest (``"interpolation"``, plus the n-gram's arrays when it is used), so
every later prediction and evaluation uses it.

Figures measured on the text the weights were fitted on flatter the model, so the manifest
records that text (names and SHA-256) and ``evaluate`` warns when it is given the same text
again (``warn_if_fitting_text``).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.errors import ConfigError, WordRNNWarning, option
from wordrnn.evaluation.fitting import MIN_BUCKET_POSITIONS, BucketFit, fit_by_bucket, mixed_targets
from wordrnn.evaluation.pointer_fit import POINTER_SIZE, fit_pointer, hidden_pass
from wordrnn.evaluation.streams import (Progress, keras_runner, load_word_model, network_distributions,
                                        ngram_distributions, read_ids, tokenizer_config_for)
from wordrnn.runtime.mixture_settings import BUCKET_EDGES, FittedOn, Interpolation, bucket_of
from wordrnn.text.corpus import Source
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import EOS_ID

ON_FITTING_TEXT = ("the validation perplexity is measured on the text the weights were fitted on, so it is "
                   "optimistic; report figures from other text (`wordrnn evaluate`)")


def interpolate(
    model: str | Path,
    valid: Sequence[str | Path],
    *,
    cache: bool = True,
    ngram_corpus: Sequence[str | Path] | None = None,
    ngram_min_count: int = 1,
    bucket_edges: Sequence[int] = BUCKET_EDGES,
    min_bucket_positions: int = MIN_BUCKET_POSITIONS,
    pointer_size: int = POINTER_SIZE,
    pretokenized: bool | None = None,
    encoding: str = "utf-8",
    batch_size: int = 32,
    window: int = 35,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Fit the model's interpolation weights on development text and store them in the model.

    The network's probabilities of the targets are computed once (from a fresh state, streams
    as in ``evaluate``); the cache's for a few decays; a grid search finds the weights and the
    best decay wins. With ``ngram_corpus`` a Kneser-Ney trigram is trained on it (with the
    model's vocabulary; trigrams seen fewer than ``ngram_min_count`` times pruned, which shrinks
    it), weighted too, and stored in the model directory; the weights are then fitted per
    bucket of the trigram's history count (lower edges ``bucket_edges``; empty: one global pair),
    buckets with fewer than ``min_bucket_positions`` positions keeping the global pair. Then the
    continuous cache of the last ``pointer_size`` hidden states (0: none) gets its weight and
    sharpness on top of that mixture (``pointer_fit``).

    Returns the stored settings, the perplexities of the network alone, with the global pair and
    with the bucket pairs (all on the fitting text), the share and weights of every bucket
    (``"contexts"``) and a ``"warning"`` that those perplexities are optimistic.
    """
    from wordrnn.store import checkpoint as ckpt
    from wordrnn.store.saved import refuse_bundled
    from wordrnn.text.encode import readable_twice

    refuse_bundled(model, "store interpolation weights", "copy it and interpolate the copy")
    edges = check_edges(bucket_edges)
    saved = load_word_model(model)
    with readable_twice(valid) as paths:
        fitted_on = FittedOn(tuple(Path(str(f)).name for f in valid), text_sha256(paths))  # names: no machine paths
        _, ids = read_ids(paths, saved, pretokenized, None, encoding)
    if pointer_size < 0:
        raise ConfigError(f"{option('pointer_size')} must be 0 (no continuous cache) or more, got {pointer_size}")
    runner = keras_runner(saved, interpolated=False)
    run = hidden_pass(runner, ids, batch_size, on_progress) if pointer_size else None
    net = run.net if run is not None else _target_probabilities(
        network_distributions(runner, ids, batch_size, window, on_progress), ids)
    kn = gram = None
    buckets = np.zeros(len(ids), np.int64)
    if ngram_corpus:
        kn, gram, buckets = _fit_ngram(saved, ids, ngram_corpus, ngram_min_count, pretokenized, encoding, edges)
    edges = edges if kn is not None else ()
    fit, decay = _best_fit(ids, net, gram, buckets, len(edges) + 1, cache, min_bucket_positions)
    settings = Interpolation(cache=fit.global_cache, ngram=fit.global_ngram, cache_decay=decay, edges=edges,
                             bucket_cache=fit.cache if edges else (), bucket_ngram=fit.ngram if edges else (),
                             fitted_on=fitted_on)
    interpolated_ppl = fit.ppl
    if run is not None:
        mixed = _mixture_targets(ids, net, gram, buckets, fit, decay if cache else None, settings.cache_fill)
        weight, theta, pointer_ppl = fit_pointer(run, ids, mixed, settings.cache_fill, pointer_size)
        if weight > 0:
            settings = replace(settings, pointer=weight, pointer_theta=theta, pointer_size=pointer_size)
            interpolated_ppl = pointer_ppl
    files = {"ngram.npz": kn.to_arrays() if kn is not None and settings.needs_ngram else None}
    ckpt.update_files(Path(saved.path), ckpt.MODEL_MANIFEST, files, meta={"interpolation": settings.to_json()})
    before = float(np.exp(-np.log(np.maximum(net, 1e-300)).mean()))
    return {**settings.to_json(), "valid_ppl_network": before, "valid_ppl_global": fit.global_ppl,
            "valid_ppl_mixture": fit.ppl,
            "valid_ppl_interpolated": interpolated_ppl, "tokens": len(ids), "contexts": describe_buckets(edges, fit),
            "warning": ON_FITTING_TEXT}


def _mixture_targets(ids: np.ndarray, net: np.ndarray, gram: np.ndarray | None, buckets: np.ndarray, fit: BucketFit,
                     decay: float | None, fill: float) -> np.ndarray:
    """The fitted mixture's probability of every target (the cache with ``decay``; None: no cache)."""
    from wordrnn.runtime.mixture import cache_probabilities, cache_share

    cached = share = None
    if decay is not None:
        cached, totals = cache_probabilities(np.concatenate([[EOS_ID], ids]), decay)
        share = cache_share(1.0, totals, fill)
    buckets = np.asarray(buckets)
    return mixed_targets(net, cached, share, gram, np.asarray(fit.cache)[buckets], np.asarray(fit.ngram)[buckets])


def check_edges(edges: Sequence[int]) -> tuple[int, ...]:
    """Bucket edges as a tuple, or a ``ConfigError`` unless they are increasing whole counts of 1 or more."""
    edges = tuple(edges)
    if (any(isinstance(e, bool) or not isinstance(e, (int, np.integer)) for e in edges)
            or any(e < 1 for e in edges) or any(a >= b for a, b in zip(edges, edges[1:]))):
        raise ConfigError(f"bucket edges must be increasing whole counts of 1 or more, got {list(edges)}")
    return tuple(int(e) for e in edges)


def _target_probabilities(distributions: Any, ids: np.ndarray) -> np.ndarray:
    """Each target's probability from (probabilities, positions) pairs."""
    found = np.empty(len(ids))
    for probs, positions in distributions:
        found[positions] = probs[np.arange(len(positions)), ids[positions]]
    return found


def _fit_ngram(saved: Any, ids: np.ndarray, corpus: Sequence[str | Path], min_count: int,
               pretokenized: bool | None, encoding: str, edges: tuple[int, ...]) -> tuple[Any, np.ndarray, np.ndarray]:
    """The trigram trained on ``corpus``, its probability of every target and every position's bucket."""
    from wordrnn.runtime.ngram import KneserNey, histories
    from wordrnn.text.encode import encode_corpus, readable_twice

    tokenizer = Tokenizer(tokenizer_config_for(saved.tokenizer_config, pretokenized))
    with readable_twice(corpus) as paths:
        kn = KneserNey.train(encode_corpus(paths, tokenizer, saved.vocab, encoding), len(saved.vocab), min_count)
    gram = _target_probabilities(ngram_distributions(kn, ids), ids)
    stream = np.concatenate([[EOS_ID], ids])
    counts = kn.history_counts(histories(stream, 1, len(stream)))
    return kn, gram, bucket_of(counts, edges)


def _best_fit(ids: np.ndarray, net: np.ndarray, gram: np.ndarray | None, buckets: np.ndarray, count: int,
              cache: bool, min_positions: int) -> tuple[BucketFit, float]:
    """The most likely per-bucket fit over no cache and each candidate cache decay; (fit, decay)."""
    from wordrnn.runtime.mixture import DECAYS, cache_probabilities, cache_share

    stream = np.concatenate([[EOS_ID], ids])
    best = (fit_by_bucket(net, None, None, gram, buckets, count, min_positions), Interpolation().cache_decay)
    for decay in DECAYS if cache else ():
        cached, totals = cache_probabilities(stream, decay)
        fit = fit_by_bucket(net, cached, cache_share(1.0, totals, Interpolation().cache_fill), gram, buckets, count,
                            min_positions)
        if fit.ppl < best[0].ppl:
            best = (fit, decay)
    return best


def describe_buckets(edges: tuple[int, ...], fit: BucketFit) -> list[dict[str, Any]]:
    """One row per bucket: its history-count range, share of positions, weights, and whether it fell back."""
    total = max(sum(fit.positions), 1)
    bounds = [0, *edges]
    rows = []
    for k, low in enumerate(bounds):
        high = bounds[k + 1] if k + 1 < len(bounds) else None
        rows.append({"history_count": bucket_label(low, high), "from": low, "to": high,
                     "positions": fit.positions[k], "share": fit.positions[k] / total,
                     "cache": fit.cache[k], "ngram": fit.ngram[k], "fallback": fit.fallback[k]})
    return rows


def bucket_label(low: int, high: int | None) -> str:
    """A bucket's range for people: ``unseen/pruned``, ``3-9``, ``100+`` (``high`` is exclusive)."""
    if high is None:
        return "any" if low == 0 else f"{low}+"
    if low == 0 and high == 1:
        return "unseen/pruned"
    return str(low) if high == low + 1 else f"{low}-{high - 1}"


def text_sha256(paths: Sequence[Source]) -> str:
    """SHA-256 of the bytes of the text files (directories expanded, in order), as read for fitting."""
    from wordrnn.text.corpus import SpooledInput, resolve_paths

    digest = hashlib.sha256()
    for path in resolve_paths(paths):
        with nullcontext(path.rewound()) if isinstance(path, SpooledInput) else open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def warn_if_fitting_text(files: Sequence[str | Path], model: str | Path | None) -> None:
    """Warn (``WordRNNWarning``) when ``files`` are the very text the model's interpolation was fitted on.

    Its figures on that text are optimistic: the weights were chosen to suit exactly that text,
    so only other text measures the model fairly. Standard input is not checked (it cannot be
    read twice), nor a model without a fitting record.
    """
    from wordrnn.evaluation.baseline import is_baseline
    from wordrnn.store import checkpoint as ckpt
    from wordrnn.store.saved import find_model
    from wordrnn.text.corpus import STDIN, resolve_paths

    path = find_model(model)
    data = None if is_baseline(path) else ckpt.read_manifest(path).get("interpolation")
    settings = Interpolation.from_json(data) if data is not None else None
    if settings is None or settings.fitted_on is None or not settings.active:
        return
    resolved = resolve_paths(files)
    if STDIN not in resolved and text_sha256(resolved) == settings.fitted_on.sha256:
        fitted = ", ".join(settings.fitted_on.files)
        warnings.warn(f"the model's interpolation weights were fitted on this text ({fitted}), so these figures "
                      "are optimistic; evaluate on other text to report them", WordRNNWarning, stacklevel=2)
