"""Latency and throughput of the fast path (BENCHMARKS.md §3), against plain Keras in the same run.

Measures, printing one JSON object per result line:

- ``startup``: whole-process wall time of ``wordrnn --help`` and ``wordrnn complete --help``.
- ``cold_complete``: whole-process wall time of ``wordrnn complete "the next" --model DIR`` (LiteRT
  export, no TensorFlow) against a plain-Keras process that loads a ``.keras`` file of the same
  model and calls ``model.predict`` on the context; runs alternate so machine load hits both alike.
- ``keystroke``: typing validation text character by character in one process; after every key a
  keyboard asks for 3 suggestions (``Session.suggest(prefix)``; a space also feeds the finished
  word). p50/p99 milliseconds per key, for the LiteRT runner and the compiled Keras step.
- ``generation``: words/s generating 2,000 words at batch 1 (model loaded), LiteRT and Keras
  runners, against a ``model.predict``-per-word loop (measured on fewer words, extrapolated).
- ``int8``: size of the dynamic-range int8 export over the float one, and how often the int8 and
  float exports agree on the top-3 words over the validation text.

Without ``--model`` it builds a 10k-word, 256-unit LSTM (embedding 128): trained for
``--train-steps`` steps on the Brown training text when ``../shared/corpora`` has it (so the int8
agreement is measured on a real distribution), else random weights over a synthetic vocabulary.

    nice -n 10 python scripts/bench_latency.py [--model DIR] [--runs 5] [--words 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wordrnn.errors import WordRNNWarning  # noqa: E402
BROWN = ROOT.parent / "shared" / "corpora" / "brown"
WORDRNN = Path(sys.executable).parent / "wordrnn"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
CONTEXT = "the next"

# The plain-Keras reference process: load the .keras file, look the context up, model.predict once.
REFERENCE = """
import json, sys
import numpy as np
import keras
model = keras.models.load_model(sys.argv[1], compile=False)
words = json.load(open(sys.argv[2], encoding="utf-8"))["words"]
ids = {w: i for i, w in enumerate(words)}
context = [0] + [ids.get(w, 1) for w in sys.argv[3].split()]
states = [np.zeros((1, int(s.shape[-1])), np.float32) for s in model.inputs[1:]]
logits = model.predict([np.array([context], np.int32), *states], verbose=0)[0][0, -1]
print(json.dumps([words[i] for i in np.argsort(-logits)[:3]]))
"""


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - started
    if result.returncode != 0 or "TensorFlow instead" in result.stderr:
        raise SystemExit(f"{' '.join(command)} failed or fell back to TensorFlow:\n{result.stderr}")
    return seconds


def summary(times: list[float]) -> dict:
    return {"runs": len(times), "min_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}


def validation_words(count: int, vocab) -> list[str]:  # noqa: ANN001
    """Validation text (Brown when present, else words sampled by the model's vocabulary order)."""
    if (BROWN / "valid.txt").is_file():
        words = []
        with open(BROWN / "valid.txt", encoding="utf-8") as handle:
            for line in handle:
                words.extend(line.split())
                if len(words) >= count:
                    break
        return words[:count]
    rng = np.random.default_rng(0)
    ranks = np.minimum(rng.zipf(1.3, count), len(vocab) - 3) + 1
    return [vocab.words[int(r)] for r in ranks]


def build_model(directory: Path, train_steps: int) -> dict:
    """The default 10k-word, 256-unit LSTM, trained briefly on Brown when available, with a float export."""
    from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig
    from wordrnn.runtime.export import export_model

    model = ModelConfig(vocab_size=1, units=256, embedding=128, dropout=0.0)
    if (BROWN / "train.txt").is_file() and train_steps > 0:
        from wordrnn.train.jobs import train_text

        started = time.perf_counter()
        summary_ = train_text([BROWN / "train.txt"], directory, model_config=model, max_vocab=10_000,
                              tokenizer_config=TokenizerConfig(pretokenized=True),
                              train_config=TrainConfig(epochs=1, max_steps=train_steps, batch_size=32, window=35,
                                                       valid_fraction=0.0, seed=1, early_stopping=0))
        described = {"trained_on": "brown/train.txt", "train_steps": summary_["steps"],
                     "train_loss": round(summary_["history"][-1]["loss"], 3),
                     "train_seconds": round(time.perf_counter() - started, 1)}
    else:
        import keras

        from wordrnn.store import checkpoint as ckpt
        from wordrnn.config import replace, to_dict
        from wordrnn.nn.model import build_model as build, get_weight_arrays
        from wordrnn.text.vocab import SPECIALS, Vocabulary

        keras.utils.set_random_seed(1)
        model = replace(model, vocab_size=10_000)
        words = list(SPECIALS) + ["the", "next"] + [f"w{i:05d}" for i in range(10_000 - 4)]
        meta = {"kind": "tokens", "config": {"model": to_dict(model), "tokenizer": to_dict(TokenizerConfig()),
                                             "train": to_dict(TrainConfig())}}
        ckpt.write_manifest(directory, ckpt.MODEL_MANIFEST, meta, {"weights.npz": get_weight_arrays(build(model)),
                                                                   "vocab.json": Vocabulary(words).to_json()})
        described = {"trained_on": None}
    export_model(directory, "none")
    return described


def keystrokes(predictor, words: list[str]) -> dict:  # noqa: ANN001
    """Type ``words`` key by key; after each key ask for 3 suggestions (a space first feeds the word)."""
    warnings.simplefilter("ignore", WordRNNWarning)  # out-of-vocabulary words are expected here
    session = predictor.session()
    session.suggest("", 3)  # warm-up
    costs = []
    for word in words:
        for i in range(1, len(word) + 1):
            started = time.perf_counter()
            session.suggest(word[:i], 3)
            costs.append(time.perf_counter() - started)
        started = time.perf_counter()  # the space: the word is finished
        session.feed(word)
        session.suggest("", 3)
        costs.append(time.perf_counter() - started)
    ms = np.array(costs) * 1e3
    return {"keystrokes": len(costs), "words": len(words), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "mean_ms": round(float(ms.mean()), 3)}


def generation(predictor, n_words: int) -> dict:  # noqa: ANN001
    predictor.generate("", 20, seed=0)  # warm-up (traces the Keras step)
    started = time.perf_counter()
    words = predictor.generate("", n_words, seed=1)
    seconds = time.perf_counter() - started
    return {"words": n_words, "seconds": round(seconds, 3), "words_per_s": round(n_words / seconds, 1),
            "sample": " ".join(words[:12])}


def predict_loop(keras_path: Path, n_words: int) -> dict:
    """The reference: ``model.predict`` once per word on the .keras model, state carried by hand."""
    import keras

    model = keras.models.load_model(keras_path, compile=False)
    states = [np.zeros((1, int(s.shape[-1])), np.float32) for s in model.inputs[1:]]
    rng = np.random.default_rng(1)
    token = 0
    model.predict([np.array([[token]], np.int32), *states], verbose=0)  # warm-up
    started = time.perf_counter()
    for _ in range(n_words):
        logits, *states = model.predict([np.array([[token]], np.int32), *states], verbose=0)
        probs = np.exp(logits[0, 0] - logits[0, 0].max())
        probs[1] = 0.0  # never <unk>
        token = int(rng.choice(len(probs), p=probs / probs.sum()))
    seconds = time.perf_counter() - started
    return {"words": n_words, "seconds": round(seconds, 3), "words_per_s": round(n_words / seconds, 1)}


def int8_check(model_dir: Path, work: Path, words: list[str]) -> dict:
    """Export float and int8 into a copy of the model; sizes, and top-3 agreement over ``words``."""
    from wordrnn.store import checkpoint as ckpt
    from wordrnn.runtime.export import export_model, text_agreement
    from wordrnn.runtime.litert import LiteRTStep
    from wordrnn.store.saved import SavedModel

    copy = work / "int8"
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns("train.lock", "checkpoint.json"))
    float_info = export_model(copy, "none")
    float_bytes = ckpt.read_file(copy, ckpt.read_manifest(copy), "litert")
    int8_info = export_model(copy, "dynamic")
    saved = SavedModel.load(copy)
    agreement = text_agreement(LiteRTStep(saved, float_bytes), LiteRTStep(saved), saved.vocab.encode(words))
    return {"float_bytes": float_info["bytes"], "int8_bytes": int8_info["bytes"],
            "size_ratio": round(int8_info["bytes"] / float_info["bytes"], 3), "target_ratio": round(1 / 3, 3),
            "top3_agreement": round(agreement["top3_agreement"], 4), "positions": agreement["positions"],
            "max_prob_diff": round(agreement["max_prob_diff"], 5)}


# The reference model: the same layers and state inputs built from stock Keras layers only (so it
# saves as a .keras file); tied output weights become a projection and a Dense of the same cost.
PLAIN_KERAS = """
import sys
import keras
from wordrnn.store.saved import SavedModel
config = SavedModel.load(sys.argv[1]).model_config
tokens = keras.Input((None,), dtype="int32")
hidden = keras.layers.Embedding(config.vocab_size, config.embedding)(tokens)
cell = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}.get(config.cell, keras.layers.SimpleRNN)
states_in, states_out = [], []
for _ in range(config.layers):
    states = [keras.Input((config.units,)) for _ in range(2 if config.cell == "lstm" else 1)]
    hidden, *new = cell(config.units, return_sequences=True, return_state=True)(hidden, initial_state=states)
    states_in += states
    states_out += new
if config.tied and config.units != config.embedding:
    hidden = keras.layers.Dense(config.embedding)(hidden)
logits = keras.layers.Dense(config.vocab_size)(hidden)
keras.Model([tokens, *states_in], [logits, *states_out]).save(sys.argv[2])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model directory with a LiteRT export (default: build one)")
    parser.add_argument("--runs", type=int, default=5, help="cold-start runs per method")
    parser.add_argument("--words", type=int, default=2000, help="words typed, and words generated")
    parser.add_argument("--reference-words", type=int, default=100, help="words of the model.predict loop")
    parser.add_argument("--train-steps", type=int, default=300, help="training steps of the default model")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wordrnn-bench-latency-"))
    try:
        model_dir = args.model.resolve()  # the timed commands run in another directory
        described: dict = {"given": True} if model_dir else {}
        if model_dir is None:
            model_dir = work / "model"
            described = build_model(model_dir, args.train_steps)

        from wordrnn.store.saved import SavedModel

        saved = SavedModel.load(model_dir)
        config = saved.model_config
        emit({"bench": "model", "path": str(model_dir), "vocab": config.vocab_size, "units": config.units,
              "embedding": config.embedding, "cell": config.cell, "layers": config.layers,
              "parameters": saved.parameter_count(), "export": saved.manifest.get("litert", {}).get("quantize"),
              **described})

        # A .keras file and a plain vocabulary for the reference process (built in a child process,
        # so this one stays TensorFlow-free until the Keras measurements).
        keras_path, vocab_path = work / "reference.keras", work / "vocab.json"
        vocab_path.write_text(json.dumps({"words": list(saved.vocab.words)}), encoding="utf-8")
        subprocess.run([sys.executable, "-c", PLAIN_KERAS, str(model_dir), str(keras_path)],
                       check=True, env=ENV, capture_output=True)

        for command in (["--help"], ["complete", "--help"]):
            times = [wall([str(WORDRNN), *command]) for _ in range(args.runs)]
            emit({"bench": "startup", "command": " ".join(["wordrnn", *command]), **summary(times), "target_s": 0.5})

        fast_cmd = [str(WORDRNN), "complete", CONTEXT, "--model", str(model_dir)]
        reference_cmd = [sys.executable, "-c", REFERENCE, str(keras_path), str(vocab_path), CONTEXT]
        fast, reference = [], []
        for _ in range(args.runs):
            fast.append(wall(fast_cmd))
            reference.append(wall(reference_cmd))
        emit({"bench": "cold_complete", "method": "wordrnn complete (LiteRT)", **summary(fast)})
        emit({"bench": "cold_complete", "method": "keras load + model.predict", **summary(reference)})
        ratio = min(reference) / min(fast)
        emit({"bench": "cold_complete_summary", "speedup_min": round(ratio, 2),
              "speedup_median": round(statistics.median(reference) / statistics.median(fast), 2),
              "target": "min <= 0.5 s and >= 6x", "pass": min(fast) <= 0.5 and ratio >= 6})

        import wordrnn

        words = validation_words(args.words, saved.vocab)
        litert = wordrnn.load(model_dir, runtime="litert")
        emit({"bench": "keystroke", "runtime": "litert", **keystrokes(litert, words), "target_p99_ms": 5.0})
        emit({"bench": "generation", "method": "litert", **generation(litert, args.words), "target_words_per_s": 2000})
        emit({"bench": "int8", **int8_check(model_dir, work, words)})

        keras_runner = wordrnn.load(model_dir, runtime="keras")  # imports TensorFlow from here on
        emit({"bench": "keystroke", "runtime": "keras", **keystrokes(keras_runner, words)})
        emit({"bench": "generation", "method": "keras step", **generation(keras_runner, args.words)})
        emit({"bench": "generation", "method": "model.predict loop", **predict_loop(keras_path, args.reference_words)})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
