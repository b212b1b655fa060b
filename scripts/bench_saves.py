"""Epoch-end save throttling: ``train_series`` with ``min_save_seconds`` 0 (every epoch) vs the default.

Many tiny epochs (a 1,000-point series, batch 8, window 25: a few milliseconds each) used to
write the model and the checkpoint at every epoch end. Both settings train the same model in one
process, alternating run by run so machine load hits both alike; the time spent writing is
measured by wrapping ``checkpoint.write_manifest``. Prints one JSON line per run and a comparison
line with medians.

    python scripts/bench_saves.py [--epochs 300] [--repeats 3]
    python scripts/bench_saves.py --smoke     # 5 epochs, one repeat: seconds (a test of this script)
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wordrnn.store import checkpoint as ckpt  # noqa: E402
from wordrnn.config import TrainConfig  # noqa: E402
from wordrnn.train.jobs import train_series  # noqa: E402


def run(csv: Path, out: Path, epochs: int, min_save_seconds: float) -> dict:
    spent = {"seconds": 0.0, "writes": 0}
    real = ckpt.write_manifest

    def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent["seconds"] += time.perf_counter() - start
            spent["writes"] += 1

    ckpt.write_manifest = timed
    shutil.rmtree(out, ignore_errors=True)
    try:
        start = time.perf_counter()
        summary = train_series(csv, out, train_config=TrainConfig(
            epochs=epochs, batch_size=8, window=25, learning_rate=0.01, early_stopping=0, seed=1,
            min_save_seconds=min_save_seconds))
        total = time.perf_counter() - start
    finally:
        ckpt.write_manifest = real
    return {"min_save_seconds": min_save_seconds, "seconds": round(total, 3), "save_seconds": round(spent["seconds"], 3),
            "manifest_writes": spent["writes"], "epochs": summary["epochs"],
            "final_loss": round(summary["history"][-1]["loss"], 6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="5 epochs, one repeat: seconds (for tests)")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.repeats = 5, 1
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "sine.csv"
        csv.write_text("value\n" + "".join(f"{math.sin(0.1 * i):.6f}\n" for i in range(1000)))
        run(csv, Path(tmp) / "warm", 2, 0.0)  # tracing and imports, outside the timings
        results: dict[float, list[dict]] = {0.0: [], TrainConfig().min_save_seconds: []}
        for _ in range(args.repeats):
            for setting, runs in results.items():
                record = run(csv, Path(tmp) / "model", args.epochs, setting)
                runs.append(record)
                print(json.dumps({"bench": "epoch_end_saves", **record, "smoke": args.smoke}), flush=True)
    every, throttled = (statistics.median(r["seconds"] for r in runs) for runs in results.values())
    print(json.dumps({"bench": "epoch_end_saves", "summary": True, "smoke": args.smoke, "epochs": args.epochs,
                      "repeats": args.repeats,
                      "every_epoch_seconds": every, "throttled_seconds": throttled,
                      "speedup": round(every / throttled, 2),
                      "same_final_loss": len({r["final_loss"] for runs in results.values() for r in runs}) == 1}))


if __name__ == "__main__":
    main()
