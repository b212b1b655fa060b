"""Fitting a model's interpolation (word cache, optional trigram) on validation text.

``wordrnn interpolate`` runs this once after training. The network's probabilities of the
validation targets are computed once, batched as in ``evaluation.evaluate``; the cache's
(``mixture.cache_probabilities``) for each candidate decay; a grid search over the weights
(``mixture.fit_weights``) then finds the most likely ones, and the best decay wins. The result goes into the model's
manifest (``"interpolation"``, plus the n-gram's arrays when it is used), so every later
prediction and evaluation uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.evaluation.streams import (Progress, keras_runner, load_word_model, network_distributions,
                                        ngram_distributions, read_ids, tokenizer_config_for)
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import EOS_ID


def interpolate(
    model: str | Path,
    valid: Sequence[str | Path],
    *,
    cache: bool = True,
    ngram_corpus: Sequence[str | Path] | None = None,
    ngram_min_count: int = 1,
    pretokenized: bool | None = None,
    encoding: str = "utf-8",
    batch_size: int = 32,
    window: int = 35,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Fit the model's interpolation weights on validation text and store them in the model.

    The network's probabilities of the validation targets are computed once (from a fresh
    state, streams as in ``evaluate``); the cache's are computed for a few decays; a grid
    search finds the weights (``mixture.fit_weights``) and the best decay wins. With ``ngram_corpus`` a
    Kneser-Ney trigram is trained on it (with the model's vocabulary; trigrams seen fewer than
    ``ngram_min_count`` times pruned, which shrinks it), weighted too, and stored in the model
    directory. Returns the settings and the validation perplexity before
    and after.
    """
    from wordrnn.store import checkpoint as ckpt
    from wordrnn.runtime.mixture import DECAYS, Interpolation, cache_probabilities, cache_share, fit_weights

    saved = load_word_model(model)
    _, ids = read_ids(valid, saved, pretokenized, None, encoding)
    runner = keras_runner(saved, interpolated=False)
    net = np.empty(len(ids))
    for probs, positions in network_distributions(runner, ids, batch_size, window, on_progress):
        net[positions] = probs[np.arange(len(positions)), ids[positions]]
    kn = gram = None
    if ngram_corpus:
        from wordrnn.runtime.ngram import KneserNey
        from wordrnn.text.encode import encode_corpus, readable_twice

        tokenizer = Tokenizer(tokenizer_config_for(saved.tokenizer_config, pretokenized))
        with readable_twice(ngram_corpus) as paths:
            kn = KneserNey.train(encode_corpus(paths, tokenizer, saved.vocab, encoding), len(saved.vocab), ngram_min_count)
        gram = np.empty(len(ids))
        for probs, positions in ngram_distributions(kn, ids):
            gram[positions] = probs[np.arange(len(positions)), ids[positions]]
    stream = np.concatenate([[EOS_ID], ids])
    _, b, ppl = fit_weights(net, ngram=gram)
    best = (ppl, Interpolation(ngram=b))
    before = float(np.exp(-np.log(np.maximum(net, 1e-300)).mean()))
    fill = Interpolation().cache_fill
    for decay in DECAYS if cache else ():
        cached, totals = cache_probabilities(stream, decay)
        a, b, ppl = fit_weights(net, cached, cache_share(1.0, totals, fill), gram)
        if ppl < best[0]:
            best = (ppl, Interpolation(cache=a, ngram=b, cache_decay=decay, cache_fill=fill))
    settings = best[1]
    files = {"ngram.npz": kn.to_arrays() if kn is not None and settings.ngram else None}
    ckpt.update_files(Path(saved.path), ckpt.MODEL_MANIFEST, files, meta={"interpolation": settings.to_json()})
    return {**settings.to_json(), "valid_ppl_network": before, "valid_ppl_interpolated": best[0],
            "tokens": len(ids)}
