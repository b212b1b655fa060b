"""Carried or fresh state: how much the same number of training steps learns (BENCHMARKS.md §3).

Why ``wordrnn train`` learns less per epoch than plain Keras ``fit``: every method below trains the
recipe's Brown network (2 x 200 LSTM, tied 96-wide embeddings, dropout 0.1, Adam at a budget's
starting rate ``recipe.BUDGET_LEARNING_RATE`` with the recipe's gradient clip) from the same initial
weights for ``--steps`` steps of 32 windows of 35 words, one method after another, and is then
validated exactly as ``wordrnn train`` validates (Brown valid, the state carried across windows from
a reset):

- ``carried``: wordrnn's engine over contiguous streams, the state carried from window to window
  (``--fresh-state 0``, stateful truncated BPTT from the first step);
- ``fresh``: the same engine and streams, every window from a zero state (``--fresh-state 1``);
- ``fit``: plain Keras ``fit`` on shuffled windows, each from a zero state (the reference).

The engine methods' lines also give the mean absolute LSTM cell state of each layer after the last
step (for ``carried`` the state it carries on; ``fresh`` drops it at the next window): large in both,
so saturation alone does not explain the gap.
``--sampled N`` trains the two engine methods with the N-word sampled softmax instead (``fit`` has
none). Prints one JSON line per method. ``--smoke``: a tiny model on a synthetic text, in seconds.

    python scripts/bench_state.py [--steps 250] [--sampled 4096]
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
sys.path.insert(0, str(ROOT / "scripts"))

from bench_train import keras_reference, stateless_windows  # noqa: E402  (imports TensorFlow quietly)

import keras  # noqa: E402

from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig  # noqa: E402
from wordrnn.nn.model import build_model  # noqa: E402
from wordrnn.text.encode import count_words, encode_corpus  # noqa: E402
from wordrnn.text.tokenizer import Tokenizer  # noqa: E402
from wordrnn.text.vocab import Vocabulary  # noqa: E402
from wordrnn.train.batching import StreamBatches  # noqa: E402
from wordrnn.train.engine import Engine, engine_arguments  # noqa: E402
from wordrnn.train.recipe import BUDGET_LEARNING_RATE  # noqa: E402

BROWN = ROOT.parent / "shared" / "corpora" / "brown"
BATCH, WINDOW = 32, 35


def corpus(smoke: bool, folder: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Training and validation ids (words seen at least 3 times; pre-tokenized Brown) and the vocabulary size."""
    if smoke:
        from bench_time_to_quality import smoke_corpus

        train, valid = smoke_corpus(folder)
    else:
        train, valid = BROWN / "train.txt", BROWN / "valid.txt"
    tokenizer = Tokenizer(TokenizerConfig(pretokenized=True))
    vocab = Vocabulary.build(count_words([train], tokenizer), min_count=3)
    encode = lambda path: encode_corpus([path], tokenizer, vocab).astype(np.int32)  # noqa: E731
    return encode(train), encode(valid), len(vocab)


def engine_for(config: ModelConfig, train: TrainConfig, weights: list[np.ndarray]) -> Engine:
    """An engine over a fresh network holding ``weights`` (the sampled softmax when ``train`` asks for it)."""
    model = build_model(config)
    model.set_weights(weights)
    return Engine(*engine_arguments(model, config, train))


def train_engine(engine: Engine, ids: np.ndarray, steps: int, carried: bool) -> list[np.ndarray]:
    """``steps`` windows of contiguous streams; returns the state the last step ended with."""
    streams = StreamBatches(ids, BATCH, WINDOW)
    states = engine.zero_states(BATCH)
    for k in range(steps):
        if not carried:
            states = engine.zero_states(BATCH)
        _, _, states = engine.train_window(*streams.batch(k % streams.num_windows), states)
    return [np.asarray(s) for s in states]


def train_fit(config: ModelConfig, train: TrainConfig, weights: list[np.ndarray], ids: np.ndarray,
              steps: int) -> list[np.ndarray]:
    """Plain ``fit`` on ``steps`` batches of shuffled windows; returns its weights."""
    x, y = stateless_windows(ids, WINDOW)
    rows = np.random.default_rng(1).permutation(len(x))
    rows = np.resize(rows, steps * BATCH)  # wraps round for a text shorter than the steps asked for
    model = keras_reference(config, WINDOW)
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.Adam(train.learning_rate, global_clipnorm=train.clipnorm),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[rows], y[rows], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


def cell_states(states: list[np.ndarray]) -> list[float]:
    """Mean |c| of each LSTM layer (its states come as h, c)."""
    return [round(float(np.abs(c).mean()), 3) for c in states[1::2]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=250, help="training steps of each method")
    parser.add_argument("--sampled", type=int, default=0, help="train the engine methods with this sampled softmax (0: full)")
    parser.add_argument("--smoke", action="store_true", help="a tiny model on a synthetic text, seconds (for tests)")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="wordrnn-bench-state-") as folder:
        ids, valid_ids, vocab_size = corpus(args.smoke, Path(folder))
    units, embedding = (16, 8) if args.smoke else (200, 96)
    steps = 5 if args.smoke else args.steps
    config = ModelConfig(vocab_size=vocab_size, layers=2, units=units, embedding=embedding, tied=True, dropout=0.1)
    train = TrainConfig(batch_size=BATCH, window=WINDOW, learning_rate=BUDGET_LEARNING_RATE,
                        sampled_softmax=args.sampled, seed=1)
    keras.utils.set_random_seed(1)
    start = build_model(config).get_weights()
    judge = Engine(*engine_arguments(build_model(config), config, TrainConfig(batch_size=BATCH, window=WINDOW)))
    valid = StreamBatches(valid_ids, BATCH, WINDOW)
    for method in ("carried", "fresh", "fit"):
        keras.utils.set_random_seed(1)
        began = time.perf_counter()
        if method == "fit":
            weights, states = train_fit(config, train, start, ids, steps), None
        else:
            engine = engine_for(config, train, start)
            states = train_engine(engine, ids, steps, carried=method == "carried")
            weights = engine.model.get_weights()
        seconds = time.perf_counter() - began
        judge.model.set_weights(weights)
        row = {"bench": "state", "method": method, "steps": steps, "windows": f"{BATCH} x {WINDOW}",
               "softmax": "full" if method == "fit" or not args.sampled else f"sampled {args.sampled}",
               "seconds": round(seconds, 1), "valid_ppl": round(float(np.exp(judge.evaluate(valid))), 1),
               "smoke": args.smoke}
        if states is not None:
            row["mean_abs_cell_state"] = cell_states(states)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
