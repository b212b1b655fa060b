"""Sine demo benchmark (BENCHMARKS.md §2): ``wordrnn sine`` vs the classic stateful-Keras method.

Data: sin(x) for x = 0..35, target the next value. After training, both methods prime their state
on the 36 observed points and generate 36 points by feeding each output back; the figure is the
mean squared error against sin(36)..sin(71).

- ours: ``wordrnn sine --json --seed S`` (the shared engine: the whole series is one window at
  batch 1, so each engine step is an epoch; then ``generator.prime`` / ``generator.feedback``).
- reference: the seed article's method, a Keras ``LSTM(16, stateful=True)`` with batch shape
  (1, 1, 1), ``fit`` one epoch per loop with ``shuffle=False`` and a state reset between epochs,
  1000 epochs, ``predict`` for priming and for each generated point.

Every run is its own subprocess so the whole-process wall time (imports included) is measured
from outside. Prints one JSON line per run, one per method with medians over the seeds, and a
comparison line. Run with ``nice``: the reference takes over a minute per seed.

    nice -n 10 python scripts/bench_sine.py [--seeds 0 1 2] [--reference-epochs 1000]
    python scripts/bench_sine.py --smoke     # one seed, 5 epochs each: seconds (a test of this script)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POINTS = 36
GENERATE = 36


def reference_run(seed: int, epochs: int) -> dict:
    """The classic method, in this process (called in a subprocess by ``main``)."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from wordrnn.nn.tfimport import tensorflow

    tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    series = [math.sin(x) for x in range(POINTS)]
    supervised = [math.sin(x + 1) for x in range(POINTS)]
    started = time.perf_counter()
    x = np.array(series).reshape(len(series), 1, 1)
    y = np.array(supervised)
    model = keras.Sequential([keras.Input(batch_shape=(1, 1, 1)), keras.layers.LSTM(16, stateful=True),
                              keras.layers.Dense(1)])
    model.compile(loss="mean_squared_error", optimizer="adam")
    lstm = model.layers[0]
    for _ in range(epochs):
        model.fit(x, y, epochs=1, batch_size=1, verbose=0, shuffle=False)
        lstm.reset_states()  # Keras 3 resets per layer (Keras 2 had model.reset_states())
    train_seconds = time.perf_counter() - started

    model.predict(np.array(series[:-1]).reshape(len(series) - 1, 1, 1), batch_size=1, verbose=0)
    forecast = series[-1]
    predictions = []
    for _ in range(GENERATE):
        forecast = float(model.predict(np.array([forecast]).reshape(1, 1, 1), verbose=0)[0, 0])
        predictions.append(forecast)
    expected = [math.sin(POINTS + i) for i in range(GENERATE)]
    mse = statistics.fmean((p - e) ** 2 for p, e in zip(predictions, expected))
    return {"mse": mse, "train_seconds": round(train_seconds, 3), "epochs": epochs}


def timed(command: list[str]) -> tuple[dict, float]:
    """Run one method in a fresh process; its stdout is its JSON result."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=["ours", "reference"], default=["ours", "reference"])
    parser.add_argument("--reference-epochs", type=int, default=1000, help="the classic method's 1000 epochs")
    parser.add_argument("--ours-args", default="", help="extra `wordrnn sine` options, e.g. '--cell gru'")
    parser.add_argument("--reference-run", type=int, metavar="SEED", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="one seed, 5 epochs for each method: seconds (for tests)")
    args = parser.parse_args()
    if args.smoke:
        args.seeds, args.reference_epochs, args.ours_args = [0], 5, f"--epochs 5 {args.ours_args}"

    if args.reference_run is not None:
        print(json.dumps(reference_run(args.reference_run, args.reference_epochs)))
        return

    commands = {
        "ours": lambda seed: [sys.executable, "-m", "wordrnn", "sine", "--json", "--seed", str(seed),
                              *args.ours_args.split()],
        "reference": lambda seed: [sys.executable, str(Path(__file__).resolve()), "--reference-run", str(seed),
                                   "--reference-epochs", str(args.reference_epochs)],
    }
    runs: dict[str, list[dict]] = {method: [] for method in args.methods}
    for seed in args.seeds:  # interleaved, so changes in machine load hit both methods alike
        for method in args.methods:
            result, wall = timed(commands[method](seed))
            run = {"bench": "sine", "method": method, "seed": seed, "mse": result["mse"],
                   "train_seconds": result["train_seconds"], "wall_seconds": round(wall, 3),
                   "epochs": result["epochs"], "smoke": args.smoke}
            print(json.dumps(run), flush=True)
            runs[method].append(run)
    medians: dict[str, dict] = {}
    for method in args.methods:
        medians[method] = {key: statistics.median(r[key] for r in runs[method])
                           for key in ("mse", "train_seconds", "wall_seconds", "epochs")}
        print(json.dumps({"bench": "sine", "method": method, "seeds": len(runs[method]), "statistic": "median",
                          **medians[method], "smoke": args.smoke}), flush=True)
    if {"ours", "reference"} <= set(medians):
        ours, ref = medians["ours"], medians["reference"]
        print(json.dumps({
            "bench": "sine", "method": "comparison",
            "mse_ratio": round(ours["mse"] / ref["mse"], 4) if ref["mse"] else None,
            "wall_speedup": round(ref["wall_seconds"] / ours["wall_seconds"], 2),
            "train_speedup": round(ref["train_seconds"] / ours["train_seconds"], 2) if ours["train_seconds"] else None,
            "target_met": ours["mse"] <= ref["mse"] and ours["wall_seconds"] * 20 <= ref["wall_seconds"],
            "smoke": args.smoke,
        }), flush=True)


if __name__ == "__main__":
    main()
