"""Training throughput (BENCHMARKS.md §3): wordrnn's engine vs plain Keras ``model.fit``, XLA against XLA.

Every method trains the same architecture, the one ``wordrnn train`` picks for the Brown training
text by default (its recipe: 2 x 200 LSTM units, tied 96-wide embeddings, dropout 0.25; see
``wordrnn/train/recipe.py``), at the same batch size and window (pre-tokenized, vocabulary of words
seen >= 3 times). The comparison is fair pair by pair: the engine against ``fit`` without XLA, and
the engine compiled with XLA (``--xla``) against ``fit`` compiled with XLA (``jit_compile=True``),
both with the full softmax. The engine with the recipe's 1024-word sampled softmax, with and
without XLA, shows what ``wordrnn train`` itself runs (``fit`` has no sampled softmax to compare);
so does the engine with an adaptive softmax (``--adaptive-softmax 2000``: a head of 2,000 words;
the same layers with that output layer instead of the full one).
Throughput counts every target position that carries a loss, skipping the first 20 steps (tracing,
warm-up); methods run interleaved, block by block, so load on a shared machine hits all alike.
Prints one JSON line per method. ``--smoke``: a tiny model on a synthetic stream, in seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wordrnn.nn.tfimport import tensorflow  # noqa: E402

tf = tensorflow()
import keras  # noqa: E402

from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig, replace  # noqa: E402
from wordrnn.nn.model import TiedOutput, build_model  # noqa: E402
from wordrnn.text.encode import count_words, encode_corpus  # noqa: E402
from wordrnn.text.tokenizer import Tokenizer  # noqa: E402
from wordrnn.text.vocab import Vocabulary  # noqa: E402
from wordrnn.train.batching import StreamBatches  # noqa: E402
from wordrnn.train.engine import Engine, engine_arguments  # noqa: E402
from wordrnn.train.recipe import Recipe  # noqa: E402

SKIP = 20
ADAPTIVE_HEAD = 2000  # the adaptive methods' head (``wordrnn train --adaptive-softmax 2000``)


def brown_ids(path: Path) -> tuple[np.ndarray, int]:
    tokenizer = Tokenizer(TokenizerConfig(pretokenized=True))
    vocab = Vocabulary.build(count_words([path], tokenizer), min_count=3)
    return encode_corpus([path], tokenizer, vocab).astype(np.int32), len(vocab)


def recipe_configs(tokens: int, vocab_size: int) -> tuple[ModelConfig, TrainConfig]:
    """What ``wordrnn train`` with default flags trains on this corpus (without a time budget)."""
    model, train, _ = Recipe().configure(tokens, vocab_size, ModelConfig(vocab_size=vocab_size), TrainConfig())
    return model, train


def stateless_windows(ids: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole ``window``-word (inputs, targets) windows of a token sequence, one per row: what
    plain ``fit`` trains on, each window from a zero state."""
    usable = (len(ids) - 1) // window * window
    return ids[:usable].reshape(-1, window), ids[1:usable + 1].reshape(-1, window)


def keras_reference(config: ModelConfig, window: int | None = None) -> keras.Model:
    """Plain Keras: the same layers as ``build_model`` in a functional model, no explicit state.

    Its weights come in the same order and shapes as ``build_model(config)``'s, so they can be
    copied into a wordrnn model and validated exactly as ``wordrnn train`` validates.
    """
    inputs = keras.Input((window,), dtype="int32")
    embedding = keras.layers.Embedding(config.vocab_size, config.embedding)
    hidden = embedding(inputs)
    for _ in range(config.layers):
        hidden = keras.layers.Dropout(config.dropout)(hidden) if config.dropout else hidden
        hidden = keras.layers.LSTM(config.units, return_sequences=True)(hidden)
    hidden = keras.layers.Dropout(config.dropout)(hidden) if config.dropout else hidden
    if config.tied:
        if config.units != config.embedding:
            hidden = keras.layers.Dense(config.embedding)(hidden)
        outputs = TiedOutput(embedding)(hidden)
    else:
        outputs = keras.layers.Dense(config.vocab_size)(hidden)
    return keras.Model(inputs, outputs)


class Ours:
    """wordrnn's engine, stepped block by block with the state carried across blocks."""

    def __init__(self, ids: np.ndarray, model_config: ModelConfig, train_config: TrainConfig) -> None:
        model = build_model(model_config)
        self.engine = Engine(*engine_arguments(model, model_config, train_config))
        self.batches = StreamBatches(ids, train_config.batch_size, train_config.window)
        self.states = self.engine.zero_states(train_config.batch_size)
        self.k = 0

    def block(self, steps: int) -> tuple[float, float]:
        """Run ``steps`` steps; returns (targets, seconds) over all but the block's first step."""
        targets, times = 0.0, []
        for i in range(steps):
            total, count, self.states = self.engine.train_window(*self.batches.batch(self.k % self.batches.num_windows),
                                                                 self.states)
            float(total)  # wait for the step, as fit's per-batch logs do
            times.append(time.perf_counter())
            targets += float(count) if i else 0.0
            self.k += 1
        return targets, times[-1] - times[0]


class _Timer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_train_batch_end(self, batch, logs=None):  # noqa: ANN001
        self.times.append(time.perf_counter())


class Reference:
    """Plain Keras ``fit`` on (B, T) windows, optionally XLA-compiled (``jit_compile``)."""

    def __init__(self, ids: np.ndarray, model_config: ModelConfig, train_config: TrainConfig, xla: bool) -> None:
        self.batch, self.window = train_config.batch_size, train_config.window
        self.model = keras_reference(model_config, self.window)
        self.model.compile(optimizer=keras.optimizers.Adam(train_config.learning_rate, global_clipnorm=train_config.clipnorm),
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=xla)
        self.batches = StreamBatches(ids, self.batch, self.window)
        self.k = 0

    def block(self, steps: int) -> tuple[float, float]:
        windows = [self.batches.batch((self.k + i) % self.batches.num_windows) for i in range(steps)]
        x = np.concatenate([w[0] for w in windows]).astype(np.int32)
        y = np.concatenate([w[1] for w in windows]).astype(np.int32)
        self.k += steps
        timer = _Timer()
        self.model.fit(x, y, batch_size=self.batch, epochs=1, shuffle=False, verbose=0, callbacks=[timer])
        return float(self.batch * self.window * (steps - 1)), timer.times[-1] - timer.times[0]


# each method, and the reference it is compared with (None: it is a reference)
PAIRS = {"keras_fit": None, "keras_fit_xla": None, "wordrnn_engine": "keras_fit",
         "wordrnn_engine_xla": "keras_fit_xla", "wordrnn_engine_sampled": "keras_fit",
         "wordrnn_engine_xla_sampled": "keras_fit_xla", "wordrnn_engine_adaptive": "keras_fit",
         "wordrnn_engine_xla_adaptive": "keras_fit_xla"}


def methods(ids: np.ndarray, model_config: ModelConfig, recipe: TrainConfig, head: int) -> dict:
    """Every method of ``PAIRS``; the adaptive ones give the network a head of ``head`` words."""
    full = replace(recipe, sampled_softmax=0)
    adaptive = replace(model_config, adaptive_softmax=head)
    return {"keras_fit": Reference(ids, model_config, full, xla=False),
            "keras_fit_xla": Reference(ids, model_config, full, xla=True),
            "wordrnn_engine": Ours(ids, model_config, full),
            "wordrnn_engine_xla": Ours(ids, model_config, replace(full, xla=True)),
            "wordrnn_engine_sampled": Ours(ids, model_config, recipe),
            "wordrnn_engine_xla_sampled": Ours(ids, model_config, replace(recipe, xla=True)),
            "wordrnn_engine_adaptive": Ours(ids, adaptive, full),
            "wordrnn_engine_xla_adaptive": Ours(ids, adaptive, replace(full, xla=True))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "brown" / "train.txt")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds (each method runs one block a round)")
    parser.add_argument("--block", type=int, default=12, help="steps per block (the first step of a block is not timed)")
    parser.add_argument("--smoke", action="store_true", help="a tiny model on a synthetic stream (seconds; for tests)")
    args = parser.parse_args()
    skip = SKIP
    if args.smoke:
        ids, vocab_size = (np.random.default_rng(0).zipf(1.3, 20_000) % 300).astype(np.int32), 300
        model_config = ModelConfig(vocab_size=vocab_size, layers=1, units=16, embedding=8, tied=True)
        recipe = TrainConfig(batch_size=4, window=10, sampled_softmax=32)
        args.rounds, args.block, skip, head = 1, 3, 2, 20
    else:
        ids, vocab_size = brown_ids(args.corpus)
        model_config, recipe = recipe_configs(len(ids), vocab_size)
        head = ADAPTIVE_HEAD
    keras.utils.set_random_seed(0)
    runs = methods(ids, model_config, recipe, head)
    for method in runs.values():  # warm-up: tracing and the first steps are not timed
        method.block(skip)
    totals = {name: [0.0, 0.0] for name in runs}
    for _ in range(args.rounds):  # interleaved, so load on this shared machine hits every method alike
        for name, method in runs.items():
            targets, seconds = method.block(args.block)
            totals[name][0] += targets
            totals[name][1] += seconds
    common = {"vocab": vocab_size, "layers": model_config.layers, "units": model_config.units,
              "embedding": model_config.embedding, "tied": model_config.tied, "dropout": model_config.dropout,
              "batch_size": recipe.batch_size, "window": recipe.window, "timed_steps": args.rounds * (args.block - 1),
              "skipped_steps": skip, "smoke": args.smoke}
    rates = {name: targets / seconds for name, (targets, seconds) in totals.items()}
    for name, (targets, seconds) in totals.items():
        reference = PAIRS[name]
        print(json.dumps({"bench": "train_throughput", "method": name, **common,
                          "sampled_softmax": recipe.sampled_softmax if name.endswith("sampled") else 0,
                          "adaptive_softmax": head if name.endswith("adaptive") else 0,
                          "targets": int(targets), "seconds": round(seconds, 3), "tokens_per_s": round(rates[name], 1),
                          "reference": reference,
                          "ratio": round(rates[name] / rates[reference], 3) if reference else None}), flush=True)


if __name__ == "__main__":
    main()
