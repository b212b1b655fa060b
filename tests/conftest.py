"""Shared fixtures: generated text and tiny trained models (vocab <= 200, units <= 16)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SUBJECTS = ["the cat", "the dog", "a bird", "my friend", "the old man", "she", "he", "they"]
VERBS = ["sees", "likes", "finds", "wants", "follows"]
OBJECTS = ["the ball", "a red apple", "the green tree", "the small house", "a blue car", "the river"]
ENDINGS = [".", "!", " today.", " again.", " every day."]


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked ``slow`` (the marker pyproject.toml defines) are the long versions of shorter ones:
    they run only when asked, with ``-m slow`` or ``WORDRNN_SLOW=1``; the default run skips them."""
    if "slow" in config.getoption("markexpr", "") or os.environ.get("WORDRNN_SLOW"):
        return
    skip = pytest.mark.skip(reason="long version: run with -m slow or WORDRNN_SLOW=1")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


def assert_clean_error(result, *needles: str) -> None:
    """A command failed as users must see it: a non-zero exit and one ``error:`` line naming every
    needle, with no traceback and no "internal error" (an exception the CLI did not expect)."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "internal error" not in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def make_text(sentences: int = 400, seed: int = 0) -> str:
    """A small, learnable language: subject verb object ending, one sentence a line."""
    rng = random.Random(seed)
    lines = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(ENDINGS)}" for _ in range(sentences)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "grammar.txt"
    path.write_text(make_text(), encoding="utf-8")
    return path


def train_tiny(corpus: Path, out: Path, cell: str = "lstm", epochs: int = 2, **overrides):
    """Train a tiny model quickly; returns the engine summary."""
    from wordrnn.config import ModelConfig, TrainConfig
    from wordrnn.train.jobs import train_text

    model = ModelConfig(vocab_size=1, cell=cell, units=16, embedding=8, layers=overrides.pop("layers", 1),
                        tied=overrides.pop("tied", False), adaptive_softmax=overrides.pop("adaptive_softmax", 0))
    train = TrainConfig(epochs=epochs, batch_size=overrides.pop("batch_size", 8), window=overrides.pop("window", 10),
                        seed=overrides.pop("seed", 1), learning_rate=overrides.pop("learning_rate", 0.01),
                        early_stopping=0, **overrides)
    return train_text([corpus], out, model_config=model, train_config=train, max_vocab=200)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, text_file) -> Path:
    """A 16-unit LSTM trained for eight epochs on the generated grammar."""
    out = tmp_path_factory.mktemp("models") / "tiny"
    train_tiny(text_file, out, epochs=8, learning_rate=0.02)
    return out


def make_untrained(out: Path, *, vocab_size: int = 50, words: list[str] | None = None, **model_overrides) -> Path:
    """A model directory with fresh (random) weights: no training, for tests of saving, export and runtimes.

    ``words`` replaces the vocabulary's ``w0``, ``w1``... (``vocab_size`` then counts them and the two specials)."""
    if words is not None:
        vocab_size = len(words) + 2
    from wordrnn.store import checkpoint as ckpt
    from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig, to_dict
    from wordrnn.nn.model import build_model, get_weight_arrays
    from wordrnn.text.vocab import Vocabulary

    settings = {"units": 16, "embedding": 8, **model_overrides}
    kind = settings.get("input_kind", "tokens")
    config = ModelConfig(vocab_size=vocab_size if kind == "tokens" else 0, **settings)
    files = {"weights.npz": get_weight_arrays(build_model(config))}
    if kind == "tokens":
        files["vocab.json"] = Vocabulary(["</s>", "<unk>"] + (words or [f"w{i}" for i in range(vocab_size - 2)])).to_json()
    meta = {"kind": kind, "config": {"model": to_dict(config), "tokenizer": to_dict(TokenizerConfig()),
                                     "train": to_dict(TrainConfig())}}
    ckpt.write_manifest(out, ckpt.MODEL_MANIFEST, meta, files)
    return out


@pytest.fixture()
def trained_engines(monkeypatch) -> list:
    """The engines the training jobs build during a test, kept: their models are what the jobs held in
    memory, so a test can compare a saved and loaded model with the model as it was before saving."""
    from wordrnn.train import jobs

    engines = []
    build = jobs._build_engine

    def keep(*args, **kwargs):
        engine, parameters = build(*args, **kwargs)
        engines.append(engine)
        return engine, parameters

    monkeypatch.setattr(jobs, "_build_engine", keep)
    return engines
