"""scripts/bench_train.py and scripts/bench_time_to_quality.py run end to end in smoke mode and print their rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _rows(script: str) -> list[dict]:
    done = subprocess.run([sys.executable, str(SCRIPTS / script), "--smoke"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_throughput_compares_xla_with_xla():
    rows = {row["method"]: row for row in _rows("bench_train.py")}
    assert rows["wordrnn_engine_xla"]["reference"] == "keras_fit_xla"  # the fair pair
    assert rows["wordrnn_engine"]["reference"] == "keras_fit"
    assert rows["wordrnn_engine_xla_sampled"]["sampled_softmax"] > 0  # --xla with a sampled softmax runs
    assert rows["wordrnn_engine_adaptive"]["adaptive_softmax"] == rows["wordrnn_engine_xla_adaptive"]["adaptive_softmax"] > 0
    for row in rows.values():
        assert row["bench"] == "train_throughput" and row["tokens_per_s"] > 0 and row["smoke"]
        if row["reference"]:
            # both rates are printed rounded to 0.1 and the ratio to 0.001 from the unrounded ones
            assert row["ratio"] == pytest.approx(row["tokens_per_s"] / rows[row["reference"]]["tokens_per_s"], abs=2e-3)


def test_time_to_quality_times_both_methods_against_the_trigram():
    ours, reference, summary = _rows("bench_time_to_quality.py")
    assert ours["method"] == "wordrnn_train" and reference["method"] == "keras_fit" and summary["summary"]
    assert ours["kn_ppl"] == reference["kn_ppl"] == summary["kn_ppl"] > 1
    assert ours["recipe"].startswith("recipe for") and ours["plan"].startswith("plan:")
    assert "--time-budget 0.25" in ours["command"] and ours["budget_minutes"] == 0.25
    assert summary["wordrnn_budget_minutes"] in (0.25, None) and set(summary["reached_by_budget"]) == {"0.25"}
    seconds = [e["seconds"] for e in ours["epochs"]]
    assert seconds == sorted(seconds) and seconds[-1] <= ours["wall_seconds"] <= 15 + 20  # budget + start-up
    assert reference["evaluations"] and all(e["valid_ppl"] > 1 for e in reference["evaluations"])
    # the run's checkpoints, validated afterwards as the run validates: the last one is the last epoch's weights
    snapshots = [e["seconds"] for e in ours["snapshots"]]
    assert len(snapshots) >= 2 and snapshots == sorted(snapshots) and snapshots[-1] <= ours["wall_seconds"]
    assert ours["snapshots"][-1]["valid_ppl"] == pytest.approx(ours["epochs"][-1]["valid_ppl"], abs=0.11)
    assert "--checkpoint-minutes" in ours["command"]
    assert isinstance(summary["targets_met"], bool)
