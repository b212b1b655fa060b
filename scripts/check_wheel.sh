#!/usr/bin/env bash
# Issue 10's fresh-machine check: build a wheel, install it into a new virtual environment and run
# `wordrnn complete "the next"` from an empty directory with no --model. Bounded; cleans up.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip wheel "$root" --no-deps -q -w "$work/dist"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$work"/dist/wordrnn-*.whl
mkdir "$work/empty" && cd "$work/empty"
start=$(date +%s.%N)
out="$(env -u WORDRNN_MODEL timeout 120 "$work/venv/bin/wordrnn" complete "the next" --json)"
end=$(date +%s.%N)
echo "$out"
python3 - "$out" "$start" "$end" <<'PY'
import json, sys
result = json.loads(sys.argv[1])
words = [s["word"] for s in result["suggestions"]]
assert len(words) == 3 and all(w.isalpha() for w in words), words
print(json.dumps({"bench": "fresh_install", "ok": True, "words": words,
                  "complete_seconds": round(float(sys.argv[3]) - float(sys.argv[2]), 3)}))
PY
