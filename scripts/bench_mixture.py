"""Context-dependent mixture weights against one global pair (project issue 15, item 1), on Brown.

The network is a copy of a trained model (default: the bundled data/default). brown/valid.txt is
split by lines into two halves: the weights are fitted on the first (``wordrnn interpolate
--ngram brown/train.txt --ngram-min-count 2``), once with one global (cache, trigram) pair
(``--ngram-buckets 1``) and once with a pair per bucket of the trigram's history count (the
default), and each fit is measured on the second half with ``wordrnn evaluate --json``, so no
figure comes from the text it was fitted on (BENCHMARKS.md section 1b). The network alone is
measured too. One JSON object per row on stdout: ``{"bench": "mixture", "mode": ...}``, then a
summary row comparing the bucketed mixture with the global one.

The commands run in this process through the real command line (Typer), so TensorFlow loads once.

Usage: nice -n 5 python scripts/bench_mixture.py [--out /tmp/ctx-mix] [--model data/default]
       python scripts/bench_mixture.py --smoke --out DIR [--model M --train T --valid V]
(``--smoke``: the first lines of each text only, for a test that the script runs.)
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWN = ROOT.parent / "shared" / "corpora" / "brown"
SMOKE_LINES = {"train": 3000, "valid": 240}


def run_cli(args: list[str]) -> tuple[str, list[str]]:
    """Run ``wordrnn ARGS`` in this process; (stdout, warning lines of stderr). Exits on failure."""
    from typer.testing import CliRunner

    from wordrnn.cli.main import app

    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        raise SystemExit(f"wordrnn {shlex.join(args)} failed ({result.exit_code}): {result.stderr or result.output}")
    return result.stdout, [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def short(path: Path | str) -> str:
    """A path as the reports show it: the shared parent of the project written as ``..``."""
    return str(path).replace(str(ROOT.parent), "..")


def display(args: list[str]) -> str:
    return short(shlex.join(["wordrnn", *args]))


def head(source: Path, lines: int | None, target: Path) -> Path:
    """``target`` holding the first ``lines`` lines of ``source`` (all of them when None)."""
    with open(source, encoding="utf-8") as handle:
        text = handle.readlines()
    target.write_text("".join(text[:lines]), encoding="utf-8")
    return target


def split_halves(valid: Path, out: Path, lines: int | None) -> tuple[Path, Path]:
    """The validation text's lines split in two halves (fit on the first, report on the second)."""
    text = valid.read_text(encoding="utf-8").splitlines(keepends=True)[:lines]
    half = len(text) // 2
    first, second = out / "valid-half1.txt", out / "valid-half2.txt"
    first.write_text("".join(text[:half]), encoding="utf-8")
    second.write_text("".join(text[half:]), encoding="utf-8")
    return first, second


def evaluate(model: Path, text: Path, *options: str) -> dict:
    """``wordrnn evaluate`` figures on ``text``, with the number of warnings it printed."""
    args = ["evaluate", str(text), "--model", str(model), "--pretokenized", "--json", "-q", *options]
    started = time.perf_counter()
    stdout, warnings = run_cli(args)
    metrics = json.loads(stdout)
    keep = ("ppl", "top1", "top3", "ksr3", "tokens", "oov_rate")
    return {**{k: metrics[k] for k in keep}, "warnings": len(warnings),
            "seconds": round(time.perf_counter() - started, 1), "command": display(args)}


def fit(model: Path, half1: Path, train: Path, *options: str) -> dict:
    """``wordrnn interpolate`` on the first half; the fitted settings (perplexities there are optimistic)."""
    args = ["interpolate", str(model), "--valid", str(half1), "--ngram", str(train), "--ngram-min-count", "2",
            "--pretokenized", "--json", "-q", *options]
    started = time.perf_counter()
    fitted = json.loads(run_cli(args)[0])
    return {"fit": {k: fitted.get(k) for k in ("cache", "ngram", "cache_decay", "buckets", "contexts",
                                               "valid_ppl_network", "valid_ppl_global", "valid_ppl_interpolated")},
            "fit_seconds": round(time.perf_counter() - started, 1), "fit_command": display(args)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/ctx-mix"))
    parser.add_argument("--model", type=Path, default=ROOT / "data" / "default", help="trained model to copy")
    parser.add_argument("--train", type=Path, default=BROWN / "train.txt", help="the trigram's training text")
    parser.add_argument("--valid", type=Path, default=BROWN / "valid.txt", help="split in halves: fit, report")
    parser.add_argument("--smoke", action="store_true", help="first lines of each text only: runs in seconds")
    args = parser.parse_args()
    if not args.train.is_file() or not args.valid.is_file():
        raise SystemExit(f"text not found: {args.train} / {args.valid}")
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.out / "model"
    if model.exists():
        shutil.rmtree(model)
    shutil.copytree(args.model, model)  # never write into the source model (data/ is read-only for benches)
    half1, half2 = split_halves(args.valid, args.out, SMOKE_LINES["valid"] if args.smoke else None)
    train = head(args.train, SMOKE_LINES["train"], args.out / "train-head.txt") if args.smoke else args.train
    common = {"bench": "mixture", "smoke": args.smoke, "model": short(args.model), "fitted_on": short(half1),
              "reported_on": short(half2)}
    rows = {"network-only": evaluate(model, half2, "--network-only")}
    for mode, options in (("global", ["--ngram-buckets", "1"]), ("buckets", [])):
        fitted = fit(model, half1, train, *options)
        rows[mode] = {**evaluate(model, half2), **fitted}
    for mode, row in rows.items():
        print(json.dumps({**common, "mode": mode, **row}), flush=True)
    best, base = rows["buckets"], rows["global"]
    print(json.dumps({"bench": "mixture", "summary": True, "smoke": args.smoke,
                      "ppl_ratio_buckets_over_global": round(best["ppl"] / base["ppl"], 4),
                      **{f"{k}_gain_points": round(100 * (best[k] - base[k]), 2) for k in ("top1", "top3", "ksr3")},
                      "warnings_on_reported_text": best["warnings"] + base["warnings"]}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
