"""Language-model quality on Brown (BENCHMARKS.md sections 1 and 1b; issue 15's in-domain targets).

A held-out run: train on brown/train.txt, report on text nothing was tuned on. brown/valid.txt is
split by lines into two halves: the first (``dev``) is the only text anything is tuned on (early
stopping and the best epoch, the cache and trigram mixture weights and the cache decay); the
second (``report``) is only ever measured. Each step is the real command line:

1. ``wordrnn train`` on brown/train.txt (pre-tokenized, case kept, words seen >= 3 times) with the
   recipe below, validated on the dev half, within ``--minutes`` (``--time-budget``: the learning
   rate decays over the budget and the run ends with the best weights); each ``--continue
   EPOCHS[:EMA]`` then resumes it to that many epochs, averaging the weights from there when EMA
   is given (``wordrnn train --resume --ema``);
2. ``wordrnn interpolate``: fits the weights of the word cache and of a Kneser-Ney trigram of
   brown/train.txt (every trigram kept: ``--ngram-min-count 1`` beat 2 on the dev half), one pair
   per bucket of the trigram's history count, then the continuous cache's weight and sharpness over
   the last ``--pointer-size`` hidden states, on the dev half;
3. ``wordrnn lexicon``: wordfreq's most frequent English words plus the training words outside
   the vocabulary, for open-vocabulary completion;
4. ``wordrnn baseline train brown/train.txt --model MODEL``: the interpolated Kneser-Ney trigram
   from the same training text with the same vocabulary;
5. the measurement of scripts/bench_ood.py on the report half: each system's distributions once,
   scored without and with the same lexicon, for the model as it predicts (network + cache +
   trigram), the network alone and the trigram.

One JSON object per row on stdout, then a summary row: the ratios and gains against the trigram and
``targets_met`` for issue 15 (top-3 and KSR@3 at least 4 points over the trigram, perplexity at
most 0.6x; KSR@3 both without and with the lexicon).

Usage: nice -n 5 python scripts/bench_quality.py --out /work/runs/brown-quality [--minutes 80] [--continue 40:0.999]
                  [--pointer-size 1000]     # the README's run
       python scripts/bench_quality.py --smoke        # a tiny model on the first lines, a test
The model stays in OUT/model (the trigram in OUT/trigram, logs in OUT/*.log); OUT/train.json records
the training command and time, so ``--reuse`` redoes steps 2-5 on the same trained network.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_mixture import split_halves  # noqa: E402  (the dev half is tuned on, the report half measured on)
BROWN = ROOT.parent / "shared" / "corpora" / "brown"
WORDRNN = [sys.executable, "-m", "wordrnn"]

READING = ["--pretokenized", "--keep-case"]  # how the recipe reads Brown (a resume reads it the same way)
RECIPE = [*READING, "--min-count", "3", "--max-vocab", "20000",
          "--layers", "2", "--units", "320", "--embedding", "128", "--tied", "--dropout", "0.3",
          "--optimizer", "adam", "--learning-rate", "0.002", "--clipnorm", "5",
          "--batch-size", "32", "--window", "35", "--sampled-softmax", "1024", "--early-stopping", "2"]
SMOKE_READING = ["--pretokenized"]
SMOKE_RECIPE = [*SMOKE_READING, "--min-count", "2", "--max-vocab", "200", "--layers", "1", "--units", "16",
                "--embedding", "16", "--tied", "--dropout", "0", "--batch-size", "8", "--window", "10",
                "--sampled-softmax", "0", "--epochs", "1", "--no-export"]
SMOKE_LINES = {"train": 400, "valid": 120}
TARGETS = {"top3_gain_points": 4.0, "ksr3_gain_points": 4.0, "ppl_ratio": 0.6}


def run(args: list[str], log: Path, deadline: float | None = None) -> tuple[str, float]:
    """Run a wordrnn command; stdout is returned, stderr goes to ``log``. SIGINT at ``deadline``."""
    started = time.perf_counter()
    with open(log, "a", encoding="utf-8") as err:
        err.write(f"$ {shlex.join(args)}\n")
        err.flush()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        interrupted = False
        while True:
            try:
                out, _ = proc.communicate(timeout=5)
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and not interrupted and time.perf_counter() >= deadline:
                    proc.send_signal(signal.SIGINT)  # stop after this step and save, as Ctrl-C does
                    interrupted = True
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(args)} failed with exit code {proc.returncode}; see {log}")
    return out, time.perf_counter() - started


def continuation(text: str) -> tuple[int, float | None]:
    """A ``--continue`` value: ``20`` or ``20:0.999`` (epochs, and the weight-averaging momentum)."""
    epochs, _, ema = text.partition(":")
    try:
        return int(epochs), float(ema) if ema else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected EPOCHS or EPOCHS:EMA such as 20:0.999, got {text!r}") from None


def continue_run(model: Path, train: Path, valid: Path, reading: list[str], epochs: int, ema: float | None,
                 log: Path) -> list[str]:
    """``wordrnn train --resume --epochs N [--ema M]`` on ``model``: a run that ended at its limit
    while still improving goes on, its schedule and early stopping continuing where they were.

    ``reading``: the corpus-reading flags the run was trained with. ``wordrnn train --resume`` itself
    trains nothing (and rewrites no file) for a run already that far or ended by early stopping, so
    the command always runs; it is returned so a report records it.
    """
    command = [*WORDRNN, "train", str(train), "--valid", str(valid), "-o", str(model), *reading, "--resume",
               "--epochs", str(epochs), "-q", *(["--ema", str(ema)] if ema else [])]
    run(command, log)
    return command


def trained_history(model: Path) -> list[dict]:
    """Every epoch the run trained: its latest checkpoint's history (the model's own ends at its best epoch)."""
    from wordrnn.store.reading import CHECKPOINT_MANIFEST, read_json, read_manifest

    return read_json(model, read_manifest(model, CHECKPOINT_MANIFEST), "history")


def short(path: Path | str) -> str:
    """A path as the reports show it: the shared parent of the project written as ``..``."""
    return str(path).replace(str(ROOT.parent), "..")


def display(args: list[str]) -> str:
    """A command as the reports show it: ``wordrnn ...``, paths shortened."""
    return short(shlex.join(["wordrnn", *args[len(WORDRNN):]]))


def head(source: Path, lines: int, target: Path) -> Path:
    """``target`` holding the first ``lines`` lines of ``source``."""
    with open(source, encoding="utf-8") as handle:
        target.write_text("".join(handle.readlines()[:lines]), encoding="utf-8")
    return target


def rounded(row: dict) -> dict:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}


def summary(rows: dict[str, dict], train_seconds: float) -> dict:
    """Ratios and gains against the trigram on the report half, and whether issue 15's targets hold."""
    model, kn = rows["model"], rows["trigram"]
    model_lex, kn_lex = rows["model+lexicon"], rows["trigram+lexicon"]
    out = {"bench": "quality", "summary": True,
           "ppl_ratio": round(model["ppl"] / kn["ppl"], 4),
           "ppl_open_ratio": round(model_lex["ppl_open"] / kn_lex["ppl_open"], 4),
           "top1_gain_points": round(100 * (model["top1"] - kn["top1"]), 2),
           "top3_gain_points": round(100 * (model["top3"] - kn["top3"]), 2),
           "ksr3_gain_points": round(100 * (model["ksr3"] - kn["ksr3"]), 2),
           "ksr3_gain_points_lexicon": round(100 * (model_lex["ksr3"] - kn_lex["ksr3"]), 2),
           "lexicon_ksr3_gain_points": round(100 * (model_lex["ksr3"] - model["ksr3"]), 2),
           "network_only_ppl_ratio": round(rows["network"]["ppl"] / kn["ppl"], 4),
           "network_only_top3_gain_points": round(100 * (rows["network"]["top3"] - kn["top3"]), 2),
           "network_only_ksr3_gain_points": round(100 * (rows["network"]["ksr3"] - kn["ksr3"]), 2),
           "train_minutes": round(train_seconds / 60, 1), "targets": TARGETS}
    out["targets_met"] = bool(out["ppl_ratio"] <= TARGETS["ppl_ratio"]
                              and out["top3_gain_points"] >= TARGETS["top3_gain_points"]
                              and out["ksr3_gain_points"] >= TARGETS["ksr3_gain_points"]
                              and out["ksr3_gain_points_lexicon"] >= TARGETS["ksr3_gain_points"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/work/runs/brown-quality"))
    parser.add_argument("--minutes", type=float, default=75.0, help="training wall-time budget (--time-budget)")
    parser.add_argument("--limit", type=int, default=None, help="measure only the first N tokens of the report half")
    parser.add_argument("--train", type=Path, default=BROWN / "train.txt")
    parser.add_argument("--valid", type=Path, default=BROWN / "valid.txt", help="split by lines: dev half, report half")
    parser.add_argument("--ngram-min-count", type=int, default=1,
                        help="prune the mixture's trigrams seen fewer times (1 beat 2 on the dev half: 112.5 vs 113.1)")
    parser.add_argument("--ngram-buckets", type=int, default=6, help="mixture weight pairs by trigram history count")
    parser.add_argument("--pointer-size", type=int, default=None,
                        help="hidden states the continuous cache keeps (interpolate's --pointer-size; default: its own)")
    parser.add_argument("--lexicon-words", type=int, default=100_000, help="wordfreq words in the lexicon")
    parser.add_argument("--extra", default="", help="extra `wordrnn train` options (quoted)")
    parser.add_argument("--reuse", action="store_true", help="skip training: reuse OUT/model and OUT/train.json")
    parser.add_argument("--continue", dest="continue_to", type=continuation, action="append", metavar="EPOCHS[:EMA]",
                        default=[], help="then resume the network to this many epochs, averaging its weights with "
                                         "momentum EMA if given (repeatable, in order)")
    parser.add_argument("--smoke", action="store_true", help="a tiny model on the first lines (a test of this script)")
    args = parser.parse_args()
    if not args.train.is_file() or not args.valid.is_file():
        raise SystemExit(f"Brown corpus not found under {args.train.parent}")
    if args.smoke:
        args.out = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    args.out.mkdir(parents=True, exist_ok=True)
    model, trigram = args.out / "model", args.out / "trigram"
    dev, report = split_halves(args.valid, args.out, SMOKE_LINES["valid"] if args.smoke else None)
    train = head(args.train, SMOKE_LINES["train"], args.out / "train-head.txt") if args.smoke else args.train
    lexicon_words = 200 if args.smoke else args.lexicon_words

    recipe = SMOKE_RECIPE if args.smoke else [*RECIPE, "--time-budget", f"{args.minutes:g}"]
    train_cmd = [*WORDRNN, "train", str(train), "--valid", str(dev), "-o", str(model), *recipe,
                 "--seed", "1", "--force", "-q", *shlex.split(args.extra)]
    record = args.out / "train.json"
    if args.reuse:
        trained = json.loads(record.read_text(encoding="utf-8"))
        train_seconds, train_display, first_epochs = trained["train_seconds"], trained["command"], trained.get("epochs")
    else:  # the budget ends the run; SIGINT five minutes later only if it somehow did not
        from wordrnn.store.saved import SavedModel

        _, train_seconds = run(train_cmd, args.out / "train.log", time.perf_counter() + 60 * (args.minutes + 5))
        train_display, first_epochs = display(train_cmd), len(SavedModel.load(model).history)
        record.write_text(json.dumps({"train_seconds": train_seconds, "command": train_display,
                                      "epochs": first_epochs}), encoding="utf-8")
    if args.continue_to and first_epochs is None:
        raise SystemExit(f"{record} does not say how many epochs the first run trained, so the continuations' "
                         "time cannot be told apart; run without --reuse")
    reading = SMOKE_READING if args.smoke else READING
    continued = [display(continue_run(model, train, dev, reading, epochs, ema, args.out / "train.log"))
                 for epochs, ema in args.continue_to]

    tune_cmd = [*WORDRNN, "interpolate", str(model), "--valid", str(dev), "--ngram", str(train),
                "--ngram-min-count", str(args.ngram_min_count), "--ngram-buckets", str(args.ngram_buckets),
                "--pretokenized", "--json", "-q",
                *(["--pointer-size", str(args.pointer_size)] if args.pointer_size is not None else [])]
    tuned, tune_seconds = run(tune_cmd, args.out / "interpolate.log")
    lexicon_cmd = [*WORDRNN, "lexicon", str(model), "--corpus", str(train), "--pretokenized",
                   "--words", str(lexicon_words), "--json"]
    lexicon, _ = run(lexicon_cmd, args.out / "lexicon.log")
    kn_cmd = [*WORDRNN, "baseline", "train", str(train), "-o", str(trigram), "--model", str(model), "--force", "--json"]
    kn_summary, kn_seconds = run(kn_cmd, args.out / "baseline.log")
    info = json.loads(run([*WORDRNN, "info", str(model), "--json"], args.out / "info.log")[0])

    from bench_ood import measure  # TensorFlow loads here, once

    history = trained_history(model)  # every epoch trained, those after the best one kept too
    if continued:  # the continuations' epochs: those past the first run's, from the history
        train_seconds += sum(h.get("seconds", 0.0) for h in history[first_epochs:])
    best = (info.get("history") or [{}])[-1]  # the model's own history ends at the epoch it keeps
    fitted = json.loads(tuned)
    common = {"bench": "quality", "smoke": args.smoke, "trained_on": short(train),
              "tuned_on": short(dev), "reported_on": short(report)}
    details = {
        "model": {"train_seconds": round(train_seconds, 1), "command": train_display, "continued": continued,
                  "epochs": len(history),
                  "best_epoch": best.get("epoch"), "parameters": info.get("parameters"),
                  "vocab_size": info.get("vocab_size"), "interpolate_seconds": round(tune_seconds, 1),
                  "interpolate_command": display(tune_cmd), "lexicon_command": display(lexicon_cmd),
                  "lexicon": json.loads(lexicon),
                  "interpolation": {k: fitted.get(k) for k in ("cache", "ngram", "cache_decay", "contexts", "pointer")},
                  # perplexities on the dev half the weights were fitted on (optimistic; to choose settings by)
                  "dev_ppl": {k.removeprefix("valid_ppl_"): fitted.get(k) for k in
                              ("valid_ppl_network", "valid_ppl_global", "valid_ppl_interpolated",
                               "valid_ppl_mixture")}},
        "network": {"command": train_display},
        "trigram": {"train_seconds": round(kn_seconds, 1), "command": display(kn_cmd),
                    "ngrams": json.loads(kn_summary).get("ngrams")},
    }
    rows = {}
    for row in measure(model, trigram, "brown-valid-report-half", report, True, args.limit, network_lexicon=True):
        rows[row["system"]] = row
        system = row["system"].removesuffix("+lexicon")
        extra = details[system] if row["system"] == system else {}
        print(json.dumps({**common, **rounded({k: v for k, v in row.items() if k not in ("bench", "text")}),
                          **extra}), flush=True)
    print(json.dumps({**summary(rows, train_seconds), "smoke": args.smoke}), flush=True)


if __name__ == "__main__":
    main()
