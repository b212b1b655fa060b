"""Issue 16's budget target: `wordrnn train` with default flags and `--time-budget`, against the trigram.

Splits tinyshakespeare 90/10 at a blank line, runs

    wordrnn train train.txt --valid valid.txt -o model --time-budget MINUTES

with no other flag (the recipe chooses everything), then builds the Kneser-Ney trigram from the same
training text and vocabulary (`wordrnn baseline train train.txt --model model`) and evaluates both on
valid.txt (the network with `--network-only`). Prints one JSON line per budget: wall time (export
included), whether the LiteRT export was written, the recipe and plan lines, both perplexities and
their ratio (target: at most 0.95 at five minutes).

Usage:
  python scripts/bench_budget.py                   # budgets of 5 and 1 minutes
  python scripts/bench_budget.py --minutes 5 --out DIR
  python scripts/bench_budget.py --smoke           # a tiny text and model, seconds (a test of this script)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt"
WORDRNN = [sys.executable, "-c", "from wordrnn.cli.main import main; main()"]
TARGET = 0.95


def split(corpus: Path, out: Path, share: float = 0.9) -> tuple[Path, Path]:
    """train.txt and valid.txt: the text cut at the first blank line after ``share`` of its lines."""
    lines = corpus.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = next((i for i in range(int(len(lines) * share), len(lines)) if not lines[i].strip()), len(lines) - 1)
    train, valid = out / "train.txt", out / "valid.txt"
    train.write_text("".join(lines[:cut]), encoding="utf-8")
    valid.write_text("".join(lines[cut + 1:]), encoding="utf-8")
    return train, valid


def wordrnn(*args: str, cwd: Path) -> str:
    done = subprocess.run([*WORDRNN, *args], capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"wordrnn {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def budget_row(work: Path, minutes: float, extra: list[str]) -> dict:
    """Train with the budget, then the trigram and both evaluations; the row to print."""
    model, trigram = work / f"model-{minutes:g}", work / f"trigram-{minutes:g}"
    started = time.perf_counter()
    done = subprocess.run([*WORDRNN, "train", "train.txt", "--valid", "valid.txt", "-o", model.name,
                           "--time-budget", f"{minutes:g}", *extra], capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"wordrnn train failed:\n{done.stderr[-2000:]}")
    lines = done.stderr.splitlines()
    manifest = json.loads((model / "wordrnn.json").read_text(encoding="utf-8"))
    wordrnn("baseline", "train", "train.txt", "--model", model.name, "-o", trigram.name, "--json", cwd=work)
    kn = json.loads(wordrnn("evaluate", "valid.txt", "-m", trigram.name, "--json", "-q", cwd=work))
    net = json.loads(wordrnn("evaluate", "valid.txt", "-m", model.name, "--network-only", "--json", "-q", cwd=work))
    ratio = net["ppl"] / kn["ppl"]
    return {"bench": "budget", "minutes": minutes, "wall_seconds": round(wall, 1),
            "within_budget_s": round(wall - 60 * minutes, 1), "litert_export": "litert" in manifest.get("files", {}),
            "recipe": next((line for line in lines if line.startswith("recipe for")), None),
            "plan": next((line for line in lines if line.startswith("plan:")), None),
            "network_ppl": round(net["ppl"], 2), "kn_ppl": round(kn["ppl"], 2), "ratio": round(ratio, 4),
            "valid_tokens": net.get("tokens"), "target_ratio": TARGET if minutes >= 5 else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[5.0, 1.0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--out", type=Path, help="keep the models here (default: a temporary directory, removed)")
    parser.add_argument("--smoke", action="store_true", help="a tiny text and model, seconds")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="wordrnn-bench-budget-"))
    work.mkdir(parents=True, exist_ok=True)
    extra: list[str] = []
    try:
        if args.smoke:
            text = "".join(f"the {w} sat on the mat .\nand then it ran .\n\n" for w in ("cat", "dog", "bird") * 40)
            (work / "smoke.txt").write_text(text, encoding="utf-8")
            args.corpus, args.minutes, extra = work / "smoke.txt", [0.25], ["--units", "16", "--embedding", "8"]
        elif not args.corpus.is_file():
            raise SystemExit(f"{args.corpus} not found (see ../shared/corpora/README.md)")
        split(args.corpus, work)
        for minutes in args.minutes:
            print(json.dumps(budget_row(work, minutes, extra)), flush=True)
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
