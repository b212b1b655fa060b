"""Training throughput (BENCHMARKS.md §3): wordrnn's engine vs plain Keras ``model.fit``.

Both train the same architecture (the default ``wordrnn train`` configuration: Embedding 128 ->
LSTM 256 -> softmax) at the same batch size and window on the Brown training text
(pre-tokenized, vocabulary of words seen >= 3 times). Throughput counts every target position
that carries a loss, skipping the first 20 steps (tracing, warm-up). Prints one JSON line each.
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

from wordrnn.train.batching import StreamBatches  # noqa: E402
from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig  # noqa: E402
from wordrnn.train.engine import Engine  # noqa: E402
from wordrnn.nn.model import build_model, loss_function, state_sizes  # noqa: E402
from wordrnn.text.encode import count_words, encode_corpus  # noqa: E402
from wordrnn.text.tokenizer import Tokenizer  # noqa: E402
from wordrnn.text.vocab import Vocabulary  # noqa: E402

SKIP = 20


def brown_ids(path: Path) -> tuple[np.ndarray, int]:
    tokenizer = Tokenizer(TokenizerConfig(pretokenized=True))
    vocab = Vocabulary.build(count_words([path], tokenizer), min_count=3)
    return encode_corpus([path], tokenizer, vocab).astype(np.int32), len(vocab)


class Ours:
    """wordrnn's engine, stepped block by block with the state carried across blocks."""

    def __init__(self, ids: np.ndarray, model_config: ModelConfig, train_config: TrainConfig) -> None:
        model = build_model(model_config)
        self.engine = Engine(model, loss_function(model_config), train_config, state_sizes(model_config))
        self.batches = StreamBatches(ids, train_config.batch_size, train_config.window)
        self.states = self.engine.zero_states(train_config.batch_size)
        self.k = 0

    def block(self, steps: int) -> tuple[float, float]:
        """Run ``steps`` steps; returns (targets, seconds) over all but the block's first step."""
        targets, times = 0.0, []
        for i in range(steps):
            total, count, self.states = self.engine.train_window(*self.batches.batch(self.k), self.states)
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
    """Plain Keras: the same layers in a Sequential model, ``fit`` on (B, T) windows, no explicit state."""

    def __init__(self, ids: np.ndarray, model_config: ModelConfig, train_config: TrainConfig) -> None:
        self.batch, self.window = train_config.batch_size, train_config.window
        self.model = keras.Sequential([
            keras.Input((self.window,), dtype="int32"),
            keras.layers.Embedding(model_config.vocab_size, model_config.embedding),
            keras.layers.LSTM(model_config.units, return_sequences=True),
            keras.layers.Dense(model_config.vocab_size),
        ])
        self.model.compile(optimizer=keras.optimizers.Adam(train_config.learning_rate, global_clipnorm=train_config.clipnorm),
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        self.batches = StreamBatches(ids, self.batch, self.window)
        self.k = 0

    def block(self, steps: int) -> tuple[float, float]:
        x = np.concatenate([self.batches.batch(self.k + i)[0] for i in range(steps)]).astype(np.int32)
        y = np.concatenate([self.batches.batch(self.k + i)[1] for i in range(steps)]).astype(np.int32)
        self.k += steps
        timer = _Timer()
        self.model.fit(x, y, batch_size=self.batch, epochs=1, shuffle=False, verbose=0, callbacks=[timer])
        return float(self.batch * self.window * (steps - 1)), timer.times[-1] - timer.times[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "brown" / "train.txt")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds (each method runs one block a round)")
    parser.add_argument("--block", type=int, default=12, help="steps per block (the first step of a block is not timed)")
    args = parser.parse_args()
    ids, vocab_size = brown_ids(args.corpus)
    defaults = TrainConfig()
    model_config = ModelConfig(vocab_size=vocab_size, dropout=0.0)
    keras.utils.set_random_seed(0)
    methods = {"keras_fit": Reference(ids, model_config, defaults),
               "wordrnn_engine": Ours(ids, model_config, defaults),
               "wordrnn_engine_xla": Ours(ids, model_config, TrainConfig(xla=True))}
    for method in methods.values():  # warm-up: tracing and the first SKIP steps are not timed
        method.block(SKIP)
    totals = {name: [0.0, 0.0] for name in methods}
    for _ in range(args.rounds):  # interleaved, so load on this shared machine hits every method alike
        for name, method in methods.items():
            targets, seconds = method.block(args.block)
            totals[name][0] += targets
            totals[name][1] += seconds
    common = {"vocab": vocab_size, "units": model_config.units, "embedding": model_config.embedding,
              "batch_size": defaults.batch_size, "window": defaults.window,
              "timed_steps": args.rounds * (args.block - 1), "skipped_steps": SKIP}
    reference_rate = totals["keras_fit"][0] / totals["keras_fit"][1]
    for name, (targets, seconds) in totals.items():
        rate = targets / seconds
        print(json.dumps({"bench": "train_throughput", "method": name, **common, "targets": int(targets),
                          "seconds": round(seconds, 3), "tokens_per_s": round(rate, 1),
                          "ratio_vs_keras_fit": round(rate / reference_rate, 3)}))


if __name__ == "__main__":
    main()
