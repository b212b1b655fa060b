"""``nn/size.py``: what a config's network holds and needs, known without building it (issue 18 item 8)."""

from __future__ import annotations

import pytest

from wordrnn.config import ModelConfig
from wordrnn.errors import ResourceError
from wordrnn.nn import size

CONFIGS = [
    ModelConfig(vocab_size=30, units=8, embedding=4, layers=2, dropout=0.2),
    ModelConfig(vocab_size=30, cell="gru", units=8, embedding=4, recurrent_dropout=0.1),
    ModelConfig(vocab_size=30, cell="elman", units=8, embedding=4, layers=3),
    ModelConfig(vocab_size=30, cell="jordan", units=8, embedding=4, layers=2),
    ModelConfig(vocab_size=30, units=8, embedding=4, tied=True),  # a projection to the embedding width
    ModelConfig(vocab_size=30, cell="gru", units=6, embedding=6, tied=True),  # no projection
    ModelConfig(vocab_size=100, units=8, embedding=16, tied=True, adaptive_softmax=5),  # three tail bands
    ModelConfig(vocab_size=30, cell="gru", units=8, embedding=8, tied=True, adaptive_softmax=10),  # one band
    ModelConfig(vocab_size=100, units=8, embedding=4, adaptive_softmax=5),  # untied: its own rows per band
    ModelConfig(vocab_size=30, units=8, embedding=4, adaptive_softmax=40),  # a head of every word: no bands
    ModelConfig(input_kind="series", features=3, units=8, layers=2),
    ModelConfig(input_kind="series", features=2, cell="jordan", units=5),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.input_kind}-{c.cell}-{c.layers}-{c.tied}-{c.adaptive_softmax}")
def test_the_shapes_are_those_the_builder_makes(config):
    from wordrnn.nn.model import build_model, count_parameters, get_weight_arrays

    model = build_model(config)
    assert sorted(size.weight_shapes(config)) == sorted(a.shape for a in get_weight_arrays(model).values())
    assert size.parameter_count(config) == count_parameters(model)


def test_the_memory_estimate_grows_with_the_network_and_refuses_beyond_the_free_memory():
    small, huge = ModelConfig(vocab_size=100, units=16, embedding=8), ModelConfig(vocab_size=100, units=8192, layers=16,
                                                                                   embedding=8192)
    assert size.inference_bytes(huge) > 1000 * size.inference_bytes(small)
    assert size.inference_bytes(huge) > 16 * 2**30  # the 12.5 GB the issue saw, and more
    size.check_fits(size.inference_bytes(small), 2**30, "running it", "free memory")
    size.check_fits(size.inference_bytes(huge), None, "running it", "free memory")  # unknown: refuses nothing
    with pytest.raises(ResourceError, match=r"running it needs about \d+\.\d GiB of memory but 1.0 GiB is free; free"):
        size.check_fits(size.inference_bytes(huge), 2**30, "running it", "free memory")


def test_available_memory_is_plausible():
    available = size.available_memory()
    assert available is None or available > 2**20
