"""Training jobs: wire data, model, engine and model directory together.

``train_text`` is what ``wordrnn train`` runs. It validates everything it can
before touching the output directory, holds a lock on it while training, and
saves through ``checkpoint.write_manifest`` so a crash never leaves a broken
model. ``run_training`` is the part shared with numeric series.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn import __version__
from wordrnn.store import checkpoint as ckpt
from wordrnn.train.batching import StreamBatches, split_tail
from wordrnn.config import STRATEGIES, ModelConfig, TokenizerConfig, TrainConfig, replace, to_dict
from wordrnn.errors import ConfigError, CorpusError, ModelFormatError
from wordrnn.store.saved import SavedModel
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import Vocabulary, check_limits


def check_size(steps: int, config: TrainConfig, what: str = "tokens") -> None:
    """Refuse a sequence too short for one full window in every stream."""
    needed = config.batch_size * config.window + 1
    if steps < needed:
        raise CorpusError(
            f"the training text has {steps} {what} but --batch-size {config.batch_size} x --window {config.window} "
            f"needs at least {needed}; use more text or lower --batch-size/--window"
        )


def estimate_memory(model: ModelConfig, train: TrainConfig) -> int:
    """Rough peak bytes for training: weights x 4 (weights, grads, two Adam moments) + activations."""
    vocab = model.vocab_size if model.input_kind == "tokens" else model.features
    width = model.embedding if model.input_kind == "tokens" else model.features
    gates = {"lstm": 4, "gru": 3, "elman": 1, "jordan": 2}[model.cell]
    params = vocab * width + model.layers * gates * model.units * (width + model.units + 1) + (model.units + 1) * vocab
    activations = train.batch_size * train.window * (3 * vocab + model.layers * gates * model.units * 2)
    return 4 * (4 * params + activations)


def available_memory() -> int | None:
    """Bytes this process can still use: MemAvailable (free + reclaimable cache), capped by a
    container's cgroup limit (v2 or v1), which the host's figures do not show. None if unknown."""
    import os

    figures = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            figures += [int(line.split()[1]) * 1024 for line in handle if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        pass
    if not figures:
        try:
            figures.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            pass
    for limit, usage in (("memory.max", "memory.current"), ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            cap = Path("/sys/fs/cgroup", limit).read_text().strip()
            used = int(Path("/sys/fs/cgroup", usage).read_text())
        except (OSError, ValueError):
            continue
        if cap.isdigit() and int(cap) < 2**60:
            figures.append(max(int(cap) - used, 0))
    return min(figures) if figures else None


def _check_memory(model: ModelConfig, train: TrainConfig) -> None:
    from wordrnn.errors import ResourceError

    available = available_memory()
    if available is None:
        return
    needed = estimate_memory(model, train)
    if needed > 0.9 * available:
        raise ResourceError(
            f"training needs about {needed / 2**30:.1f} GiB of memory but {available / 2**30:.1f} GiB is free; "
            "lower --max-vocab, --units, --batch-size or --window"
        )


def run_training(
    out_dir: Path,
    model_config: ModelConfig,
    train_config: TrainConfig,
    train_data: np.ndarray,
    valid_data: np.ndarray | None,
    files: dict[str, Any],
    meta: dict[str, Any],
    *,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    should_stop: Callable[[], bool] = lambda: False,
    after_save: Callable[[Path], None] | None = None,
    strategy: str = "default",
) -> dict[str, Any]:
    """Train on prepared sequences and save the model directory (the engine call shared by all input kinds).

    Args:
        train_data: an array, or a ``shards.ShardedTokens`` view read through ``tf.data``.
        files: extra files stored with every save (vocabulary...).
        meta: manifest fields (config, corpus description...).
        after_save: called with the directory after the final model is saved (e.g. export).
        strategy: "default", "mirrored" or "multiworker" (see ``distributed.py``); under a
            strategy only the chief writes the model directory.
    """
    # distributed first: a multi-worker strategy must be made before TensorFlow runs any op
    from wordrnn.train.distributed import create_strategy, engine_for, strategy_scope, window_feed
    from wordrnn.train.engine import Snapshot
    from wordrnn.nn.model import build_model, count_parameters, loss_function, sampled_softmax_training, state_sizes

    import keras

    _check_memory(model_config, train_config)
    tf_strategy = create_strategy(strategy)
    if train_config.seed is not None:
        keras.utils.set_random_seed(train_config.seed)
    with strategy_scope(tf_strategy):
        model = build_model(model_config)
        train_model = train_loss = None
        if train_config.sampled_softmax and model_config.input_kind == "tokens" and train_config.sampled_softmax < model_config.vocab_size - 1:
            train_model, train_loss = sampled_softmax_training(model, model_config, train_config.sampled_softmax)
        engine = engine_for(tf_strategy, model, loss_function(model_config), train_config, state_sizes(model_config),
                            train_model, train_loss)
    batches = StreamBatches(train_data, train_config.batch_size, train_config.window, train_config.warmup_steps)
    valid = None
    if valid_data is not None and len(valid_data) > 1:
        valid = StreamBatches(valid_data, min(train_config.batch_size, len(valid_data) - 1), train_config.window)

    snapshot = None
    if resume:
        previous = ckpt.read_manifest(out_dir, ckpt.CHECKPOINT_MANIFEST)
        weights = ckpt.read_arrays(out_dir, previous, "weights")
        state = ckpt.read_arrays(out_dir, previous, "state")
        optimizer = [state[f"opt_{i:04d}"] for i in range(sum(k.startswith("opt_") for k in state))]
        states = [state[f"rnn_{i:04d}"] for i in range(sum(k.startswith("rnn_") for k in state))]
        seeds = [state[f"seed_{i:04d}"] for i in range(sum(k.startswith("seed_") for k in state))]
        history = ckpt.read_json(out_dir, previous, "history")
        position = previous.get("position")
        fits = isinstance(position, dict) and all(
            isinstance(position.get(k), int) and position[k] >= 0 for k in ("epoch", "window", "step"))
        if not fits or position["window"] > batches.num_windows or (position["window"] and [
                s.shape for s in states] != [(train_config.batch_size, n) for n in state_sizes(model_config)]):
            raise ModelFormatError(f"{out_dir}: the checkpoint's stream position or state does not fit this corpus "
                                   "and config; resume with the same files, or start anew with --force")
        snapshot = Snapshot(weights, optimizer, states, position, history, seeds)

    meta = {**meta, "wordrnn_version": __version__, "parameters": count_parameters(model),
            "strategy": {"name": strategy, "replicas": getattr(engine, "replicas", 1)}}
    has_valid = valid is not None

    def save(kind: str, snap: Snapshot) -> None:
        common = {**files, "weights.npz": snap.weights, "history.json": snap.history}
        state = {f"opt_{i:04d}": v for i, v in enumerate(snap.optimizer)}
        state.update({f"rnn_{i:04d}": v for i, v in enumerate(snap.states)})
        state.update({f"seed_{i:04d}": v for i, v in enumerate(snap.seeds)})
        if kind == "last":
            ckpt.write_manifest(out_dir, ckpt.CHECKPOINT_MANIFEST, {**meta, "position": snap.position},
                                {**common, "state.npz": state})
        if kind == "best" or not has_valid or not (out_dir / ckpt.MODEL_MANIFEST).is_file():
            ckpt.write_manifest(out_dir, ckpt.MODEL_MANIFEST, {**meta, "position": snap.position}, common)

    chief = getattr(engine, "is_chief", True)  # the one process that writes
    with ckpt.TrainingLock(out_dir) if chief else contextlib.nullcontext():
        if not resume and chief:
            (out_dir / ckpt.CHECKPOINT_MANIFEST).unlink(missing_ok=True)
        feed = window_feed(engine, batches, streamed=not isinstance(train_data, np.ndarray))
        summary = engine.fit(feed, valid, callbacks, save=save if chief else None, resume=snapshot,
                             should_stop=should_stop)
        if chief and summary["stopped"] == "interrupted" and not (out_dir / ckpt.MODEL_MANIFEST).is_file():
            save("last", engine.snapshot(engine.zero_states(1), {"epoch": 0, "window": 0, "step": 0}, []))
        if after_save is not None and chief:
            after_save(out_dir)
    summary["parameters"] = meta["parameters"]
    return summary


def train_text(
    corpus: Sequence[str | Path],
    out_dir: str | Path,
    *,
    tokenizer_config: TokenizerConfig = TokenizerConfig(),
    model_config: ModelConfig = ModelConfig(vocab_size=1),
    train_config: TrainConfig = TrainConfig(),
    valid: Sequence[str | Path] | None = None,
    max_vocab: int | None = 20_000,
    min_count: int = 1,
    encoding: str = "utf-8",
    force: bool = False,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    should_stop: Callable[[], bool] = lambda: False,
    on_stage: Callable[[str], None] = lambda stage: None,
    after_save: Callable[[Path], None] | None = None,
    strategy: str = "default",
) -> dict[str, Any]:
    """Train a next-word model on text files and save it to ``out_dir``.

    ``corpus`` may also be one directory made by ``wordrnn prepare``: its vocabulary and
    tokenizer settings are used and its token ids are read from memory-mapped shards.
    With ``resume`` the vocabulary and every setting come from the checkpoint in ``out_dir``.
    Returns the engine's summary plus ``vocab_size`` and ``train_tokens``.
    """
    from wordrnn.text.shards import is_dataset, open_dataset
    from wordrnn.text.encode import count_words, encode_corpus, readable_twice

    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    check_limits(max_vocab, min_count)
    out_dir = Path(out_dir)
    ckpt.prepare_output(out_dir, force=force, resume=resume)
    if resume:
        previous = SavedModel.load(out_dir, ckpt.CHECKPOINT_MANIFEST)
        tokenizer_config, model_config = previous.tokenizer_config, previous.model_config
        train_config = replace(previous.train_config, epochs=max(train_config.epochs, previous.train_config.epochs))
    dataset = open_dataset(corpus[0]) if len(corpus) == 1 and is_dataset(corpus[0]) else None
    if dataset is not None:
        tokenizer_config = dataset.tokenizer_config
        if resume and previous.vocab.words != dataset.vocab.words:
            raise CorpusError(f"{corpus[0]}: its vocabulary is not the checkpoint's; resume with the dataset it was "
                              "trained on, or start anew with --force")
    tokenizer = Tokenizer(tokenizer_config)
    started = time.perf_counter()
    if dataset is not None:
        vocab, ids = dataset.vocab, dataset.tokens
    else:
        with readable_twice(corpus) as paths:
            if resume:
                vocab = previous.vocab
            else:
                on_stage("counting words")
                vocab = Vocabulary.build(count_words(paths, tokenizer, encoding), max_vocab, min_count)
            on_stage("encoding")
            ids = encode_corpus(paths, tokenizer, vocab, encoding)
    valid_ids = None
    if valid:
        with readable_twice(valid) as valid_paths:
            valid_ids = encode_corpus(valid_paths, tokenizer, vocab, encoding)
        if len(valid_ids) < 2:
            raise CorpusError("the validation text holds no words; give a --valid file with some sentences")
    elif train_config.valid_fraction:
        ids, valid_ids = split_tail(ids, train_config.valid_fraction, min_steps=train_config.window + 1)
    check_size(len(ids), train_config)
    described = previous.manifest.get("corpus") if resume else None
    trained_on = described.get("train_tokens") if isinstance(described, dict) else None
    if trained_on is not None and trained_on != len(ids):
        raise CorpusError(f"the corpus has {len(ids)} training tokens but the checkpoint was trained on {trained_on}; "
                          "resume with the same files and options, or start anew with --force")
    if not resume:
        model_config = replace(model_config, input_kind="tokens", vocab_size=len(vocab))
    meta = {
        "kind": "tokens",
        "config": {"model": to_dict(model_config), "tokenizer": to_dict(tokenizer_config), "train": to_dict(train_config)},
        "corpus": {"files": [str(p) for p in corpus], "train_tokens": int(len(ids)),
                   "valid_tokens": int(len(valid_ids)) if valid_ids is not None else 0,
                   "prepare_seconds": round(time.perf_counter() - started, 3)},
    }
    on_stage("training")
    summary = run_training(out_dir, model_config, train_config, ids, valid_ids, {"vocab.json": vocab.to_json()}, meta,
                           resume=resume, callbacks=callbacks, should_stop=should_stop, after_save=after_save,
                           strategy=strategy)
    summary.update(vocab_size=len(vocab), train_tokens=int(len(ids)))
    return summary


def train_series(
    csv_path: str | Path,
    out_dir: str | Path,
    *,
    columns: Sequence[str] | None = None,
    model_config: ModelConfig = ModelConfig(input_kind="series", units=32),
    train_config: TrainConfig = TrainConfig(batch_size=16, window=50, valid_fraction=0.0, lr_patience=0),
    force: bool = False,
    keep_tail: int = 10_000,
    callbacks: Sequence[Any] = (),
    should_stop: Callable[[], bool] = lambda: False,
    after_save: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Train a next-value model on numeric CSV columns and save it to ``out_dir``.

    Values are z-scored per column (the scaler goes into the manifest). ``batch_size`` and
    ``window`` are upper limits: a short series gets a shorter window and fewer streams rather
    than an error. The last ``keep_tail`` raw rows are stored so ``forecast`` can prime without
    the CSV. Returns the engine's summary plus ``train_values`` and the effective config.
    """
    from wordrnn.text.series import MIN_STEPS, Scaler, read_csv

    out_dir = Path(out_dir)
    series = read_csv(csv_path, list(columns) if columns else None)
    ckpt.prepare_output(out_dir, force=force, resume=False)
    scaler = Scaler.fit(series.values)
    source = str(Path(series.source).resolve())
    values = scaler.transform(series.values)
    train, valid = split_tail(values, train_config.valid_fraction, min_steps=max(MIN_STEPS, train_config.window // 2))
    pairs = len(train) - 1
    window = min(train_config.window, pairs)
    train_config = replace(train_config, window=window, batch_size=max(1, min(train_config.batch_size, pairs // window)))
    model_config = replace(model_config, input_kind="series", features=len(series.columns))
    meta = {
        "kind": "series",
        "config": {"model": to_dict(model_config), "tokenizer": to_dict(TokenizerConfig()), "train": to_dict(train_config)},
        "corpus": {"files": [source], "train_values": len(train), "valid_values": 0 if valid is None else len(valid)},
        "series": {"columns": list(series.columns), "scaler": scaler.to_json(), "source": source,
                   "steps": len(series)},
    }
    tail = {"tail": series.values[-keep_tail:].tolist()}
    summary = run_training(out_dir, model_config, train_config, train, valid, {"series.json": tail}, meta,
                           callbacks=callbacks, should_stop=should_stop, after_save=after_save)
    summary.update(train_values=len(train), batch_size=train_config.batch_size, window=train_config.window)
    return summary
