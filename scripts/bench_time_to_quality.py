"""Time to quality (BENCHMARKS.md §3): minutes from scratch until Brown valid perplexity reaches the KN trigram's.

The methods run one after the other on the same machine:

1. ``wordrnn train train.txt --valid valid.txt --pretokenized --time-budget M`` with every other
   setting left to the recipe (the one-line choice is recorded; ``--train-args`` adds flags, such
   as ``--adaptive-softmax 2000``), as a subprocess, once from scratch for each budget M of
   ``--minutes`` (default 1.5, 2.5 and 5). Its stderr is read as it is
   written, so each epoch line's validation perplexity gets its wall time since the process was
   launched (imports, reading the corpus and every validation pass included). A run validates
   itself only at its epochs' ends, so it is also asked for a checkpoint every ``--snapshot-seconds``
   (written on its clock), and each is validated after the run, off the clock, as the plain fit's
   chunks are (``run_snapshots.py``). Shorter budgets (whose schedules end sooner) show how soon
   the quality can be had: ``wordrnn train``'s time to quality is the earliest validation (an
   epoch's or a checkpoint's) of any run at or under the trigram's perplexity, and every run's
   lines are printed. Then the trigram (``wordrnn
   baseline train --model``: same text, same vocabulary) and ``wordrnn evaluate`` give the KN
   perplexity to reach, and the longest run's network perplexity by the §1 protocol.
2. Plain Keras ``fit`` on the same network (``bench_train.keras_reference``: same layers, same
   dropout, the full softmax where the recipe's is adaptive, Adam at the same rate, batches of 32
   shuffled 35-word windows, ``REFERENCE_BATCH``, whatever the recipe's streams), in chunks of
   about ``--chunk-seconds``; after each chunk its weights are copied into a wordrnn model and
   validated exactly as ``wordrnn train`` validates (the time of those passes is not counted: the
   reference is given that advantage). It stops when it reaches the trigram or at
   ``--reference-factor`` times the time ``wordrnn train`` needed, which then bounds the ratio
   from below.

Prints one JSON line per run and a summary line (the ratio, and whether the targets hold:
``wordrnn train`` within 5 minutes, at least 3 times faster). ``--smoke``: a synthetic corpus and a
tiny model, in about a minute, for tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from run_snapshots import SnapshotWatcher, validate_snapshots

ROOT = Path(__file__).resolve().parents[1]
BROWN = ROOT.parent / "shared" / "corpora" / "brown"
WORDRNN = [sys.executable, "-m", "wordrnn"]
REFERENCE_BATCH = 32  # plain fit's batch of windows, whatever the recipe gives wordrnn train
EPOCH_LINE = re.compile(r"^epoch (\d+)(?: \((\d+)/(\d+) windows\))?: train ppl\s+([\d.]+), valid ppl\s+([\d.]+)")


def run_train(train: Path, valid: Path, out: Path, minutes: float, extra: list[str], snapshot_seconds: float) -> dict:
    """``wordrnn train`` with default flags and a budget: every epoch's validation perplexity with its
    wall time, and every ``snapshot_seconds``' checkpoint validated afterwards (``run_snapshots``)."""
    cmd = [*WORDRNN, "train", str(train), "--valid", str(valid), "-o", str(out), "--pretokenized",
           "--time-budget", f"{minutes:g}", "--force", "--seed", "1", *extra]
    if snapshot_seconds:
        cmd += ["--checkpoint-minutes", f"{snapshot_seconds / 60:.4g}"]
    launched = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env={**os.environ, "COLUMNS": "200"})
    watcher = SnapshotWatcher(out, out.parent / f"{out.name}-snapshots", launched)
    watcher.start()
    epochs, lines = [], []
    for line in proc.stderr:
        now = time.perf_counter() - launched
        lines.append(line.rstrip())
        match = EPOCH_LINE.match(line.strip())
        if match:
            epochs.append({"epoch": int(match[1]), "seconds": round(now, 1), "valid_ppl": float(match[5]),
                           "partial": match[2] is not None})
    failed = proc.wait() != 0
    wall = round(time.perf_counter() - launched, 1)
    found = watcher.stop()
    if failed:
        raise SystemExit(f"{shlex.join(cmd)} failed:\n" + "\n".join(lines[-20:]))
    recipe = next((x for x in lines if x.startswith("recipe for")), None)
    plan = next((x for x in lines if x.startswith("plan:")), None)
    return {"command": display(cmd), "wall_seconds": wall, "epochs": epochs,
            "snapshots": validate_snapshots(out, valid, [f for f in found if f[0] <= wall]),
            "recipe": recipe, "plan": plan}


def display(cmd: list[str]) -> str:
    return shlex.join(["wordrnn", *cmd[len(WORDRNN):]]).replace(str(ROOT.parent), "..")


def cli_json(*args: str) -> dict:
    done = subprocess.run([*WORDRNN, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"wordrnn {' '.join(args)} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def kn_and_network(train: Path, valid: Path, model: Path, trigram: Path) -> tuple[float, float]:
    """The KN trigram's perplexity (same text and vocabulary as the model) and the network's, by §1."""
    cli_json("baseline", "train", str(train), "-o", str(trigram), "--model", str(model), "--force", "--json")
    kn = cli_json("evaluate", str(valid), "-m", str(trigram), "--pretokenized", "--json", "-q")["ppl"]
    network = cli_json("evaluate", str(valid), "-m", str(model), "--pretokenized", "--network-only", "--json", "-q")["ppl"]
    return kn, network


def reference_fit(train: Path, valid: Path, model_dir: Path, target: float, limit_seconds: float,
                  chunk_seconds: float) -> dict:
    """Plain Keras ``fit`` on our model's network and vocabulary until it validates at ``target`` or runs out of time."""
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_train import keras_reference, stateless_windows

    import keras

    from wordrnn.config import replace
    from wordrnn.nn.model import build_model
    from wordrnn.store.saved import SavedModel
    from wordrnn.text.encode import encode_corpus
    from wordrnn.text.tokenizer import Tokenizer
    from wordrnn.train.batching import validation_batches
    from wordrnn.train.engine import Engine, engine_arguments

    saved = SavedModel.load(model_dir)
    config, train_config = replace(saved.model_config, adaptive_softmax=0), saved.train_config  # fit: the full softmax
    tokenizer = Tokenizer(saved.tokenizer_config)
    ids = encode_corpus([train], tokenizer, saved.vocab).astype(np.int32)
    valid_ids = encode_corpus([valid], tokenizer, saved.vocab).astype(np.int32)
    window, batch = train_config.window, REFERENCE_BATCH
    x, y = stateless_windows(ids, window)
    keras.utils.set_random_seed(1)
    model = keras_reference(config, window)
    model.compile(optimizer=keras.optimizers.Adam(train_config.learning_rate, global_clipnorm=train_config.clipnorm),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    judge = Engine(*engine_arguments(build_model(config), config, replace(train_config, sampled_softmax=0)))
    valid_batches = validation_batches(valid_ids, batch, window)
    evaluations, order, position, seen = [], np.random.default_rng(1).permutation(len(x)), 0, 0
    trained = time.perf_counter() - started  # reading and encoding count, as they do for wordrnn train
    per_chunk = 20 * batch  # a short first chunk times the steps; later chunks last about chunk_seconds
    while trained < limit_seconds:
        if position >= len(order):
            order, position = np.random.default_rng(len(evaluations)).permutation(len(x)), 0
        rows = order[position:position + per_chunk]
        position += len(rows)
        seen += len(rows)
        began = time.perf_counter()
        model.fit(x[rows], y[rows], batch_size=batch, epochs=1, shuffle=False, verbose=0)
        spent = time.perf_counter() - began
        trained += spent
        per_chunk = max(batch, int(chunk_seconds / spent * len(rows)) // batch * batch)
        judge.model.set_weights(model.get_weights())
        ppl = float(np.exp(judge.evaluate(valid_batches)))
        evaluations.append({"seconds": round(trained, 1), "windows": int(seen), "epochs": round(seen / len(x), 2), "valid_ppl": round(ppl, 1)})
        if ppl <= target:
            break
    reached = next((e["seconds"] for e in evaluations if e["valid_ppl"] <= target), None)
    return {"reached_seconds": reached, "trained_seconds": round(trained, 1), "evaluations": evaluations,
            "best_valid_ppl": min(e["valid_ppl"] for e in evaluations)}


def smoke_corpus(folder: Path) -> tuple[Path, Path]:
    """A small learnable synthetic language (the tests' grammar), split into train and valid."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import make_text

    train, valid = folder / "train.txt", folder / "valid.txt"
    train.write_text(make_text(3000, seed=1), encoding="utf-8")
    valid.write_text(make_text(300, seed=2), encoding="utf-8")
    return train, valid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the models here (default: a temporary directory, removed)")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.5, 2.5, 5.0],
                        help="the time budgets given to wordrnn train, one run each from scratch")
    parser.add_argument("--reference-factor", type=float, default=3.5,
                        help="stop the plain fit at this many times wordrnn train's time to quality")
    parser.add_argument("--chunk-seconds", type=float, default=30.0, help="plain fit trains this long between validations")
    parser.add_argument("--snapshot-seconds", type=float, default=30.0,
                        help="wordrnn train checkpoints this often, each validated after the run (0: epoch ends only)")
    parser.add_argument("--train-args", default="", help="more flags for every wordrnn train run, in one string "
                        "(e.g. \"--adaptive-softmax 2000\"); default: none, the recipe's choices")
    parser.add_argument("--smoke", action="store_true", help="synthetic corpus, tiny model, a minute (for tests)")
    args = parser.parse_args()
    keep = args.out is not None
    if not keep:
        args.out = Path(tempfile.mkdtemp(prefix="wordrnn-t2q-"))
    try:
        measure_both(args)
    finally:
        if not keep:
            shutil.rmtree(args.out, ignore_errors=True)


def first_reached(run: dict, target: float) -> float | None:
    """Seconds from launch to the first validation (an epoch's or a snapshot's) at or under ``target`` (None: never)."""
    return min((e["seconds"] for e in [*run["epochs"], *run["snapshots"]] if e["valid_ppl"] <= target), default=None)


def measure_both(args: argparse.Namespace) -> None:
    """Time to quality of ``wordrnn train`` (one run per budget) and of the plain fit, in ``args.out``."""
    extra: list[str] = shlex.split(args.train_args)
    if args.smoke:
        train, valid = smoke_corpus(args.out)
        args.minutes, args.chunk_seconds, args.reference_factor, args.snapshot_seconds = [0.25], 2.0, 0.5, 3.0
        extra += ["--units", "16", "--embedding", "8", "--no-export"]
    else:
        train, valid = BROWN / "train.txt", BROWN / "valid.txt"
        if not train.is_file() or not valid.is_file():
            raise SystemExit(f"Brown corpus not found under {BROWN}")
    args.out.mkdir(parents=True, exist_ok=True)
    budgets = sorted(set(args.minutes))
    runs = {m: run_train(train, valid, args.out / f"model-{m:g}", m, extra, args.snapshot_seconds) for m in budgets}
    longest = args.out / f"model-{budgets[-1]:g}"
    kn, network = kn_and_network(train, valid, longest, args.out / "trigram")  # every run has the same vocabulary
    for minutes, ours in runs.items():
        reached = first_reached(ours, kn)
        print(json.dumps({"bench": "time_to_quality", "method": "wordrnn_train", "budget_minutes": minutes, "kn_ppl": kn,
                          **ours, "reached_minutes": round(reached / 60, 2) if reached is not None else None,
                          "network_ppl_evaluate": network if minutes == budgets[-1] else None,
                          "smoke": args.smoke}), flush=True)
    times = {m: first_reached(ours, kn) for m, ours in runs.items()}
    fastest = min((m for m in budgets if times[m] is not None), key=lambda m: times[m], default=None)
    reached = times[fastest] if fastest is not None else None
    limit = args.reference_factor * (reached if reached is not None else runs[budgets[-1]]["wall_seconds"])
    ref = reference_fit(train, valid, longest, kn, limit, args.chunk_seconds)
    print(json.dumps({"bench": "time_to_quality", "method": "keras_fit", "kn_ppl": kn, **ref,
                      "reached_minutes": round(ref["reached_seconds"] / 60, 2) if ref["reached_seconds"] else None,
                      "smoke": args.smoke}), flush=True)
    print(json.dumps(summarize(kn, runs, times, fastest, ref, args.smoke)), flush=True)


def summarize(kn: float, runs: dict[float, dict], times: dict[float, float | None], fastest: float | None,
              ref: dict, smoke: bool) -> dict:
    """The summary line: the earliest any budget reached the trigram, the ratio, and the targets
    (the 5-minute budget's run within 5 minutes, and reaching it; at least 3 times as fast as ``fit``)."""
    reached = times[fastest] if fastest is not None else None
    summary = {"bench": "time_to_quality", "summary": True, "kn_ppl": kn, "smoke": smoke,
               "wordrnn_minutes": round(reached / 60, 2) if reached is not None else None,
               "wordrnn_budget_minutes": fastest,
               "reached_by_budget": {f"{m:g}": round(t / 60, 2) if t is not None else None for m, t in times.items()},
               "keras_fit_minutes": round(ref["reached_seconds"] / 60, 2) if ref["reached_seconds"] else None}
    if reached is not None and ref["reached_seconds"]:
        summary["ratio"] = round(ref["reached_seconds"] / reached, 2)
    elif reached is not None:
        summary["ratio_at_least"] = round(ref["trained_seconds"] / reached, 2)
    ratio = summary.get("ratio", summary.get("ratio_at_least", 0.0))
    five = times.get(5.0)
    summary["targets_met"] = bool(reached is not None and reached <= 300 and ratio >= 3
                                  and (5.0 not in runs or (five is not None and runs[5.0]["wall_seconds"] <= 300 + 60)))
    return summary


if __name__ == "__main__":
    main()
