"""Training jobs: wire data, model, engine and model directory together.

``train_text`` is what ``wordrnn train`` runs. It validates everything it can
before touching the output directory, holds its lock from before the corpus is
read until the last save (``checkpoint.claim_output``), and saves through ``checkpoint.write_manifest`` so a crash never leaves a broken
model. ``run_training`` is the part shared with numeric series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wordrnn.store import checkpoint as ckpt
from wordrnn.train.batching import StreamBatches, split_tail, validation_batches
from wordrnn.config import STRATEGIES, ModelConfig, TokenizerConfig, TrainConfig, replace
from wordrnn.errors import ConfigError, CorpusError, option
from wordrnn.store.exported import export_is_current
from wordrnn.store.meta import model_meta
from wordrnn.store.saved import SavedModel
from wordrnn.train.budget import budget_for, reserve_seconds
from wordrnn.train.cluster import writes_model
from wordrnn.train.recipe import Recipe
from wordrnn.train.resources import check_memory, check_size, check_softmax
from wordrnn.train.resuming import check_resumed_corpus, resumed_config, resuming_line
from wordrnn.train.saving import read_checkpoint, saver
from wordrnn.text.shards import is_dataset
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import Vocabulary, check_limits

if TYPE_CHECKING:
    from wordrnn.train.engine import Engine


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
    started: float | None = None,
) -> dict[str, Any]:
    """Train on prepared sequences and save the model directory (the engine call shared by all input kinds).

    Call it inside ``checkpoint.claim_output(out_dir, ...)``: the caller holds the directory's
    training lock from before it read its data until the last save.

    Args:
        train_data: an array, or a ``shards.ShardedTokens`` view read through ``tf.data``.
        files: extra files stored with every save (vocabulary...).
        meta: the manifest's description of the model (``meta.model_meta``); the parameter count
            and the strategy are added here.
        after_save: called with the directory after the final model is saved (e.g. export).
        strategy: "default", "mirrored" or "multiworker" (see ``distributed.py``); under a
            strategy only the chief writes the model directory.
        started: when the run began (``time.perf_counter()``; default: now): a time budget counts from it.
    """
    # distributed first: a multi-worker strategy must be made before TensorFlow runs any op
    from wordrnn.train.distributed import create_strategy, window_feed

    check_memory(model_config, train_config)
    tf_strategy = create_strategy(strategy)
    engine, parameters = _build_engine(tf_strategy, model_config, train_config)
    batches = StreamBatches(train_data, train_config.batch_size, train_config.window, train_config.warmup_steps)
    valid = validation_batches(valid_data, train_config.batch_size, train_config.window)
    snapshot = read_checkpoint(out_dir, batches, model_config, train_config) if resume else None
    meta = {**meta, "parameters": parameters, "strategy": {"name": strategy, "replicas": getattr(engine, "replicas", 1)}}
    save = saver(out_dir, files, meta, has_valid=valid is not None)
    budget = None
    if train_config.time_budget is not None:
        budget = budget_for(train_config.time_budget, time.perf_counter() if started is None else started,
                            reserve_seconds(parameters, export=after_save is not None), train_config.lr_decay == 1.0)
    chief = getattr(engine, "is_chief", True)  # the one process that writes
    if not resume and chief:
        (out_dir / ckpt.CHECKPOINT_MANIFEST).unlink(missing_ok=True)
    feed = window_feed(engine, batches, streamed=not isinstance(train_data, np.ndarray))
    summary = engine.fit(feed, valid, callbacks, save=save if chief else None, resume=snapshot,
                         should_stop=should_stop, budget=budget)
    if chief and summary["stopped"] == "interrupted" and not (out_dir / ckpt.MODEL_MANIFEST).is_file():
        save("last", engine.snapshot(engine.zero_states(1), {"epoch": 0, "window": 0, "step": 0}, []))
    if after_save is not None and chief and not (summary["new_steps"] == 0 and export_is_current(out_dir)):
        after_save(out_dir)
    summary["parameters"] = parameters
    return summary


def _build_engine(tf_strategy: Any, model_config: ModelConfig, train_config: TrainConfig) -> tuple[Engine, int]:
    """The engine (distributed under a strategy) for a freshly built model, and the model's parameter count.

    The random seed is set first so the initial weights, like everything after, repeat with it;
    what the train step runs instead of the full output, if anything, is ``model.training_head``'s.
    """
    from wordrnn.train.distributed import engine_for, strategy_scope
    from wordrnn.nn.model import build_model, count_parameters
    from wordrnn.train.engine import engine_arguments

    import keras

    if train_config.seed is not None:
        keras.utils.set_random_seed(train_config.seed)
    with strategy_scope(tf_strategy):
        model = build_model(model_config)
        engine = engine_for(tf_strategy, *engine_arguments(model, model_config, train_config))
    return engine, count_parameters(model)


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
    recipe: Recipe | None = None,
    on_choices: Callable[[dict[str, Any]], None] = lambda choices: None,
    started: float | None = None,
    options: Collection[str] | None = None,
) -> dict[str, Any]:
    """Train a next-word model on text files and save it to ``out_dir``.

    ``corpus`` may also be one directory made by ``wordrnn prepare``: its vocabulary and
    tokenizer settings are used and its token ids are read from memory-mapped shards.
    With ``resume`` the vocabulary and every setting come from the checkpoint in ``out_dir``
    (a new ``time_budget`` applies to the resumed run); ``options`` names the settings the caller
    chose: those a resumed run cannot change are refused unless equal to the checkpoint's
    (``resuming.resumed_config``).
    With a ``recipe`` (``recipe.Recipe``), the vocabulary cut, model size and schedule it does not
    leave to the caller are chosen from the corpus size; ``on_choices`` gets what was chosen
    before training starts (also in the summary as ``choices``). A time budget counts from
    ``started`` (``time.perf_counter()``, default: now).
    Returns the engine's summary plus ``vocab_size`` and ``train_tokens``.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"{option('strategy')} must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if strategy == "multiworker" and train_config.time_budget is not None:  # each worker's clock would stop it at another step
        raise ConfigError(f"{option('time_budget')} cannot be used with {option('strategy', 'multiworker')}: the workers "
                          f"must stop after the same step; give {option('epochs')} instead")
    check_limits(max_vocab, min_count)
    check_softmax(model_config, train_config)
    out_dir = Path(out_dir)
    # The lock first, the directory checked under it, held until the last save: a run that checked
    # and then read its corpus for minutes must not replace what another run saved meanwhile.
    with ckpt.claim_output(out_dir, force=force, resume=resume, writer=writes_model(strategy)):
        previous = SavedModel.load(out_dir, ckpt.CHECKPOINT_MANIFEST) if resume else None
        if previous is not None:
            train_config, applied = resumed_config(previous, options, tokenizer_config=tokenizer_config,
                                                   model_config=model_config, train_config=train_config,
                                                   max_vocab=max_vocab, min_count=min_count)
            tokenizer_config, model_config, recipe = previous.tokenizer_config, previous.model_config, None
            on_stage(resuming_line(applied))
        begun = time.perf_counter()
        started = begun if started is None else started

        def pick_min_count(tokens: int) -> int:
            return recipe.min_count(tokens, min_count) if recipe is not None else min_count

        tokenizer, vocab, ids = _read_corpus(corpus, tokenizer_config, previous, max_vocab, pick_min_count, encoding, on_stage)
        ids, valid_ids = _split_valid(ids, valid, tokenizer, vocab, train_config, encoding)
        choices = None
        if previous is None:
            model_config = replace(model_config, input_kind="tokens", vocab_size=len(vocab))
        if previous is None and recipe is not None:
            model_config, train_config, chosen = recipe.configure(len(ids), len(vocab), model_config, train_config)
            if "min_count" not in recipe.fixed and not (len(corpus) == 1 and is_dataset(corpus[0])):  # a dataset has its vocabulary
                chosen = {"min_count": pick_min_count(sum(vocab.counts)), **chosen}
            choices = {"train_tokens": int(len(ids)), "vocab_size": len(vocab), "chosen": chosen}
        check_size(len(ids), train_config)
        check_resumed_corpus(previous, len(ids))
        if choices is not None:
            on_choices(choices)
        corpus_info = {"files": [str(p) for p in corpus], "train_tokens": int(len(ids)),
                       "valid_tokens": int(len(valid_ids)) if valid_ids is not None else 0,
                       "prepare_seconds": round(time.perf_counter() - begun, 3)}
        meta = model_meta("tokens", {"model": model_config, "tokenizer": tokenizer.config, "train": train_config}, corpus_info)
        on_stage("training")
        summary = run_training(out_dir, model_config, train_config, ids, valid_ids, {"vocab.json": vocab.to_json()}, meta,
                               resume=resume, callbacks=callbacks, should_stop=should_stop, after_save=after_save,
                               strategy=strategy, started=started)
        summary.update(vocab_size=len(vocab), train_tokens=int(len(ids)), choices=choices)
        return summary


def _read_corpus(corpus: Sequence[str | Path], tokenizer_config: TokenizerConfig, previous: SavedModel | None,
                 max_vocab: int | None, min_count: Callable[[int], int], encoding: str,
                 on_stage: Callable[[str], None]) -> tuple[Tokenizer, Vocabulary, Any]:
    """The tokenizer, vocabulary and token ids of the training corpus.

    A ``wordrnn prepare`` directory brings its own tokenizer settings and vocabulary, and its ids
    stay memory-mapped. Plain text is read twice (counted, then encoded), so a resumed run, whose
    vocabulary must be the checkpoint's, skips the count. ``min_count`` gives the vocabulary cut
    for the number of words counted.
    """
    from wordrnn.text.shards import open_dataset
    from wordrnn.text.encode import count_words, encode_corpus, readable_twice

    dataset = open_dataset(corpus[0]) if len(corpus) == 1 and is_dataset(corpus[0]) else None
    if dataset is not None:
        if previous is not None and previous.vocab.words != dataset.vocab.words:
            raise CorpusError(f"{corpus[0]}: its vocabulary is not the checkpoint's; resume with the dataset it was "
                              f"trained on, or start anew with {option('force', True)}")
        return Tokenizer(dataset.tokenizer_config), dataset.vocab, dataset.tokens
    tokenizer = Tokenizer(tokenizer_config)
    with readable_twice(corpus) as paths:
        if previous is not None:
            vocab = previous.vocab
        else:
            on_stage("counting words")
            counts = count_words(paths, tokenizer, encoding)
            vocab = Vocabulary.build(counts, max_vocab, min_count(sum(counts.values())))
        on_stage("encoding")
        return tokenizer, vocab, encode_corpus(paths, tokenizer, vocab, encoding)


def _split_valid(ids: Any, valid: Sequence[str | Path] | None, tokenizer: Tokenizer, vocab: Vocabulary,
                 train_config: TrainConfig, encoding: str) -> tuple[Any, np.ndarray | None]:
    """The training ids and the validation ids: from the ``valid`` files, else the corpus's tail.

    The tail keeps at least one window, so validation always has a full window to read.
    """
    from wordrnn.text.encode import encode_corpus, readable_twice

    if valid:
        with readable_twice(valid) as valid_paths:
            valid_ids = encode_corpus(valid_paths, tokenizer, vocab, encoding)
        if len(valid_ids) < 2:
            raise CorpusError(f"the validation text holds no words; give a {option('valid')} file with some sentences")
        return ids, valid_ids
    if train_config.valid_fraction:
        return split_tail(ids, train_config.valid_fraction, min_steps=train_config.window + 1)
    return ids, None


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
    with ckpt.claim_output(out_dir, force=force, resume=False):
        scaler = Scaler.fit(series.values)
        source = str(Path(series.source).resolve())
        values = scaler.transform(series.values)
        train, valid = split_tail(values, train_config.valid_fraction, min_steps=max(MIN_STEPS, train_config.window // 2))
        pairs = len(train) - 1
        window = min(train_config.window, pairs)
        train_config = replace(train_config, window=window, batch_size=max(1, min(train_config.batch_size, pairs // window)))
        model_config = replace(model_config, input_kind="series", features=len(series.columns))
        meta = model_meta("series", {"model": model_config, "tokenizer": TokenizerConfig(), "train": train_config},
                          {"files": [source], "train_values": len(train), "valid_values": 0 if valid is None else len(valid)},
                          series={"columns": list(series.columns), "scaler": scaler.to_json(), "source": source,
                                  "steps": len(series)})
        tail = {"tail": series.values[-keep_tail:].tolist()}
        summary = run_training(out_dir, model_config, train_config, train, valid, {"series.json": tail}, meta,
                               callbacks=callbacks, should_stop=should_stop, after_save=after_save)
        summary.update(train_values=len(train), batch_size=train_config.batch_size, window=train_config.window)
        return summary
