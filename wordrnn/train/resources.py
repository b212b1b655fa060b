"""What a training run needs before it starts: enough text for its streams (and targets), and enough memory.

Both checks run before anything is written, so a run that cannot work fails at once with a
message saying what to change, instead of in the middle of training.
"""

from __future__ import annotations

import os
from pathlib import Path

from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.errors import ConfigError, CorpusError, ResourceError, option


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


def check_memory(model: ModelConfig, train: TrainConfig) -> None:
    """Refuse a run whose estimate exceeds 90% of the free memory: better a clear error now than the
    system's out-of-memory killer mid-training. Unknown free memory refuses nothing."""
    available = available_memory()
    if available is None:
        return
    needed = estimate_memory(model, train)
    if needed > 0.9 * available:
        raise ResourceError(
            f"training needs about {needed / 2**30:.1f} GiB of memory but {available / 2**30:.1f} GiB is free; "
            f"lower {option('max_vocab')}, {option('units')}, {option('batch_size')} or {option('window')}"
        )
