"""What a training run needs before it starts: enough text for its streams (and targets), and enough memory.

Both checks run before anything is written, so a run that cannot work fails at once with a
message saying what to change, instead of in the middle of training.
"""

from __future__ import annotations

from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.errors import ConfigError, CorpusError, option
from wordrnn.nn.size import available_memory, check_fits, parameter_count


def check_size(steps: int, config: TrainConfig, what: str = "tokens") -> None:
    """Refuse a sequence too short for one full window in every stream, or for any target after
    the warm-up steps (a run that trains nothing: "loss 0.0000, 0 tok/s")."""
    needed = config.batch_size * config.window + 1
    if steps < needed:
        raise CorpusError(
            f"the training text has {steps} {what} but {option('batch_size', config.batch_size)} x "
            f"{option('window', config.window)} needs at least {needed}; use more text or lower "
            f"{option('batch_size')}/{option('window')}"
        )
    shortest = (steps - 1) // config.batch_size  # the streams' lengths differ by at most one
    if config.warmup_steps >= shortest:  # warm-up counts from each epoch's reset, across windows
        raise ConfigError(
            f"{option('warmup_steps', config.warmup_steps)} covers every training stream: each of the "
            f"{config.batch_size} streams is {shortest} steps long, so no target would carry a loss; "
            f"choose a {option('warmup_steps')} below {shortest}"
        )


def check_softmax(model: ModelConfig, train: TrainConfig) -> None:
    """Refuse two cheaper softmaxes at once: a sampled softmax trains a full output layer, an adaptive
    one is an output layer of its own, so a run can have one or the other."""
    if model.adaptive_softmax and train.sampled_softmax:
        raise ConfigError(f"{option('sampled_softmax', train.sampled_softmax)} and "
                          f"{option('adaptive_softmax', model.adaptive_softmax)} are two ways to make the softmax "
                          "cheaper to train and cannot be combined; give one of them")


def estimate_memory(model: ModelConfig, train: TrainConfig) -> int:
    """Rough peak bytes for training: weights x 4 (weights, grads, two Adam moments) + activations."""
    vocab = model.vocab_size if model.input_kind == "tokens" else model.features
    gates = {"lstm": 4, "gru": 3, "elman": 1, "jordan": 2}[model.cell]
    activations = train.batch_size * train.window * (3 * vocab + model.layers * gates * model.units * 2)
    return 4 * (4 * parameter_count(model) + activations)


def check_memory(model: ModelConfig, train: TrainConfig) -> None:
    """Refuse a run whose estimate exceeds 90% of the free memory (``size.check_fits``)."""
    check_fits(estimate_memory(model, train), available_memory(), "training",
               f"lower {option('max_vocab')}, {option('units')}, {option('batch_size')} or {option('window')}")
