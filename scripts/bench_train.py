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
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wordrnn.tfimport import tensorflow  # noqa: E402

tf = tensorflow()
import keras  # noqa: E402

from wordrnn.batching import StreamBatches  # noqa: E402
from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig  # noqa: E402
from wordrnn.engine import Engine  # noqa: E402
from wordrnn.model import build_model, loss_function, state_sizes  # noqa: E402
from wordrnn.textdata import count_words, encode_corpus  # noqa: E402
from wordrnn.tokenizer import Tokenizer  # noqa: E402
from wordrnn.vocab import Vocabulary  # noqa: E402

SKIP = 20


def brown_ids(path: Path) -> tuple[np.ndarray, int]:
    tokenizer = Tokenizer(TokenizerConfig(pretokenized=True))
    vocab = Vocabulary.build(count_words([path], tokenizer), min_count=3)
    return encode_corpus([path], tokenizer, vocab).astype(np.int32), len(vocab)


def ours(ids: np.ndarray, model_config: ModelConfig, train_config: TrainConfig, steps: int) -> dict:
    model = build_model(model_config)
    engine = Engine(model, loss_function(model_config), train_config, state_sizes(model_config))
    batches = StreamBatches(ids, train_config.batch_size, train_config.window)
    states = engine.zero_states(train_config.batch_size)
    targets, started = 0.0, None
    for k in range(steps):
        if k == SKIP:
            started = time.perf_counter()
        total, count, states = engine.train_window(*batches.batch(k), states)
        float(total)  # wait for the step, as fit's per-batch logs do
        if k >= SKIP:
            targets += float(count)
    seconds = time.perf_counter() - started
    return {"targets": int(targets), "seconds": round(seconds, 3), "tokens_per_s": round(targets / seconds, 1)}


class _Timer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_train_batch_end(self, batch, logs=None):  # noqa: ANN001
        self.times.append(time.perf_counter())


def reference(ids: np.ndarray, model_config: ModelConfig, train_config: TrainConfig, steps: int) -> dict:
    """Plain Keras: the same layers in a Sequential model, ``fit`` on (B, T) windows, no explicit state."""
    batch, window = train_config.batch_size, train_config.window
    model = keras.Sequential([
        keras.Input((window,), dtype="int32"),
        keras.layers.Embedding(model_config.vocab_size, model_config.embedding),
        keras.layers.LSTM(model_config.units, return_sequences=True),
        keras.layers.Dense(model_config.vocab_size),
    ])
    model.compile(optimizer=keras.optimizers.Adam(train_config.learning_rate, global_clipnorm=train_config.clipnorm),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = StreamBatches(ids, batch, window)
    x = np.concatenate([batches.batch(k)[0] for k in range(steps)]).astype(np.int32)
    y = np.concatenate([batches.batch(k)[1] for k in range(steps)]).astype(np.int32)
    timer = _Timer()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[timer])
    seconds = timer.times[-1] - timer.times[SKIP - 1]
    targets = batch * window * (steps - SKIP)
    return {"targets": targets, "seconds": round(seconds, 3), "tokens_per_s": round(targets / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "brown" / "train.txt")
    parser.add_argument("--steps", type=int, default=120, help="steps per method (the first 20 are not timed)")
    args = parser.parse_args()
    ids, vocab_size = brown_ids(args.corpus)
    defaults = TrainConfig()
    model_config = ModelConfig(vocab_size=vocab_size, dropout=0.0)
    keras.utils.set_random_seed(0)
    ref = reference(ids, model_config, defaults, args.steps)
    keras.utils.set_random_seed(0)
    mine = ours(ids, model_config, defaults, args.steps)
    keras.utils.set_random_seed(0)
    xla = ours(ids, model_config, TrainConfig(xla=True), args.steps)
    common = {"vocab": vocab_size, "units": model_config.units, "embedding": model_config.embedding,
              "batch_size": defaults.batch_size, "window": defaults.window, "timed_steps": args.steps - SKIP}
    print(json.dumps({"bench": "train_throughput", "method": "keras_fit", **common, **ref}))
    print(json.dumps({"bench": "train_throughput", "method": "wordrnn_engine", **common, **mine,
                      "ratio_vs_keras_fit": round(mine["tokens_per_s"] / ref["tokens_per_s"], 3)}))
    print(json.dumps({"bench": "train_throughput", "method": "wordrnn_engine_xla", **common, **xla,
                      "ratio_vs_keras_fit": round(xla["tokens_per_s"] / ref["tokens_per_s"], 3)}))


if __name__ == "__main__":
    main()
