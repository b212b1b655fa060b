"""Keystroke latency of the REPL's suggestion bar (BENCHMARKS.md §3) and what session adaptation does to KSR@3.

``keystroke``: 2,000 words of validation text typed character by character in one process; after
every key 3 suggestions are asked for. Three ways, interleaved sentence by sentence so machine
load hits all alike, one JSON line each, then a summary line with the ratios:

- ``repl``: what ``wordrnn repl`` does per key: ``Keyboard.suggest(line so far, 3)`` with the
  adaptation cache, plus formatting the bar; Enter commits the line (``Keyboard.commit``).
- ``repl_no_adapt``: the same with ``--no-adapt``.
- ``reference``: the bare ``Session``: ``suggest(prefix, 3)``; a space feeds the finished word.

The model: ``--model DIR``, else the bundled default model, else a stand-in of the default size
(the CLI's 256-unit LSTM, embedding 128, the Brown vocabulary: words seen 3 times or more) with
random weights and a LiteRT export (speed does not depend on training); the JSON says which.

``adapt_ksr``: a small model is trained (nice'd, ``--train-steps`` steps, a few minutes at most)
on the first ``--split`` of ``tinyshakespeare.txt``; the rest is then typed with and without the
adaptation cache learning it as it goes. KSR@3, top-1/3 and perplexity come from
``evaluation.MetricAccumulator`` (BENCHMARKS.md §1) on the model's distributions, mixed with the
cache for "with" (the cache's share for words outside the vocabulary goes to ``<unk>``, so the
perplexities compare). Lines ``adapt_ksr_weight`` show other weights from the same pass.

    nice -n 10 python scripts/bench_keystroke.py [--model DIR] [--words 2000] [--train-steps 1200]
    python scripts/bench_keystroke.py --smoke   # seconds: a tiny stand-in and a tiny adapted model on data/sample.txt
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from wordrnn.keyboard.adapt import DEFAULT_DECAY, DEFAULT_WEIGHT, AdaptationCache  # noqa: E402
from wordrnn.keyboard.keyboard import Keyboard  # noqa: E402
from wordrnn.errors import WordRNNWarning  # noqa: E402
from wordrnn.cli.prompt import bar  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
BROWN = CORPORA / "brown"
SHAKESPEARE = CORPORA / "tinyshakespeare.txt"
SAMPLE = ROOT / "data" / "sample.txt"  # --smoke: every text and model comes from it
WEIGHTS = (0.05, 0.1, 0.2, 0.3, 0.4)


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def validation_sentences(words: int, smoke: bool = False) -> tuple[list[list[str]], str]:
    """Sentences (token lists) of validation text holding ``words`` words."""
    if smoke:
        source, lines = "data/sample.txt", SAMPLE.read_text(encoding="utf-8").splitlines()
    elif (BROWN / "valid.txt").is_file():
        source, lines = "brown/valid.txt", (BROWN / "valid.txt").read_text(encoding="utf-8").splitlines()
    elif SHAKESPEARE.is_file():
        source, lines = "tinyshakespeare.txt (tail)", SHAKESPEARE.read_text(encoding="utf-8").splitlines()[-8000:]
    else:
        raise SystemExit("no validation text: ../shared/corpora is missing")
    sentences, total = [], 0
    for line in lines:
        tokens = line.split()
        if tokens:
            sentences.append(tokens[: words - total])
            total += len(sentences[-1])
        if total >= words:
            break
    return sentences, source


def stand_in(directory: Path, smoke: bool = False) -> str:
    """A default-size word model with random weights over the Brown vocabulary, exported for LiteRT
    (``smoke``: 8 units over the words of data/sample.txt)."""
    from wordrnn.nn.tfimport import tensorflow

    tensorflow()  # quietly, before Keras
    import keras

    from wordrnn.store import checkpoint as ckpt
    from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig, to_dict
    from wordrnn.runtime.export import export_model
    from wordrnn.nn.model import build_model, get_weight_arrays
    from wordrnn.text.vocab import Vocabulary

    text = SAMPLE if smoke else BROWN / "train.txt" if (BROWN / "train.txt").is_file() else SHAKESPEARE
    counts = Counter(w for line in text.read_text(encoding="utf-8").splitlines() for w in line.split())
    vocab = Vocabulary.build(counts, max_size=20_000, min_count=1 if smoke else 3)
    # the CLI defaults: 256-unit LSTM, embedding 128
    config = ModelConfig(vocab_size=len(vocab), **({"units": 8, "embedding": 8} if smoke else {}))
    keras.utils.set_random_seed(1)
    meta = {"kind": "tokens", "config": {"model": to_dict(config), "tokenizer": to_dict(TokenizerConfig(pretokenized=True)),
                                         "train": to_dict(TrainConfig())}}
    ckpt.write_manifest(directory, ckpt.MODEL_MANIFEST, meta,
                        {"weights.npz": get_weight_arrays(build_model(config)), "vocab.json": vocab.to_json()})
    export_model(directory)
    return (f"stand-in ({'smoke' if smoke else 'no bundled model'}): random weights, {config.cell} {config.units} "
            f"units, embedding {config.embedding}, vocabulary {len(vocab):,} (words seen {'1' if smoke else '3'}+ times "
            f"in {text.name}), LiteRT export")


def type_repl(keyboard: Keyboard, sentence: list[str], costs: list[float]) -> None:
    line = " ".join(sentence)
    for end in range(1, len(line) + 1):
        started = time.perf_counter()
        bar(keyboard.suggest(line[:end], 3), 100)
        costs.append(time.perf_counter() - started)
    started = time.perf_counter()  # Enter
    keyboard.commit(line)
    bar(keyboard.suggest("", 3), 100)
    costs.append(time.perf_counter() - started)


def type_reference(session, sentence: list[str], costs: list[float]) -> None:  # noqa: ANN001
    for n, word in enumerate(sentence):
        for end in range(1, len(word) + 1):
            started = time.perf_counter()
            session.suggest(word[:end], 3)
            costs.append(time.perf_counter() - started)
        started = time.perf_counter()  # the space (Enter after the last word)
        session.feed(word)
        if n == len(sentence) - 1:
            session.feed("</s>")
        session.suggest("", 3)
        costs.append(time.perf_counter() - started)


def summary(costs: list[float]) -> dict:
    ms = np.asarray(costs) * 1e3
    return {"keystrokes": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 4),
            "p99_ms": round(float(np.percentile(ms, 99)), 4), "mean_ms": round(float(ms.mean()), 4),
            "max_ms": round(float(ms.max()), 3)}


def keystroke(model: str | None, words: int, work: Path, smoke: bool = False) -> None:
    import wordrnn
    from wordrnn.store.saved import bundled_model_path

    described = "given with --model"
    if smoke:
        model = str(work / "stand-in")
        described = stand_in(Path(model), smoke)
    elif model is None:
        bundled = bundled_model_path()
        if bundled is not None:
            model, described = str(bundled), "the bundled default model"
        else:
            model = str(work / "stand-in")
            described = stand_in(Path(model))
    predictor = wordrnn.load(model)
    sentences, source = validation_sentences(words, smoke)
    ways = {"repl": Keyboard(predictor, AdaptationCache(predictor.vocab)), "repl_no_adapt": Keyboard(predictor),
            "reference": predictor.session()}
    costs: dict[str, list[float]] = {name: [] for name in ways}
    for way in ways.values():  # warm-up: first calls allocate
        (type_reference if way.__class__.__name__ == "Session" else type_repl)(way, ["the", "first"], [])
    names = list(ways)
    for n, sentence in enumerate(sentences):
        for name in names[n % 3:] + names[: n % 3]:
            way = ways[name]
            (type_reference if name == "reference" else type_repl)(way, sentence, costs[name])
    results = {name: summary(c) for name, c in costs.items()}
    for name, figures in results.items():
        emit({"bench": "keystroke", "method": name, **figures, "words": sum(map(len, sentences)), "text": source,
              "runtime": predictor.runtime, "vocab": len(predictor.vocab), "model": described})
    ref = results["reference"]
    emit({"bench": "keystroke_summary", "target_p99_ms": 5.0, "repl_p99_ms": results["repl"]["p99_ms"],
          "meets_target": results["repl"]["p99_ms"] <= 5.0,
          "p50_ratio_repl_vs_reference": round(results["repl"]["p50_ms"] / ref["p50_ms"], 2),
          "p99_ratio_repl_vs_reference": round(results["repl"]["p99_ms"] / ref["p99_ms"], 2),
          "p99_ratio_adapt_vs_no_adapt": round(results["repl"]["p99_ms"] / results["repl_no_adapt"]["p99_ms"], 2)})


def split_corpus(work: Path, split: float, text: Path) -> tuple[Path, Path, int]:
    lines = text.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = int(len(lines) * split)  # moved to the next blank line (between speeches), if there is one
    cut = next((i for i in range(cut, len(lines)) if not lines[i].strip()), cut)
    train, rest = work / "shakespeare-train.txt", work / "shakespeare-rest.txt"
    train.write_text("".join(lines[:cut]), encoding="utf-8")
    rest.write_text("".join(lines[cut:]), encoding="utf-8")
    return train, rest, cut


def train_small(train: Path, out: Path, steps: int, smoke: bool = False) -> dict:
    from wordrnn.config import ModelConfig, TrainConfig
    from wordrnn.train.jobs import train_text

    started = time.perf_counter()
    units, embedding, batch, window = (8, 8, 2, 10) if smoke else (128, 64, 32, 35)
    summary_ = train_text([train], out, model_config=ModelConfig(vocab_size=1, units=units, embedding=embedding,
                                                                 dropout=0.1),
                          train_config=TrainConfig(epochs=10, max_steps=steps, batch_size=batch, window=window, seed=1,
                                                   learning_rate=5e-3, valid_fraction=0.02, early_stopping=0,
                                                   lr_patience=100),
                          max_vocab=20_000, min_count=2)
    return {"train_steps": summary_["steps"], "train_seconds": round(time.perf_counter() - started, 1),
            "train_tokens": summary_["train_tokens"], "final_loss": round(summary_["history"][-1]["loss"], 3)}


def adapt_ksr(args: argparse.Namespace, work: Path) -> None:
    from wordrnn.evaluation.metrics import MetricAccumulator
    from wordrnn.evaluation.streams import network_distributions, read_tokens
    from wordrnn.runtime.keras import KerasStep
    from wordrnn.store.saved import SavedModel
    from wordrnn.text.tokenizer import EOS, Tokenizer
    from wordrnn.text.vocab import UNK_ID

    text = SAMPLE if args.smoke else SHAKESPEARE
    if not text.is_file():
        emit({"bench": "adapt_ksr", "skipped": "../shared/corpora/tinyshakespeare.txt is missing"})
        return
    train, rest, cut = split_corpus(work, args.split, text)
    model_dir = Path(args.ksr_model) if args.ksr_model else work / "adapt-model"
    trained: dict = {"model": str(model_dir)}
    if not args.ksr_model:
        trained.update(train_small(train, model_dir, args.train_steps, args.smoke))
    saved = SavedModel.load(model_dir)
    tokens = read_tokens([rest], Tokenizer(saved.tokenizer_config))
    ids = np.asarray(saved.vocab.encode(tokens), np.int64)
    plain = MetricAccumulator(saved.vocab)
    adapted = {w: MetricAccumulator(saved.vocab) for w in WEIGHTS}
    cache = AdaptationCache(saved.vocab, DEFAULT_WEIGHT, DEFAULT_DECAY)
    started = time.perf_counter()
    for probs, positions in network_distributions(KerasStep(saved), ids, batch_size=1, window=35):
        spellings = [tokens[i] for i in positions.tolist()]
        plain.add(probs, ids[positions], spellings)
        mixed = {w: np.empty(probs.shape, np.float64) for w in WEIGHTS}
        for row, position in enumerate(positions.tolist()):
            previous = tokens[position - 1] if position else EOS
            for weight in WEIGHTS:
                cache.weight = weight
                dist = cache.adapt(probs[row], previous)
                mixed[weight][row] = dist.probs
                mixed[weight][row, UNK_ID] += sum(dist.extra.values())
            cache.observe([tokens[position]])
        for weight in WEIGHTS:
            adapted[weight].add(mixed[weight], ids[positions], spellings)
    without = plain.result()
    with_cache = {w: acc.result() for w, acc in adapted.items()}
    best = with_cache[DEFAULT_WEIGHT]
    figures = ("ksr3", "top1", "top3", "ppl")
    emit({"bench": "adapt_ksr", "typed_tokens": len(tokens), "oov_rate": round(without["oov_rate"], 4),
          "vocab": len(saved.vocab), "split_line": cut, "weight": DEFAULT_WEIGHT, "decay": DEFAULT_DECAY,
          **{f"{f}_without": round(without[f], 4) for f in figures}, **{f"{f}_with": round(best[f], 4) for f in figures},
          "ksr3_gain": round(best["ksr3"] - without["ksr3"], 4), "improves": best["ksr3"] > without["ksr3"],
          "seconds": round(time.perf_counter() - started, 1), **trained,
          "train_text": f"{text.name} lines 1-{cut}", "typed_text": f"{text.name} lines {cut + 1}-end", "smoke": args.smoke})
    for weight, result in with_cache.items():
        emit({"bench": "adapt_ksr_weight", "weight": weight, **{f: round(result[f], 4) for f in figures}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model directory for the keystroke latency (default: bundled or a stand-in)")
    parser.add_argument("--words", type=int, default=2000, help="validation words typed for the latency")
    parser.add_argument("--train-steps", type=int, default=1200, help="training steps of the Shakespeare model")
    parser.add_argument("--split", type=float, default=0.9, help="share of tinyshakespeare.txt trained on")
    parser.add_argument("--ksr-model", help="use this already trained model for the adaptation experiment")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-ksr", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny models on data/sample.txt: seconds (a test of this script)")
    args = parser.parse_args()
    if args.smoke:
        args.words, args.train_steps, args.split = 60, 3, 0.6
    try:
        os.nice(10)  # a shared machine: be the one that waits
    except OSError:
        pass
    warnings.simplefilter("ignore", WordRNNWarning)  # unknown words are expected in both experiments
    with tempfile.TemporaryDirectory(prefix="bench-keystroke-") as tmp:
        if not args.skip_latency:
            keystroke(args.model, args.words, Path(tmp), args.smoke)
        if not args.skip_ksr:
            adapt_ksr(args, Path(tmp))


if __name__ == "__main__":
    main()
