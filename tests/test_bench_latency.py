"""scripts/bench_latency.py runs end to end in smoke mode and prints every row the README quotes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_latency.py"


def test_latency_smoke_prints_every_row():
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [row["bench"] for row in rows]
    for kind in ("model", "startup", "floor", "cold_complete", "cold_complete_summary", "keystroke",
                 "generation_profile", "int8", "generation", "cold_profile"):
        assert kind in kinds, kind
    assert rows[0]["smoke"] and rows[0]["mixture"]  # the tiny model interpolates, as the bundled one does
    generation = {row["method"]: row for row in rows if row["bench"] == "generation"}
    assert set(generation) == {"litert", "litert network only", "keras step", "model.predict loop"}
    assert all(row["words_per_s"] > 0 for row in generation.values())
    ratio = generation["litert"]["words_per_s"] / generation["model.predict loop"]["words_per_s"]
    assert abs(generation["litert"]["vs_predict_loop"] - ratio) <= 0.02 * ratio  # rates are printed rounded
    profile = next(row for row in rows if row["bench"] == "generation_profile")
    assert 0 < profile["network_step_ms"] and 0 < profile["network_share"]
    # the invoke timed inside generation and the Python around it add up to the word's time
    assert 0 < profile["invoke_back_to_back_ms"] and 0 < profile["invoke_in_generation_ms"] < profile["per_word_ms"]
    assert abs(profile["invoke_in_generation_ms"] + profile["python_ms"] - profile["per_word_ms"]) < 2e-4
    summary = next(row for row in rows if row["bench"] == "cold_complete_summary")
    assert isinstance(summary["pass"], bool) and summary["speedup_min"] > 0
    cold = next(row for row in rows if row["bench"] == "cold_profile")  # every phase of a cold complete, timed
    phases = cold["phases_ms"]
    assert len(phases) == 7 and all(ms > 0 for ms in phases.values()), phases
    assert cold["after_floor_ms"] == round(sum(ms for name, ms in phases.items() if not name.startswith("floor")), 1)
