"""scripts/bench_ood.py runs end to end (smoke mode: a tiny model made on the spot) and prints its rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_ood.py"


def test_smoke_mode_prints_every_system_with_comparable_figures():
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["system"] for r in rows] == ["model", "model+lexicon", "network", "trigram", "trigram+lexicon"]
    assert len({r["tokens"] for r in rows}) == 1  # the same text for every system
    for row in rows:
        assert row["bench"] == "ood" and 1 < row["ppl"] < 1000 and 0 <= row["top1"] <= row["top3"] <= 1
    assert all("ppl_open" in r for r in rows if r["system"].endswith("+lexicon"))
