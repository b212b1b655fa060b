"""scripts/bench_quality.py runs end to end (smoke mode: a tiny model on the first lines of Brown)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_quality.py"
BROWN = ROOT.parent / "shared" / "corpora" / "brown"


@pytest.mark.skipif(not (BROWN / "train.txt").is_file(), reason="Brown corpus not present")
def test_smoke_mode_reports_every_system_on_the_half_nothing_was_tuned_on():
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--continue", "2:0.9"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    *systems, summary = rows
    assert [r["system"] for r in systems] == ["model", "model+lexicon", "network", "network+lexicon",
                                              "trigram", "trigram+lexicon"]
    assert len({r["tokens"] for r in systems}) == 1  # the same text for every system
    for row in systems:
        assert row["tuned_on"].endswith("valid-half1.txt") and row["reported_on"].endswith("valid-half2.txt")
        assert 1 < row["ppl"] < 1000 and 0 <= row["top1"] <= row["top3"] <= 1
    assert all("ppl_open" in r for r in systems if r["system"].endswith("+lexicon"))
    assert "--valid" in systems[0]["command"] and "valid-half1.txt" in systems[0]["interpolate_command"]
    assert systems[0]["epochs"] == 2 and systems[0]["continued"][0].endswith("--resume --epochs 2 -q --ema 0.9")
    assert summary["summary"] and isinstance(summary["targets_met"], bool)
    assert {"ppl_ratio", "top3_gain_points", "ksr3_gain_points", "ksr3_gain_points_lexicon"} <= summary.keys()
