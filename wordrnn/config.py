"""Frozen configuration records, saved inside every model directory.

Standard library only. Each record validates itself on construction so that a
bad hyper-parameter fails before any data is read or any file is written, and
round-trips through plain JSON (no code is ever executed to load a config).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wordrnn.errors import ConfigError, option

CELLS = ("lstm", "gru", "elman", "jordan")
INPUT_KINDS = ("tokens", "series")
EOS_MODES = ("line", "paragraph")
STRATEGIES = ("default", "mirrored", "multiworker")  # how training runs: see distributed.py

T = TypeVar("T")


def _positive(name: str, value: int | float, maximum: int | float | None = None) -> None:
    """Refuse a non-positive or absurd ``value``; ``name`` is how the message names the field
    (``option(...)`` for one a user sets, the plain name for one only the library sets)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is unreasonably large (the limit is {maximum}); choose a smaller value")


def _finite(record: Any) -> None:
    """Refuse a NaN or infinite float field: every range check below is a comparison, and each
    comparison with NaN is false, so ``learning_rate=nan`` would pass them and train NaN weights."""
    for item in dataclasses.fields(record):
        value = getattr(record, item.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{option(item.name)} must be a finite number, got {value}")


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise ConfigError(f"{name} must be between {low} and {high}, got {value!r}")


@dataclass(frozen=True)
class TokenizerConfig:
    """How raw text becomes words; saved so typed context is tokenized the same way.

    Args:
        lowercase: fold case (a smaller vocabulary, but suggestions lose capitals).
        pretokenized: split on whitespace only (for corpora that are already tokenized).
        eos: "line" ends a sentence at every line break, "paragraph" only at blank lines.
    """

    lowercase: bool = False
    pretokenized: bool = False
    eos: str = "line"

    def __post_init__(self) -> None:
        if self.eos not in EOS_MODES:
            raise ConfigError(f"eos must be one of {', '.join(EOS_MODES)}, got {self.eos!r}")


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape. Everything needed to rebuild it before loading weights.

    Args:
        input_kind: "tokens" (embedding in, softmax out) or "series" (floats in, linear out).
        vocab_size: number of token ids (tokens only).
        features: number of series columns (series only).
        cell: recurrent cell family: lstm, gru, elman (SimpleRNN) or jordan.
        layers, units: depth and width of the recurrent stack.
        embedding: embedding width (tokens only).
        dropout: dropout on embeddings and between layers while training.
        recurrent_dropout: dropout on the recurrent connections (slower: disables fused kernels).
        tied: share the embedding matrix with the output layer (tokens only).
        adaptive_softmax: score words with an adaptive softmax whose head holds this many of the
            most frequent words, the rest in narrower clusters (``nn/adaptive.py``; 0: a full softmax).
            It is still a distribution over the whole vocabulary, trained on its exact likelihood; on
            Brown a training step costs about half a full softmax's (``scripts/bench_train.py``).
    """

    input_kind: str = "tokens"
    vocab_size: int = 0
    features: int = 1
    cell: str = "lstm"
    layers: int = 1
    units: int = 256
    embedding: int = 128
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    tied: bool = False
    adaptive_softmax: int = 0

    def __post_init__(self) -> None:
        _finite(self)
        if self.input_kind not in INPUT_KINDS:
            raise ConfigError(f"input_kind must be one of {', '.join(INPUT_KINDS)}, got {self.input_kind!r}")
        if self.cell not in CELLS:
            raise ConfigError(f"{option('cell')} must be one of {', '.join(CELLS)}, got {self.cell!r}")
        _positive(option("layers"), self.layers, 16)
        _positive(option("units"), self.units, 8192)
        _in_range(option("dropout"), self.dropout, 0.0, 0.95)
        _in_range(option("recurrent_dropout"), self.recurrent_dropout, 0.0, 0.95)
        if self.input_kind == "tokens":
            _positive("vocab_size", self.vocab_size, 10_000_000)
            _positive(option("embedding"), self.embedding, 8192)
            if self.adaptive_softmax < 0:
                raise ConfigError(f"{option('adaptive_softmax')} is the number of frequent words the head scores "
                                  f"(0: a full softmax), so it must be 0 or more, got {self.adaptive_softmax}")
        else:
            _positive("features", self.features, 10_000)


@dataclass(frozen=True)
class TrainConfig:
    """How the engine trains: truncated BPTT over contiguous parallel streams.

    Args:
        batch_size: number of parallel contiguous streams.
        window: truncated-BPTT length; the state carries from one window to the next.
        warmup_steps: after a state reset, this many outputs carry no loss.
        optimizer: "adam" or "sgd".
        learning_rate, clipnorm: step size and global gradient-norm clip.
        lr_patience, lr_factor: reduce the learning rate after this many epochs without improvement.
        early_stopping: stop after this many epochs without validation improvement (0: never).
        valid_fraction: held-out tail of the corpus used for validation when no validation text is given.
        checkpoint_every: also write a resumable checkpoint every N steps (0: at epoch ends only).
        checkpoint_minutes: also write one when this many minutes passed since the last (0: never).
        min_save_seconds: an epoch that ends sooner than this after the previous save is kept in
            memory and written with the next save (the last epoch and a stop always write), so
            hundreds of tiny epochs (series) don't spend a quarter of their time saving; a kill
            loses at most this much training (0: write every epoch end).
        max_steps: stop after this many steps (0: no limit).
        xla: compile the train step with XLA (faster on CPU for larger models; slower first step).
        until_loss: stop at the end of the first epoch whose loss (validation loss if any) is at most
            this (0: never); the sine demo's and series training's ``--until-mse``.
        lr_decay: multiply the learning rate by this after every epoch (1: constant; e.g. 0.9).
        sampled_softmax: train token models with a sampled softmax over this many sampled words
            instead of the full vocabulary (0: full softmax); several times faster on large
            vocabularies. Validation, evaluation and prediction always use the full softmax.
        ema: also keep an exponential moving average of the weights, with this momentum per step
            (0: off; e.g. 0.999): each validation measures the trained and the averaged weights,
            the better counts for the schedule and early stopping, and the best is what is saved.
            Averaging smooths the last steps' noise for free (Polyak averaging).
        ema_start: with ``ema``, begin averaging after this fraction of the training (of its
            planned steps; of a time budget's time), the averages starting at the weights of that
            moment, as averaged SGD does (0: from the first step). Until then validation measures
            the trained weights only, so early epochs do not pay for a second pass.
        fresh_state: for this first fraction of the training (of its planned steps; of a time
            budget's time) every window starts from a zero state; after it the state carries from
            window to window (0: carried from the first step). With the full softmax on Brown,
            250 steps from zero states validated at perplexity 336, as plain ``fit`` did, against
            491 with the state carried from the start (``scripts/bench_state.py``); over whole
            budgeted runs it has not helped so far, so the recipe leaves it at 0.
        state_reset: every stream's state is reset to zero every this many windows, the streams
            taking turns (``batching.fresh_streams``), so every step trains some streams from the
            start-of-text state that validation and a keyboard begin with (0: the state is reset
            only at each epoch's start; ``warmup_steps`` applies after that reset only). Carried
            for a whole epoch, a model can come to rely on the large cell states of a long carried
            state and predict wildly from a fresh one (see the README).
    """

    epochs: int = 10
    batch_size: int = 32
    window: int = 35
    warmup_steps: int = 0
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    clipnorm: float = 5.0
    weight_decay: float = 0.0
    lr_patience: int = 1
    lr_factor: float = 0.5
    early_stopping: int = 3
    valid_fraction: float = 0.05
    seed: int | None = None
    checkpoint_every: int = 0
    checkpoint_minutes: float = 0.0
    min_save_seconds: float = 1.0
    max_steps: int = 0
    xla: bool = False
    until_loss: float = 0.0
    sampled_softmax: int = 0
    lr_decay: float = 1.0
    time_budget: float | None = None
    ema: float = 0.0
    ema_start: float = 0.0
    fresh_state: float = 0.0
    state_reset: int = 0

    def __post_init__(self) -> None:
        _finite(self)
        _positive(option("epochs"), self.epochs, 100_000)
        _positive(option("batch_size"), self.batch_size, 65_536)
        _positive(option("window"), self.window, 100_000)
        _positive(option("learning_rate"), self.learning_rate, 100.0)
        if self.warmup_steps < 0:
            raise ConfigError(f"{option('warmup_steps')} must be 0 or more, got {self.warmup_steps}")
        if self.warmup_steps >= self.window * 1000:
            raise ConfigError(f"{option('warmup_steps')} is larger than any training stream; choose a smaller value")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"{option('optimizer')} must be adam or sgd, got {self.optimizer!r}")
        if self.clipnorm < 0 or self.weight_decay < 0:
            raise ConfigError(f"{option('clipnorm')} and {option('weight_decay')} must be 0 or more")
        _in_range(option("valid_fraction"), self.valid_fraction, 0.0, 0.5)
        _in_range("lr_factor", self.lr_factor, 0.01, 1.0)
        _in_range(option("lr_decay"), self.lr_decay, 0.01, 1.0)
        _in_range(option("fresh_state"), self.fresh_state, 0.0, 1.0)
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"{option('ema')} must be 0 (off) or a momentum below 1 such as 0.999, got {self.ema!r}")
        if not 0.0 <= self.ema_start < 1.0:
            raise ConfigError(f"{option('ema_start')} must be a fraction of the training from 0 up to (not "
                              f"including) 1, got {self.ema_start!r}")
        if self.ema_start and not self.ema:
            raise ConfigError(f"{option('ema_start')} says when weight averaging begins, but it is off; "
                              f"give {option('ema')} a momentum such as 0.999 too")
        for name in ("state_reset", "lr_patience", "early_stopping", "checkpoint_every", "checkpoint_minutes", "min_save_seconds", "max_steps", "until_loss",
                     "sampled_softmax"):
            if getattr(self, name) < 0:  # min_save_seconds is the one no flag sets: named as it is
                raise ConfigError(f"{name if name == 'min_save_seconds' else option(name)} must be 0 or more")
        _check_budget(self.time_budget)


MIN_BUDGET_MINUTES = 0.25  # start-up, one traced step, a validation pass and the export take about this long


def _check_budget(minutes: float | None) -> None:
    """A time budget must be a real number of minutes long enough for one step, validation and the export."""
    if minutes is None:
        return
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes) or minutes <= 0:
        raise ConfigError(f"{option('time_budget')} must be a positive number of minutes, got {minutes!r}")
    if minutes < MIN_BUDGET_MINUTES:
        raise ConfigError(f"{option('time_budget')} of {minutes:g} minutes is too short for one training step, "
                          f"validation and the export; give at least {MIN_BUDGET_MINUTES:g} minutes "
                          f"({60 * MIN_BUDGET_MINUTES:.0f} s)")


def to_dict(record: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config record."""
    return dataclasses.asdict(record)


def from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """Rebuild a config record, ignoring unknown keys from newer versions and validating values."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    values = {f.name: data[f.name] for f in fields if f.name in data}
    for f in fields:  # JSON from a file is untrusted: "units": 16.5 or "cell": [] must not reach Keras
        kind = _JSON_TYPES.get(str(f.type))
        value = values.get(f.name)
        if f.name in values and kind and not (isinstance(value, kind) and (bool in kind or not isinstance(value, bool))):
            raise ConfigError(f"{cls.__name__}.{f.name} must be {f.type}, got {value!r}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"invalid {cls.__name__}: {exc}") from None


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "int | None": (int, type(None)),
    "float | None": (int, float, type(None)),
}


def replace(record: T, **changes: Any) -> T:
    """A copy with some fields changed (validated again)."""
    return dataclasses.replace(record, **changes)  # type: ignore[type-var]


__all__ = ["CELLS", "TokenizerConfig", "ModelConfig", "TrainConfig", "to_dict", "from_dict", "replace", "field"]
