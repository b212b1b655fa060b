"""How big the network of a config is, known without building it: its weight shapes, parameter
count and memory, and how much memory the machine has free.

Building a Keras network allocates and initialises every weight before any stored array is
compared with it, so a config must be checked first: a manifest edited to 16 layers of 8192 units
would otherwise make ``complete`` allocate gigabytes for weights that were never stored. With the
shapes known here, ``store.saved`` checks a config against the arrays stored with it, and refuses
a network the machine cannot hold. No TensorFlow here; ``tests/test_size.py`` keeps these shapes
equal to what ``model.build_model`` builds.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from wordrnn.config import ModelConfig
from wordrnn.errors import ResourceError

Shape = tuple[int, ...]


def _cell_shapes(cell: str, inputs: int, units: int) -> list[Shape]:
    """One recurrent layer's weights: input kernel, recurrent kernel, bias (Keras' layouts)."""
    if cell == "lstm":  # four gates side by side
        return [(inputs, 4 * units), (units, 4 * units), (4 * units,)]
    if cell == "gru":  # three gates; reset_after keeps separate input and recurrent biases
        return [(inputs, 3 * units), (units, 3 * units), (2, 3 * units)]
    if cell == "elman":
        return [(inputs, units), (units, units), (units,)]
    # jordan (cells.JordanCell): the hidden layer fed back its output, then the output layer
    return [(inputs, units), (units, units), (units,), (units, units), (units,)]


BAND_GROWTH = 4  # each adaptive-softmax cluster holds 4x the words of the one before, at a quarter of its width
MIN_BAND_WIDTH = 4


def adaptive_clusters(vocab_size: int, head: int, width: int) -> list[tuple[int, int, int]]:
    """The adaptive softmax's tail clusters as (first id, end id, width) (``nn/adaptive.py``): after the
    ``head`` most frequent words, bands of 4x the words at a quarter of the previous width."""
    bands, start, size, band_width = [], head, head * (BAND_GROWTH - 1), width
    while start < vocab_size:
        band_width = max(MIN_BAND_WIDTH, band_width // BAND_GROWTH)
        end = min(vocab_size, start + size)
        bands.append((start, end, band_width))
        start, size = end, size * BAND_GROWTH
    return bands


def _adaptive_shapes(config: ModelConfig, width: int) -> list[Shape]:
    """The adaptive output layer's weights over hidden states ``width`` wide (tied: the embedding's)."""
    head = min(config.adaptive_softmax, config.vocab_size)
    bands = adaptive_clusters(config.vocab_size, head, width)
    shapes: list[Shape] = [] if config.tied else [(width, head)]
    shapes += ([(width, len(bands))] if bands else []) + [(head + len(bands),)]
    for start, end, band_width in bands:  # projection, then the band's rows (tied: a map of its embeddings)
        rows = (width, band_width) if config.tied else (band_width, end - start)
        shapes += [(width, band_width), rows, (end - start,)]
    return shapes


def weight_shapes(config: ModelConfig) -> list[Shape]:
    """The shape of every weight array of ``config``'s network (the order is not the builder's)."""
    tokens = config.input_kind == "tokens"
    width = config.embedding if tokens else config.features
    shapes: list[Shape] = [(config.vocab_size, config.embedding)] if tokens else []
    for index in range(config.layers):
        shapes += _cell_shapes(config.cell, width if index == 0 else config.units, config.units)
    if not tokens:
        return shapes + [(config.units, config.features), (config.features,)]
    if not config.tied:
        if config.adaptive_softmax:
            return shapes + _adaptive_shapes(config, config.units)
        return shapes + [(config.units, config.vocab_size), (config.vocab_size,)]
    if config.units != config.embedding:  # a projection to the embedding width, then the shared matrix
        shapes += [(config.units, config.embedding), (config.embedding,)]
    if config.adaptive_softmax:
        return shapes + _adaptive_shapes(config, config.embedding)
    return shapes + [(config.vocab_size,)]


def parameter_count(config: ModelConfig) -> int:
    return sum(math.prod(shape) for shape in weight_shapes(config))


def inference_bytes(config: ModelConfig) -> int:
    """Rough peak bytes to load the network with Keras and run it on one stream: the stored arrays,
    the weights Keras creates and initialises, a float32 copy of each while assigning it, and the
    initialisers' scratch space; plus the outputs of a step."""
    outputs = config.vocab_size if config.input_kind == "tokens" else config.features
    return 4 * (4 * parameter_count(config) + 2 * outputs)


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


def check_fits(needed: int, available: int | None, what: str, advice: str) -> None:
    """Refuse work whose estimate exceeds 90% of the free memory: better a clear error now than the
    system's out-of-memory killer later. Unknown free memory (None) refuses nothing.

    Args:
        what: the work, as the message's subject ("training", "running this model").
        advice: what to do instead, ending the message.
    """
    if available is not None and needed > 0.9 * available:
        raise ResourceError(f"{what} needs about {needed / 2**30:.1f} GiB of memory but "
                            f"{available / 2**30:.1f} GiB is free; {advice}")
