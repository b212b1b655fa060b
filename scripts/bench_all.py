"""Every benchmark in one run: the README's Benchmarks table is filled from this script's output.

Runs the benchmark scripts of ``scripts/`` one after another with their documented defaults (never
two at once: they would share the cores and each other's figures), and writes one JSON-lines file:
for each script a ``{"bench_all": "start", ...}`` line (its command and the load average), then
every line the script printed, tagged with ``"script"``, then a ``{"bench_all": "end", ...}`` line
(exit code, wall seconds, load average). A script that fails is recorded and the run goes on.

The out-of-domain bench needs the default model's training text and its trigram: give the
directory ``build_default_corpus.py`` wrote with ``--default-corpus`` (the trigram is built there
on first use); without it that bench is skipped, and says so.

``--args NAME="ARGS"`` adds arguments to one script's command (repeatable), e.g. to measure the
in-domain quality on a network trained earlier instead of training one for 72 minutes:
``--args bench_quality="--out runs/brown-quality --reuse --continue 20:0.999"``; the start line
records the whole command.

Usage:
  python scripts/bench_all.py --out runs/all.jsonl [--only bench_latency,bench_serve] [--skip bench_quality]
  python scripts/bench_all.py --smoke --out /tmp/all.jsonl   # every script's --smoke mode (a test of this one)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent
WORDRNN = Path(sys.executable).parent / "wordrnn"

# In the order the README's table lists them; the long ones last.
BENCHES = ("bench_latency", "bench_keystroke", "bench_serve", "bench_sine", "bench_saves", "bench_mixture",
           "bench_ood", "bench_train", "bench_state", "check_wheel", "bench_budget", "bench_time_to_quality", "bench_scale",
           "bench_quality")


def command_for(name: str, smoke: bool, corpus: Path | None) -> list[str] | str:
    """The command line of one bench (a string: the reason it cannot run here)."""
    if name == "check_wheel":
        return "check_wheel.sh has no smoke mode (it builds and installs a wheel)" if smoke else \
            ["bash", str(SCRIPTS / "check_wheel.sh")]
    command = [sys.executable, str(SCRIPTS / f"{name}.py")]
    if smoke:
        return [*command, "--smoke"]
    if name == "bench_ood":
        if corpus is None or not (corpus / "train.txt").is_file():
            return "needs --default-corpus (the directory build_default_corpus.py writes)"
        return [*command, "--model", str(ROOT / "data" / "default"), "--trigram", str(trigram(corpus)),
                "--heldout", str(corpus)]
    return command


def script_args(values: list[str]) -> dict[str, list[str]]:
    """``--args NAME=ARGS`` values as {bench: extra arguments}; an unknown bench or a value without ``=`` is refused."""
    extra: dict[str, list[str]] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or name not in BENCHES:
            raise SystemExit(f"--args expects NAME=ARGS with NAME one of {', '.join(BENCHES)}; got {value!r}")
        extra.setdefault(name, []).extend(shlex.split(rest))
    return extra


def trigram(corpus: Path) -> Path:
    """The KN trigram of the default model's training text and vocabulary (built once, in ``corpus``)."""
    out = corpus / "trigram"
    if not (out / "wordrnn.json").is_file():
        subprocess.run([str(WORDRNN), "baseline", "train", str(corpus / "train.txt"), "--model",
                        str(ROOT / "data" / "default"), "-o", str(out), "--pretokenized"], check=True,
                       stdout=subprocess.DEVNULL)
    return out


def run(name: str, command: list[str], out) -> None:  # noqa: ANN001 - a text file
    """Run one bench, copying its JSON lines (tagged) to ``out`` as they come."""
    started = time.perf_counter()
    emit(out, {"bench_all": "start", "script": name, "command": command[1:], "load_average": os.getloadavg()[0],
               "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    for line in process.stdout:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a script's plain-text chatter
        emit(out, {"script": name, **record} if isinstance(record, dict) else {"script": name, "value": record})
    code = process.wait()
    emit(out, {"bench_all": "end", "script": name, "exit": code, "seconds": round(time.perf_counter() - started, 1),
               "load_average": os.getloadavg()[0]})


def emit(out, record: dict) -> None:  # noqa: ANN001
    line = json.dumps(record)
    out.write(line + "\n")
    out.flush()
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="JSON-lines file to write (replaced)")
    parser.add_argument("--only", default="", help="comma-separated benches to run (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated benches to leave out")
    parser.add_argument("--default-corpus", type=Path, help="build_default_corpus.py's output (for bench_ood)")
    parser.add_argument("--args", action="append", default=[], metavar='NAME="ARGS"',
                        help="more arguments for one script (repeatable)")
    parser.add_argument("--smoke", action="store_true", help="each script's --smoke mode")
    args = parser.parse_args()
    extra = script_args(args.args)
    only = {n for n in args.only.split(",") if n}
    skip = {n for n in args.skip.split(",") if n}
    unknown = (only | skip) - set(BENCHES)
    if unknown:
        raise SystemExit(f"unknown bench {sorted(unknown)[0]!r}; choose from {', '.join(BENCHES)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for name in BENCHES:
            if (only and name not in only) or name in skip:
                continue
            command = command_for(name, args.smoke, args.default_corpus)
            if isinstance(command, str):
                emit(out, {"bench_all": "skipped", "script": name, "reason": command})
                continue
            run(name, [*command, *extra.get(name, [])], out)


if __name__ == "__main__":
    main()
