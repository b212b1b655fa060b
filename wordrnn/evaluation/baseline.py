"""The n-gram baseline as a directory: train, save, load and evaluate a Kneser-Ney trigram.

A baseline directory is an ordinary model directory (``checkpoint.write_manifest``:
atomic, checksummed, no pickles) whose manifest says ``"kind": "ngram"``; it holds
the vocabulary, the tokenizer settings and the count arrays. Trained with a word
model's vocabulary (``model=``) it is directly comparable with that model, which
is the point of a baseline; without one it builds the protocol's vocabulary
(words seen at least ``min_count`` times).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.store import checkpoint as ckpt
from wordrnn.store.meta import NGRAM_KIND, describe, model_meta
from wordrnn.config import TokenizerConfig, from_dict
from wordrnn.errors import ModelFormatError
from wordrnn.runtime.ngram import FORMAT, KneserNey
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import Vocabulary

KIND = NGRAM_KIND


def is_baseline(directory: str | Path) -> bool:
    """Whether a directory holds an n-gram baseline (rather than a network)."""
    try:
        return ckpt.read_manifest(Path(directory)).get("kind") == KIND
    except ModelFormatError:
        return False


def train_baseline(
    corpus: Sequence[str | Path],
    out_dir: str | Path,
    *,
    model: str | Path | None = None,
    tokenizer_config: TokenizerConfig | None = None,
    min_count: int = 3,
    max_vocab: int | None = None,
    encoding: str = "utf-8",
    force: bool = False,
) -> dict[str, Any]:
    """Count a trigram model on text and save it; returns a summary (tokens, vocab, n-grams, seconds).

    Args:
        model: take the vocabulary and tokenizer settings from this word model (recommended).
        tokenizer_config: how to read the text when no model is given.
    """
    from wordrnn.text.encode import count_words, encode_corpus, readable_twice

    started = time.perf_counter()
    out_dir = Path(out_dir)
    vocab: Vocabulary | None = None
    if model is not None:
        from wordrnn.store.saved import SavedModel

        saved = SavedModel.load(model)
        vocab, tokenizer_config = saved.word_vocab("an n-gram baseline"), saved.tokenizer_config
    tokenizer_config = tokenizer_config or TokenizerConfig()
    tokenizer = Tokenizer(tokenizer_config)
    with ckpt.claim_output(out_dir, force=force, resume=False):  # held until saved: no other run replaces it
        with readable_twice(corpus) as paths:
            if vocab is None:
                vocab = Vocabulary.build(count_words(paths, tokenizer, encoding), max_vocab, min_count)
            ids = encode_corpus(paths, tokenizer, vocab, encoding)
        kn = KneserNey.train(ids, len(vocab))
        ngram = {"format": FORMAT, "order": 3, "smoothing": "interpolated modified Kneser-Ney"}
        meta = model_meta(KIND, {"tokenizer": tokenizer_config, "ngram": ngram},
                          {"files": [str(p) for p in corpus], "train_tokens": int(len(ids))}, parameters=kn.size)
        ckpt.write_manifest(out_dir, ckpt.MODEL_MANIFEST, meta, {"vocab.json": vocab.to_json(), "ngram.npz": kn.to_arrays()})
        return {"tokens": int(len(ids)), "vocab": len(vocab), "ngrams": kn.size,
                "seconds": round(time.perf_counter() - started, 3)}


def load_baseline(directory: str | Path) -> tuple[KneserNey, Vocabulary, TokenizerConfig]:
    """The n-gram, its vocabulary and tokenizer settings from a baseline directory."""
    directory = Path(directory)
    files = ckpt.ModelFiles.open(directory)  # one generation, even while `evaluate --save` updates it
    manifest = files.manifest
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    if manifest.get("kind") != KIND or (config.get("ngram") or {}).get("format") != FORMAT:
        raise ModelFormatError(f"{directory}: not an n-gram baseline; make one with `wordrnn baseline train`")
    vocab = Vocabulary.from_json(files.read_json("vocab"))
    kn = KneserNey.from_arrays(files.read_arrays("ngram"))
    if kn.vocab_size != len(vocab):
        raise ModelFormatError(f"{directory}: the n-gram covers {kn.vocab_size} words but the vocabulary has {len(vocab)}; "
                               "the directory mixes files of different models")
    return kn, vocab, from_dict(TokenizerConfig, config.get("tokenizer"))


def describe_baseline(directory: str | Path) -> dict[str, Any]:
    """What ``wordrnn info`` shows for a baseline directory (same keys as for a network)."""
    directory = Path(directory)
    files = ckpt.ModelFiles.open(directory)
    manifest = files.manifest
    metrics = files.read_json("metrics") if "metrics" in manifest["files"] else {}
    vocab = files.read_json("vocab")
    return describe(directory, manifest, metrics=metrics,
                    vocab_size=len(vocab.get("words", [])) if isinstance(vocab, dict) else None)


def evaluate_baseline(
    files: Sequence[str | Path],
    baseline: str | Path,
    *,
    vocab: Vocabulary | None = None,
    pretokenized: bool | None = None,
    limit: int | None = None,
    encoding: str = "utf-8",
    on_progress: Any = None,
) -> dict[str, Any]:
    """The evaluation metrics of an n-gram baseline (see ``evaluate.evaluate``).

    Args:
        vocab: the word model it is compared with; a different vocabulary is an error,
            since the numbers would not be comparable.
    """
    from wordrnn.evaluation.metrics import score
    from wordrnn.evaluation.streams import ngram_distributions, read_tokens, tokenizer_config_for

    kn, own_vocab, tokenizer_config = load_baseline(baseline)
    if vocab is not None and vocab.words != own_vocab.words:
        raise ModelFormatError(
            f"{baseline}: the baseline's vocabulary ({len(own_vocab)} words) differs from the model's ({len(vocab)}); "
            "retrain it with `wordrnn baseline train ... --model MODEL`"
        )
    tokenizer = Tokenizer(tokenizer_config_for(tokenizer_config, pretokenized))
    tokens = read_tokens(files, tokenizer, limit, encoding)
    ids = np.asarray(own_vocab.encode(tokens), np.int64)
    metrics = score(ngram_distributions(kn, ids, on_progress=on_progress), own_vocab, ids, tokens)
    metrics["parameters"] = kn.size
    return metrics
