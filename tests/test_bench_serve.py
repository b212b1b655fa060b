"""scripts/bench_serve.py runs end to end in smoke mode (3 typists for 2 s against a real server on
loopback, tiny model) and prints the figures BENCHMARKS.md §3 asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_serve.py"


def test_smoke_mode_reports_requests_errors_latency_and_rss(tiny_model):
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--model", str(tiny_model), "--runtime", "keras"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    serve = next(r for r in rows if r["bench"] == "serve")
    assert serve["typists"] == 3 and serve["runtime"].startswith("keras")
    assert serve["requests"] >= 40 and serve["errors"] == 0  # 3 typists x 10 keys/s x 2 s, all answered
    assert 0 < serve["p50_ms"] <= serve["p99_ms"] <= serve["max_ms"]
    assert serve["rss_before_mb"] > 0 and serve["rss_after_mb"] > 0 and serve["sessions"]["created"] == 3
    assert [r["bench"] for r in rows].count("serve_rss") >= 1
    reference = rows[-1]
    assert reference["bench"] == "serve_reference" and reference["keystrokes"] == 90
