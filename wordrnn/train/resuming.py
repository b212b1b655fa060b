"""What a resumed run may change, and what it must keep of the checkpoint it continues.

A checkpoint fixes the network (its weights have that shape), how the text is read and cut into
streams (its position points into those streams), and the optimisation (its optimizer state and
schedule belong to those settings). A resumed run may only change how long it goes on, how often
it saves, and weight averaging, which may start late in a run as averaged SGD does (its averages
then begin at the checkpoint's weights) but not stop, since the saved model may be the average.
Options the caller chose that would change anything else are refused by name rather than
silently ignored, and the ones that do change something are said.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig, replace, to_dict
from wordrnn.errors import ConfigError, CorpusError, option
from wordrnn.store.saved import SavedModel

# the settings a resumed run takes from the caller (time_budget always: a new budget counts from now)
RESUMABLE = ("epochs", "time_budget", "max_steps", "checkpoint_every", "checkpoint_minutes", "xla", "ema", "ema_start",
             "early_stopping")


def resumed_config(previous: SavedModel, options: Collection[str] | None, *, tokenizer_config: TokenizerConfig,
                   model_config: ModelConfig, train_config: TrainConfig, max_vocab: int | None,
                   min_count: int) -> tuple[TrainConfig, list[str]]:
    """The resumed run's training config, and the options of ``options`` it applies (as ``option`` markers).

    Args:
        previous: the checkpoint to continue.
        options: the names of the settings the caller chose (the CLI: the flags given), whose values
            are in the configs and limits passed. None (a caller that does not say): nothing is
            checked, the larger of the two epoch counts is trained and ``time_budget`` applies.

    Raises:
        ConfigError: naming every chosen option whose value differs from the checkpoint's and
            cannot change, what each was, and what can change.
    """
    saved = previous.train_config
    if options is None:
        return replace(saved, epochs=max(train_config.epochs, saved.epochs), time_budget=train_config.time_budget), []
    asked = {**to_dict(tokenizer_config), **to_dict(model_config), **to_dict(train_config)}
    kept = {**to_dict(previous.tokenizer_config), **to_dict(previous.model_config), **to_dict(saved)}
    conflicts = [f"{option(name)} ({asked[name]!r}; the checkpoint has {kept[name]!r})" for name in sorted(options)
                 if name in kept and name not in RESUMABLE and asked[name] != kept[name]]
    conflicts += _vocabulary_conflicts(previous, options, max_vocab, min_count)
    if "ema" in options and saved.ema and not train_config.ema:
        conflicts.append(f"{option('ema')} (0, off; the checkpoint averages with {saved.ema!r}, and a resumed run "
                         "can change its momentum but not stop averaging)")
    applied = [name for name in RESUMABLE if name in options]
    if conflicts:
        can = ", ".join(option(name) for name in RESUMABLE)
        done = f"; given here and applied: {', '.join(option(name) for name in applied)}" if applied else ""
        raise ConfigError(f"{option('resume', True)} continues the checkpoint's run, whose other settings cannot "
                          f"change: {', '.join(conflicts)}; drop them, or start anew with {option('force', True)} "
                          f"(a resumed run can change {can}{done})")
    changes = {name: asked[name] for name in applied}
    return replace(saved, **{"time_budget": train_config.time_budget, **changes}), [
        option(name, asked[name]) for name in applied]


def _vocabulary_conflicts(previous: SavedModel, options: Collection[str], max_vocab: int | None,
                          min_count: int) -> list[str]:
    """The vocabulary limits chosen that the checkpoint's vocabulary contradicts (it has more words
    than ``max_vocab``, or keeps a word seen fewer than ``min_count`` times): the vocabulary is the
    checkpoint's, and a different one would not fit its weights."""
    vocab = previous.vocab
    conflicts = []
    if "max_vocab" in options and max_vocab is not None and len(vocab) > max_vocab:
        conflicts.append(f"{option('max_vocab')} ({max_vocab}; the checkpoint has {len(vocab)} words)")
    rarest = min(vocab.counts[2:], default=None)
    if "min_count" in options and rarest is not None and rarest < min_count:
        conflicts.append(f"{option('min_count')} ({min_count}; the checkpoint keeps words seen {rarest} times)")
    return conflicts


def check_resumed_corpus(previous: SavedModel | None, train_tokens: int) -> None:
    """Refuse to resume on a corpus of another length: the saved stream position would point elsewhere."""
    described = previous.manifest.get("corpus") if previous is not None else None
    trained_on = described.get("train_tokens") if isinstance(described, dict) else None
    if trained_on is not None and trained_on != train_tokens:
        raise CorpusError(f"the corpus has {train_tokens} training tokens but the checkpoint was trained on "
                          f"{trained_on}; resume with the same files and options, or start anew with {option('force', True)}")


def resuming_line(applied: list[str]) -> str:
    """The stage line of a resumed run: what the caller changed, and that the rest is the checkpoint's."""
    if not applied:
        return "resuming with the checkpoint's settings"
    return f"resuming with {', '.join(applied)}; every other setting is the checkpoint's"
