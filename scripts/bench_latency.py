"""Latency and throughput of the fast path (BENCHMARKS.md §3), against plain Keras in the same run.

Measures the bundled default model (or ``--model DIR``), printing one JSON object per result line:

- ``startup``, ``floor``, ``cold_complete`` and ``cold_profile``: whole processes started one after
  another, a cold ``wordrnn complete "the next"`` against a plain-Keras load + ``model.predict``,
  and where the cold start's time goes (``cold_start.py`` says how each is measured).
- ``keystroke``: typing validation text character by character in one process; after every key a
  keyboard asks for 3 suggestions (``Session.suggest(prefix)``; a space also feeds the finished
  word). p50/p99 milliseconds per key, for the LiteRT runner and the compiled Keras step.
- ``generation``: words/s generating ``--generate-words`` words (20,000) at batch 1 (model loaded)
  with the model's mixture (network + cache + trigram), for LiteRT, the network alone on LiteRT,
  and the Keras step; the reference is a ``model.predict``-per-word loop, measured in slices
  interleaved with ours. 20,000 words take ours about 3.5 s: 2,000 took 0.35 s, in which one
  stall of this shared machine moved the rate by a fifth from run to run.
- ``generation_profile``: where a generated word's time goes (the network's step back to back, its
  ``invoke`` back to back and inside generation, and the Python around it).
- ``int8``: size of the dynamic-range int8 export over the float one, and how often the int8 and
  float exports agree on the top-3 words over the validation text.

``--smoke`` trains a tiny model in a temporary directory and runs every row in seconds (the test
suite runs it so the script cannot silently break).

    nice -n 10 python scripts/bench_latency.py [--model DIR] [--runs 5] [--words 2000] [--generate-words 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from wordrnn.errors import WordRNNWarning  # noqa: E402
from cold_start import ENV, PLAIN_KERAS, WORDRNN, cold_rows, emit  # noqa: E402  (the cold-start rows)

BROWN = ROOT.parent / "shared" / "corpora" / "brown"


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


def smoke_model(directory: Path) -> None:
    """A tiny word model with its trigram mixture and LiteRT export (``--smoke``), trained in seconds."""
    text = directory.parent / "smoke.txt"
    rng = np.random.default_rng(0)
    words = ["the", "next", "day", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "house", "."]
    text.write_text("\n".join(" ".join(rng.choice(words, 8)) for _ in range(300)) + "\n", encoding="utf-8")
    for command in (["train", str(text), "-o", str(directory), "--units", "16", "--embedding", "8", "--epochs", "1",
                     "--batch-size", "8", "--window", "8", "--seed", "1", "-q"],
                    ["interpolate", str(directory), "--valid", str(text), "--ngram", str(text), "-q"]):
        subprocess.run([str(WORDRNN), *command], check=True, env=ENV, capture_output=True)


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


def generation(predictor, n_words: int, seed: int = 1) -> tuple[float, list[str]]:  # noqa: ANN001
    """Seconds to generate ``n_words`` words at batch 1 (model loaded and warmed up), and the words."""
    started = time.perf_counter()
    words = predictor.generate("", n_words, seed=seed)
    return time.perf_counter() - started, words


def predict_loop(model, n_words: int, seed: int = 1) -> float:  # noqa: ANN001
    """The reference: ``model.predict`` once per word on the .keras model, state carried by hand."""
    states = [np.zeros((1, int(s.shape[-1])), np.float32) for s in model.inputs[1:]]
    rng = np.random.default_rng(seed)
    token = 0
    started = time.perf_counter()
    for _ in range(n_words):
        logits, *states = model.predict([np.array([[token]], np.int32), *states], verbose=0)
        probs = np.exp(logits[0, 0] - logits[0, 0].max())
        probs[1] = 0.0  # never <unk>
        token = int(rng.choice(len(probs), p=probs / probs.sum()))
    return time.perf_counter() - started


class TensorFlowWorker:
    """The TensorFlow-based methods, run in a child process on request (``--tf-worker``).

    wordrnn's LiteRT path never imports TensorFlow, so it is measured in a process without it, as
    `wordrnn generate` runs; with TensorFlow loaded, the garbage collector walks a far larger heap and
    TensorFlow's threads share the cores, which would charge its costs to the LiteRT rows.
    """

    def __init__(self, model_dir: Path, keras_path: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--tf-worker", str(model_dir), str(keras_path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
        self.ask(do="ready")

    def ask(self, **task) -> dict:  # noqa: ANN003
        self.proc.stdin.write(json.dumps(task) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the TensorFlow worker died")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def tf_worker(model_dir: Path, keras_path: Path) -> None:
    """The child of ``TensorFlowWorker``: one JSON answer per JSON task read from standard input."""
    import keras

    import wordrnn

    predictor = wordrnn.load(model_dir, runtime="keras")
    reference = keras.models.load_model(keras_path, compile=False)
    predictor.generate("", 20, seed=0)  # warm-up (traces the Keras step)
    predict_loop(reference, 2)
    for line in sys.stdin:
        task = json.loads(line)
        if task["do"] == "keystrokes":
            answer = keystrokes(predictor, validation_words(task["words"], predictor.vocab))
        elif task["do"] == "keras step":
            generation(predictor, task["warm_up"], 0)
            answer = {"seconds": generation(predictor, task["words"], task["seed"])[0]}
        elif task["do"] == "model.predict loop":
            predict_loop(reference, task["warm_up"], 0)
            answer = {"seconds": predict_loop(reference, task["words"], task["seed"])}
        elif task["do"] == "int8":  # exporting needs TensorFlow's converter
            answer = int8_check(model_dir, Path(task["work"]), validation_words(task["words"], predictor.vocab))
        else:
            answer = {"ready": True}
        print(json.dumps(answer), flush=True)


def generation_rows(methods: dict, worker: TensorFlowWorker, n_words: int, reference_words: int,
                    slices: int = 4) -> None:
    """Words/s of each method and of the ``model.predict`` loop, measured in interleaved slices.

    Each slice runs every method once (ours on ``n_words / slices`` words, the slow reference on
    ``reference_words / slices``), so a change in machine load hits them alike. The TensorFlow
    methods run in ``worker``'s process; each slice starts after a pause, once the previous one's
    threads are idle, and then an untimed warm-up of a tenth of its words (every method alike): a
    slice measures generation's steady pace, as one long ``generate`` runs, not the wake-up of
    threads and caches the pause and the other process left cold (in a quiet run, one 2,000-word
    call took 0.159 ms a word and cold 500-word slices 0.21).
    """
    for predictor in methods.values():
        predictor.generate("", 20, seed=0)  # warm-up
    tf_methods = {"keras step": n_words // slices, "model.predict loop": max(reference_words // slices, 1)}
    seconds = {name: 0.0 for name in [*methods, *tf_methods]}
    sample = ""
    for index in range(slices):
        for name, predictor in methods.items():
            time.sleep(0.5)
            generation(predictor, max(n_words // slices // 10, 1), seed=0)
            took, words = generation(predictor, n_words // slices, seed=index + 1)
            seconds[name] += took
            sample = sample or " ".join(words[:12])
        for name, count in tf_methods.items():
            time.sleep(0.5)
            seconds[name] += worker.ask(do=name, words=count, seed=index + 1, warm_up=max(count // 10, 1))["seconds"]
    ours = "LiteRT, TensorFlow loaded" if "tensorflow" in sys.modules else "LiteRT only"  # said, never assumed
    reference_rate = slices * tf_methods["model.predict loop"] / seconds["model.predict loop"]
    for name, took in seconds.items():
        count = slices * (tf_methods["model.predict loop"] if name == "model.predict loop" else n_words // slices)
        row = {"bench": "generation", "method": name, "words": count, "seconds": round(took, 3),
               "words_per_s": round(count / took, 1), "process": "with TensorFlow" if name in tf_methods else ours}
        if name != "model.predict loop":
            row["vs_predict_loop"] = round(count / took / reference_rate, 1)
        if name == "litert":
            row.update(target_words_per_s=6000, sample=sample)
        emit(row)


class TimedInvoke:
    """An interpreter whose ``invoke`` is timed (everything else passes through): how long the
    network's own work takes inside generation, as opposed to back to back."""

    def __init__(self, interpreter) -> None:  # noqa: ANN001
        self.interpreter, self.seconds = interpreter, 0.0

    def invoke(self) -> None:
        started = time.perf_counter()
        self.interpreter.invoke()
        self.seconds += time.perf_counter() - started

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.interpreter, name)


def generation_profile(predictor, n_words: int) -> dict:  # noqa: ANN001
    """Where one generated word's time goes.

    - ``network_step_ms``: the runner's step alone, back to back (the network's arithmetic and
      the copies in and out);
    - ``invoke_back_to_back_ms`` and ``invoke_in_generation_ms``: the interpreter's ``invoke``
      alone, back to back and inside generation (timed call by call). The difference is what the
      pause between two steps costs the next one: XNNPACK's second thread goes to sleep once it
      has waited about 10 microseconds for work, and waking it takes longer the longer it slept;
    - ``python_ms``: everything else inside generation (reading the output, the mixture, the draw,
      feeding the word back).
    LiteRT runners only (``invoke_*`` are absent for another runner).
    """
    runner = getattr(predictor.runner, "base", predictor.runner)
    state = runner.zero_state(1)
    token = np.array([0])
    started = time.perf_counter()
    for _ in range(n_words):
        _, state = runner.step(token, state)
    step = (time.perf_counter() - started) / n_words
    row = {"bench": "generation_profile", "words": n_words, "network_step_ms": round(step * 1e3, 4)}
    interpreter = getattr(runner, "_interpreter", None)
    if interpreter is not None:
        started = time.perf_counter()
        for _ in range(n_words):
            interpreter.invoke()
        row["invoke_back_to_back_ms"] = round((time.perf_counter() - started) / n_words * 1e3, 4)
        runner._interpreter = timed = TimedInvoke(interpreter)
    try:
        took, _ = generation(predictor, n_words)
    finally:
        if interpreter is not None:
            runner._interpreter = interpreter
    per_word = took / n_words
    row.update(per_word_ms=round(per_word * 1e3, 4), mixing_and_sampling_ms=round((per_word - step) * 1e3, 4),
               network_share=round(step / per_word, 3))
    if interpreter is not None:
        inside = timed.seconds / n_words
        row.update(invoke_in_generation_ms=round(inside * 1e3, 4), python_ms=round((per_word - inside) * 1e3, 4))
    return row


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model directory with a LiteRT export (default: the bundled model)")
    parser.add_argument("--runs", type=int, default=5, help="cold-start runs per method")
    parser.add_argument("--words", type=int, default=2000, help="words typed (and compared int8 against float)")
    parser.add_argument("--generate-words", type=int, default=20000,
                        help="words generated by each fast method (4 slices; a few seconds, so one hiccup of "
                             "the machine moves the rate by little)")
    parser.add_argument("--reference-words", type=int, default=400, help="words of the model.predict loop")
    parser.add_argument("--smoke", action="store_true", help="a tiny model and a few runs, in seconds")
    parser.add_argument("--tf-worker", nargs=2, type=Path, help=argparse.SUPPRESS)  # TensorFlowWorker's child
    args = parser.parse_args()
    if args.tf_worker:
        tf_worker(*args.tf_worker)
        return
    if args.smoke:
        args.runs, args.words, args.generate_words, args.reference_words = 1, 40, 40, 4

    work = Path(tempfile.mkdtemp(prefix="wordrnn-bench-latency-"))
    try:
        from wordrnn.store.saved import SavedModel, bundled_model_path

        if args.smoke:
            model_dir = work / "model"
            smoke_model(model_dir)
        else:
            model_dir = (args.model or bundled_model_path()).resolve()  # the timed commands run elsewhere
        saved = SavedModel.load(model_dir)
        config = saved.model_config
        emit({"bench": "model", "path": "bundled" if args.model is None and not args.smoke else str(model_dir),
              "vocab": config.vocab_size, "units": config.units, "embedding": config.embedding, "cell": config.cell,
              "layers": config.layers, "parameters": saved.parameter_count(), "smoke": args.smoke,
              "export": saved.manifest.get("litert", {}).get("quantize"),
              "mixture": "interpolation" in saved.manifest, "load_average": os.getloadavg()[0]})

        # A .keras file and a plain vocabulary for the reference process (built in a child process:
        # this one never imports TensorFlow, whose heap and threads would slow the LiteRT rows).
        keras_path, vocab_path = work / "reference.keras", work / "vocab.json"
        vocab_path.write_text(json.dumps({"words": list(saved.vocab.words)}), encoding="utf-8")
        subprocess.run([sys.executable, "-c", PLAIN_KERAS, str(model_dir), str(keras_path)],
                       check=True, env=ENV, capture_output=True)
        cold_rows(model_dir, keras_path, vocab_path, args.runs)

        import wordrnn
        from wordrnn.predict.predictor import Predictor

        words = validation_words(args.words, saved.vocab)
        litert = wordrnn.load(model_dir, runtime="litert")
        emit({"bench": "keystroke", "runtime": "litert", **keystrokes(litert, words), "target_p99_ms": 5.0})
        emit(generation_profile(litert, args.generate_words))

        worker = TensorFlowWorker(model_dir, keras_path)  # TensorFlow never loads in this process
        try:
            emit({"bench": "int8", **worker.ask(do="int8", work=str(work), words=args.words)})
            emit({"bench": "keystroke", "runtime": "keras", **worker.ask(do="keystrokes", words=args.words)})
            methods = {"litert": litert,
                       "litert network only": Predictor(litert.saved, getattr(litert.runner, "base", litert.runner))}
            generation_rows(methods, worker, args.generate_words, args.reference_words)
        finally:
            worker.close()
        emit({"bench": "load_average", "after": os.getloadavg()[0]})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
