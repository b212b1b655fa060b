"""Language-model quality on Brown (BENCHMARKS.md section 1): the default recipe against the KN trigram.

Runs the real command line, step by step, and prints one JSON object per row on stdout:

1. ``wordrnn train`` on brown/train.txt (pre-tokenized, words seen >= 3 times) with the
   default quality recipe, stopped with Ctrl-C (SIGINT) at ``--minutes`` if still running
   (the model directory keeps the best epoch by validation perplexity);
2. ``wordrnn interpolate``: fits the weights of the word cache and of a pruned Kneser-Ney trigram
   (trigrams seen at least twice in brown/train.txt) on brown/valid.txt; both become part of the model;
3. ``wordrnn baseline train`` with the model's vocabulary (the interpolated Kneser-Ney trigram);
4. ``wordrnn evaluate`` on brown/valid.txt: the model as it predicts (``--save`` stores the
   metrics in the model directory), the network alone, and the trigram.

Usage: nice -n 5 python scripts/bench_quality.py --out /work/runs/brown-quality
The trained model stays in OUT/model (the trigram in OUT/trigram, logs in OUT/*.log); OUT/train.json
records the training command and time, so ``--reuse`` can redo steps 2-4 on the same trained model.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWN = ROOT.parent / "shared" / "corpora" / "brown"
WORDRNN = [sys.executable, "-m", "wordrnn"]

RECIPE = ["--pretokenized", "--min-count", "3", "--max-vocab", "20000",
          "--layers", "2", "--units", "200", "--embedding", "96", "--tied", "--dropout", "0.25",
          "--optimizer", "adam", "--learning-rate", "0.002", "--lr-decay", "0.9", "--clipnorm", "5",
          "--batch-size", "32", "--window", "35", "--sampled-softmax", "1024", "--early-stopping", "3"]


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


def display(args: list[str]) -> str:
    return shlex.join(["wordrnn", *args[len(WORDRNN):]]).replace(str(ROOT.parent), "..")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/work/runs/brown-quality"))
    parser.add_argument("--minutes", type=float, default=58.0, help="training wall-time budget")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N tokens (smoke runs)")
    parser.add_argument("--train", type=Path, default=BROWN / "train.txt")
    parser.add_argument("--valid", type=Path, default=BROWN / "valid.txt")
    parser.add_argument("--extra", default="", help="extra `wordrnn train` options (quoted)")
    parser.add_argument("--reuse", action="store_true", help="skip training: reuse OUT/model and OUT/train.json")
    args = parser.parse_args()
    if not args.train.is_file() or not args.valid.is_file():
        raise SystemExit(f"Brown corpus not found under {args.train.parent}")
    args.out.mkdir(parents=True, exist_ok=True)
    model, trigram = args.out / "model", args.out / "trigram"
    train, valid = str(args.train), str(args.valid)
    limit = ["--limit", str(args.limit)] if args.limit else []

    train_cmd = [*WORDRNN, "train", train, "--valid", valid, "-o", str(model), *RECIPE, "--epochs", str(args.epochs),
                 "--seed", "1", "--force", "-q", *shlex.split(args.extra)]
    record = args.out / "train.json"
    if args.reuse:
        trained = json.loads(record.read_text(encoding="utf-8"))
        train_seconds, train_display = trained["train_seconds"], trained["command"]
    else:
        _, train_seconds = run(train_cmd, args.out / "train.log", time.perf_counter() + 60 * args.minutes)
        train_display = display(train_cmd)
        record.write_text(json.dumps({"train_seconds": train_seconds, "command": train_display}), encoding="utf-8")
    tune_cmd = [*WORDRNN, "interpolate", str(model), "--valid", valid, "--ngram", train, "--ngram-min-count", "2",
                "--pretokenized", "--json", "-q"]
    tuned, tune_seconds = run(tune_cmd, args.out / "interpolate.log")
    kn_cmd = [*WORDRNN, "baseline", "train", train, "-o", str(trigram), "--model", str(model), "--force", "--json"]
    kn_summary, kn_seconds = run(kn_cmd, args.out / "baseline.log")

    def evaluate(directory: Path, *options: str) -> dict:
        cmd = [*WORDRNN, "evaluate", valid, "-m", str(directory), "--pretokenized", "--json", "-q", *limit, *options]
        return json.loads(run(cmd, args.out / "evaluate.log")[0])

    history = json.loads(run([*WORDRNN, "info", str(model), "--json"], args.out / "info.log")[0])
    rows = {
        "wordrnn": {**evaluate(model, "--save"), "train_seconds": round(train_seconds, 1),
                    "interpolate_seconds": round(tune_seconds, 1), "command": train_display,
                    "interpolate_command": display(tune_cmd), "interpolation": json.loads(tuned),
                    "epochs": len(history.get("history") or [])},
        "wordrnn-network-only": {**evaluate(model, "--network-only"), "train_seconds": round(train_seconds, 1),
                                 "command": train_display},
        "kn-trigram": {**evaluate(trigram), "train_seconds": round(kn_seconds, 1), "command": display(kn_cmd),
                       "ngrams": json.loads(kn_summary)["ngrams"]},
    }
    manifest = json.loads((model / "wordrnn.json").read_text(encoding="utf-8"))
    rows["wordrnn"]["file_mb"] = {role: round((model / name).stat().st_size / 1e6, 2)
                                  for role, name in manifest["files"].items()}
    for name, row in rows.items():
        row.pop("text", None)
        print(json.dumps({"bench": "quality", "model": name, **row}), flush=True)
    model_row, kn_row = rows["wordrnn"], rows["kn-trigram"]
    summary = {
        "bench": "quality", "summary": True,
        "ppl_ratio": round(model_row["ppl"] / kn_row["ppl"], 4),
        "top3_gain_points": round(100 * (model_row["top3"] - kn_row["top3"]), 2),
        "ksr3_gain_points": round(100 * (model_row["ksr3"] - kn_row["ksr3"]), 2),
        "network_only_ppl_ratio": round(rows["wordrnn-network-only"]["ppl"] / kn_row["ppl"], 4),
    }
    summary["targets_met"] = bool(summary["ppl_ratio"] <= 0.8 and model_row["ppl"] < 252
                                  and summary["top3_gain_points"] >= 3 and summary["ksr3_gain_points"] >= 3
                                  and train_seconds <= 3600)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
