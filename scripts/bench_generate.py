"""Generation speed (BENCHMARKS.md §3 "Generation"): the Predictor vs a ``model.predict``-per-word loop.

A 10k-word, 256-unit LSTM (embedding 128, random weights: speed does not depend on training)
is saved as a real model directory and opened with ``wordrnn.load``. The Predictor generates
2,000 words at batch 1 from the start-of-text state (model already loaded and traced by a short
warm-up). The reference runs the same Keras model with ``model.predict`` once per word, carrying
the state by hand and sampling with the same sampler; it is slow, so it is measured on fewer words
(half before and half after the Predictor run, so machine load hits both alike) and its rate is
extrapolated to 2,000 words. Prints one JSON line per method, then a summary line with the ratio.

    nice -n 10 python scripts/bench_generate.py [--words 2000] [--reference-words 100] [--runtime keras|litert]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wordrnn.nn.tfimport import tensorflow  # noqa: E402

tensorflow()

from wordrnn.store import checkpoint as ckpt  # noqa: E402
from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig, to_dict  # noqa: E402
from wordrnn.nn.model import build_model, get_weight_arrays, state_sizes  # noqa: E402
from wordrnn.predict.predictor import NEVER_GENERATED, load  # noqa: E402
from wordrnn.predict.sampling import Sampler  # noqa: E402
from wordrnn.text.vocab import EOS_ID, SPECIALS, Vocabulary  # noqa: E402


def write_model(directory: Path, vocab_size: int, units: int, seed: int):
    """A randomly initialised word model saved as a model directory; returns the Keras model."""
    import keras

    keras.utils.set_random_seed(seed)
    config = ModelConfig(vocab_size=vocab_size, units=units, embedding=128)
    model = build_model(config)
    words = list(SPECIALS) + [f"w{i:05d}" for i in range(vocab_size - len(SPECIALS))]
    vocab = Vocabulary(words, [0] * len(words))
    meta = {"kind": "tokens", "config": {"model": to_dict(config), "tokenizer": to_dict(TokenizerConfig()),
                                         "train": to_dict(TrainConfig())}}
    ckpt.write_manifest(directory, ckpt.MODEL_MANIFEST, meta,
                        {"weights.npz": get_weight_arrays(model), "vocab.json": vocab.to_json()})
    return model, config


def predict_loop(model, config: ModelConfig, n_words: int, sampler: Sampler) -> tuple[list[int], float]:
    """The reference: ``model.predict`` once per word, state carried by hand. Returns (ids, seconds)."""
    states = [np.zeros((1, size), np.float32) for size in state_sizes(config)]
    token = EOS_ID
    chosen: list[int] = []
    started = time.perf_counter()
    for _ in range(n_words):
        logits, *states = model.predict([np.array([[token]], np.int32), *states], verbose=0)
        logits = logits[0, 0].astype(np.float64)
        probs = np.exp(logits - logits.max())
        token = sampler(probs / probs.sum())
        chosen.append(token)
    return chosen, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=2000, help="words the Predictor generates")
    parser.add_argument("--reference-words", type=int, default=100, help="words the predict loop generates (extrapolated)")
    parser.add_argument("--vocab", type=int, default=10_000)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--runtime", default="keras", help="Predictor runtime: keras, litert or auto")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        directory = Path(tmp) / "model"
        model, config = write_model(directory, args.vocab, args.units, args.seed)
        if args.runtime != "keras":  # the LiteRT runner needs the exported step (issue 7's `wordrnn export`)
            from wordrnn.runtime.export import export_model

            export_model(directory)
        predictor = load(directory, runtime=args.runtime)
        common = {"bench": "generate", "vocab_size": args.vocab, "units": args.units, "cell": "lstm", "batch": 1}

        predictor.generate("", 20, seed=0)  # warm-up: traces the step function, caches the start state
        predict_loop(model, config, 3, Sampler(seed=0, banned=NEVER_GENERATED))  # warm-up the predict path

        half = max(1, args.reference_words // 2)
        ref_ids, ref_before = predict_loop(model, config, half, Sampler(seed=args.seed, banned=NEVER_GENERATED))
        results = {}
        for name, options in (("sample", {}), ("top_p_0.9", {"top_p": 0.9}), ("greedy", {"top_k": 1})):
            started = time.perf_counter()
            words = predictor.generate("", args.words, seed=args.seed, **options)
            seconds = time.perf_counter() - started
            results[name] = (words, seconds)
            print(json.dumps({**common, "method": f"predictor_{name}", "runtime": predictor.runtime,
                              "words": len(words), "seconds": round(seconds, 3),
                              "words_per_s": round(len(words) / seconds, 1)}), flush=True)
        _, ref_after = predict_loop(model, config, args.reference_words - half,
                                    Sampler(seed=args.seed + 1, banned=NEVER_GENERATED))
        ref_seconds = ref_before + ref_after
        ref_rate = args.reference_words / ref_seconds
        print(json.dumps({**common, "method": "predict_loop", "words_measured": args.reference_words,
                          "seconds": round(ref_seconds, 3), "words_per_s": round(ref_rate, 1),
                          "extrapolated_seconds_for_words": round(args.words / ref_rate, 1),
                          "note": f"measured on {args.reference_words} words (half before, half after the "
                                  f"Predictor runs) and extrapolated to {args.words}"}), flush=True)

        sample_words, sample_seconds = results["sample"]
        rate = len(sample_words) / sample_seconds
        same = [predictor.vocab.id(w) for w in sample_words[: len(ref_ids)]]
        agreement = float(np.mean(np.asarray(same) == np.asarray(ref_ids))) if ref_ids else None
        print(json.dumps({**common, "method": "summary", "runtime": predictor.runtime, "words": args.words,
                          "predictor_words_per_s": round(rate, 1), "predict_loop_words_per_s": round(ref_rate, 1),
                          "speedup": round(rate / ref_rate, 1),
                          "target": {"speedup": 20, "words_per_s": 500},
                          "target_met": bool(rate / ref_rate >= 20 and rate >= 500),
                          "same_seed_word_agreement": agreement}), flush=True)


if __name__ == "__main__":
    main()
