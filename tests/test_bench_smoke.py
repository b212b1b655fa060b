"""The benchmark scripts without a test of their own run end to end in ``--smoke`` mode (tiny models, seconds).

bench_keystroke.py, bench_scale.py, bench_sine.py, bench_saves.py, bench_budget.py and bench_state.py (those of the selected tests) start
together when the module's first test runs: each is mostly one process importing TensorFlow, so two cores
overlap them well. Each test then waits for its script and checks that every JSON line parses and carries
the figures the README quotes. ``pytest -m "not bench"`` leaves them out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
NAMES = ("bench_keystroke.py", "bench_scale.py", "bench_sine.py", "bench_saves.py", "bench_budget.py", "bench_state.py")


@pytest.fixture(scope="module")
def started(request: pytest.FixtureRequest):
    """The scripts of this module's selected tests (each test's name holds its script's), all started at once."""
    selected = [item.name for item in request.session.items if item.module is request.module]
    wanted = [name for name in NAMES if any(name[len("bench_"):-len(".py")] in test for test in selected)]
    procs = {name: subprocess.Popen([sys.executable, str(SCRIPTS / name), "--smoke"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name in wanted}
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def rows(started: dict, name: str) -> list[dict]:
    out, err = started[name].communicate(timeout=600)
    assert started[name].returncode == 0, err[-2000:]
    return [json.loads(line) for line in out.splitlines()]


def test_keystroke_latency_and_adaptation(started):
    lines = rows(started, "bench_keystroke.py")
    latency = {r["method"]: r for r in lines if r["bench"] == "keystroke"}
    assert set(latency) == {"repl", "repl_no_adapt", "reference"}
    for row in latency.values():
        assert row["keystrokes"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["model"].startswith("stand-in (smoke)") and row["runtime"]
    (summary,) = [r for r in lines if r["bench"] == "keystroke_summary"]
    assert summary["repl_p99_ms"] == latency["repl"]["p99_ms"] and "p99_ratio_repl_vs_reference" in summary
    (adapt,) = [r for r in lines if r["bench"] == "adapt_ksr"]
    for figure in ("ksr3", "top1", "top3", "ppl"):
        assert f"{figure}_with" in adapt and f"{figure}_without" in adapt
    assert adapt["smoke"] and adapt["train_steps"] == 3 and adapt["typed_tokens"] > 0
    assert len([r for r in lines if r["bench"] == "adapt_ksr_weight"]) == 5


def test_budget_trains_with_default_flags_and_compares_with_the_trigram(started):
    (row,) = rows(started, "bench_budget.py")
    assert row["bench"] == "budget" and row["minutes"] == 0.25 and row["litert_export"]
    assert row["recipe"].startswith("recipe for")
    assert row["plan"] is None or row["plan"].startswith("plan:")  # a 15 s budget on busy cores may end before its plan
    assert row["network_ppl"] > 1 and row["kn_ppl"] > 1
    assert row["ratio"] == pytest.approx(row["network_ppl"] / row["kn_ppl"], rel=0.01)  # of the rounded perplexities
    # Whether the budget holds is the benchmark's figure on a quiet machine, not a unit test's (a loaded
    # machine slows start-up); the budget's logic is tests/test_budget.py's, on a fake clock.
    assert row["wall_seconds"] > 0
    assert row["within_budget_s"] == pytest.approx(row["wall_seconds"] - 60 * row["minutes"], abs=0.11)


def test_scale_reports_the_whole_process_tree_and_a_full_epoch(started):
    lines = rows(started, "bench_scale.py")
    by_bench: dict[str, list[dict]] = {}
    for row in lines:
        assert row["smoke"] and "measured" in row
        by_bench.setdefault(row["bench"], []).append(row)
    counts = [len(by_bench[b]) for b in ("scale_prepare", "scale_train", "scale_epoch", "scale_memory", "scale_workers")]
    assert counts == [1, 1, 1, 2, 1]
    (prepare,), (train,), (epoch,), (workers,) = (by_bench[b] for b in ("scale_prepare", "scale_train", "scale_epoch",
                                                                       "scale_workers"))
    for row in (prepare, train, epoch):
        assert row["rc"] == 0 and row["processes"] >= 1 and row["memory_samples"] >= 1
        assert 0 < row["peak_pss_mb"] <= row["peak_rss_mb"] and row["largest_process_rss_mb"] > 0
    assert prepare["tokens"] > 0 and prepare["tokens_per_second"] > 0
    assert train["steps"] == 3 and train["targets_per_second"] > 0
    assert epoch["corpus_read"] >= 0.95  # the epoch run reads the whole dataset
    assert all(m["ratio"] == 1.0 for m in by_bench["scale_memory"])  # one size in smoke mode
    assert workers["replicas"] == 2 and workers["rc"] == 0 and workers["ratio_to_one_worker"] > 0


def test_sine_both_methods_with_medians_and_a_comparison(started):
    lines = rows(started, "bench_sine.py")
    runs = [r for r in lines if "seed" in r]
    assert sorted(r["method"] for r in runs) == ["ours", "reference"] and all(r["epochs"] == 5 for r in runs)
    medians = {r["method"]: r for r in lines if r.get("statistic") == "median"}
    assert set(medians) == {"ours", "reference"}
    (comparison,) = [r for r in lines if r["method"] == "comparison"]
    assert comparison["mse_ratio"] > 0 and comparison["wall_speedup"] > 0 and isinstance(comparison["target_met"], bool)
    assert all(r["bench"] == "sine" and r["smoke"] for r in lines)


def test_state_carried_fresh_and_fit_from_the_same_weights(started):
    lines = rows(started, "bench_state.py")
    assert [r["method"] for r in lines] == ["carried", "fresh", "fit"]
    assert all(r["bench"] == "state" and r["smoke"] and r["steps"] == 5 and r["valid_ppl"] > 1 for r in lines)
    assert all(len(r["mean_abs_cell_state"]) == 2 for r in lines[:2]) and "mean_abs_cell_state" not in lines[2]


def test_saves_every_epoch_against_the_throttled_default(started):
    *runs, summary = rows(started, "bench_saves.py")
    assert len(runs) == 2 and runs[0]["min_save_seconds"] == 0.0
    assert all(r["bench"] == "epoch_end_saves" and r["epochs"] == 5 and r["manifest_writes"] > 0 for r in runs)
    assert summary["summary"] and summary["same_final_loss"] and summary["speedup"] > 0


def test_bench_all_knows_every_benchmark_script_and_records_what_it_skips(tmp_path):
    """One run of every benchmark fills the README's table: none may be missing from bench_all's list."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        import bench_all
    finally:
        sys.path.remove(str(SCRIPTS))
    scripts = {p.stem for p in SCRIPTS.glob("bench_*.py")} - {"bench_all"} | {"check_wheel"}
    assert set(bench_all.BENCHES) == scripts
    out = tmp_path / "all.jsonl"
    done = subprocess.run([sys.executable, str(SCRIPTS / "bench_all.py"), "--smoke", "--only", "check_wheel",
                           "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [{"bench_all": "skipped", "script": "check_wheel",
                      "reason": "check_wheel.sh has no smoke mode (it builds and installs a wheel)"}]
    bad = subprocess.run([sys.executable, str(SCRIPTS / "bench_all.py"), "--only", "bench_nope", "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "unknown bench 'bench_nope'" in bad.stderr


def test_bench_all_passes_one_scripts_extra_arguments_and_refuses_an_unknown_name(tmp_path):
    """``--args NAME=ARGS`` reaches that script's command line (the start line records it), and only that script's."""
    out = tmp_path / "all.jsonl"
    done = subprocess.run([sys.executable, str(SCRIPTS / "bench_all.py"), "--smoke", "--only", "bench_serve",
                           "--args", "bench_serve=--help", "--args", "bench_sine=--seeds 1", "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    start, end = [json.loads(line) for line in out.read_text().splitlines()]
    assert start["command"][-2:] == ["--smoke", "--help"] and end["exit"] == 0
    for value in ("bench_nope=--x", "bench_serve"):
        bad = subprocess.run([sys.executable, str(SCRIPTS / "bench_all.py"), "--args", value, "--out", str(out)],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and f"got {value!r}" in bad.stderr and "Traceback" not in bad.stderr
