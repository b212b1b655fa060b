"""``wordrnn.evaluate``: a model (or an n-gram baseline) measured on text, as ``wordrnn evaluate`` does.

The metrics are those of ``evaluation.metrics`` (the protocol is described in the README section
"Measuring quality"); the distributions come from ``evaluation.streams``, with the model's
interpolation (cache, n-gram) unless asked not to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wordrnn.evaluation.baseline import evaluate_baseline, is_baseline
from wordrnn.evaluation.interpolation import warn_if_fitting_text
from wordrnn.evaluation.metrics import score
from wordrnn.evaluation.streams import Progress, keras_runner, load_word_model, network_distributions, read_ids


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
    lexicon: bool = True,
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
        interpolated: use the model's interpolation (False: the network alone, closed vocabulary).
        lexicon: with the model's open-vocabulary lexicon, if it has one (keystroke savings count
            unknown words it completes; ``ppl_open`` and ``oov_completable`` are added).
        on_progress: called with (windows done, windows in all).
    """
    from wordrnn.store.saved import find_model, refuse_bundled

    path = find_model(model)
    if save:  # before any work: the bundled model is read-only
        refuse_bundled(path, "store metrics")
    if is_baseline(path):
        metrics = evaluate_baseline(files, path, pretokenized=pretokenized, limit=limit, encoding=encoding,
                                    on_progress=on_progress)
    else:
        saved = load_word_model(path)
        tokens, ids = read_ids(files, saved, pretokenized, limit, encoding)
        runner = keras_runner(saved, interpolated)
        if interpolated:
            warn_if_fitting_text(files, path)
        words = saved.load_lexicon() if lexicon and interpolated else None
        metrics = score(network_distributions(runner, ids, batch_size, window, on_progress), saved.vocab, ids, tokens,
                        words)
        metrics["parameters"] = saved.parameter_count()
    metrics["text"] = [str(f) for f in files]
    if save:
        save_metrics(path, metrics)
    return metrics


def save_metrics(directory: str | Path, metrics: dict[str, Any]) -> None:
    """Store evaluation metrics in the model directory (atomically, through its manifest)."""
    from wordrnn.store import checkpoint as ckpt
    from wordrnn.store.saved import refuse_bundled

    refuse_bundled(directory, "store metrics")
    ckpt.update_files(Path(directory), ckpt.MODEL_MANIFEST, {"metrics.json": metrics})


__all__ = ["evaluate", "save_metrics"]
