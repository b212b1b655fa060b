#!/usr/bin/env bash
# End-to-end check of `wordrnn repl` in a real terminal (tmux send-keys / capture-pane):
# the suggestion bar, Tab / F2 / Alt+3, Enter, :k, :generate, odd keys, resizes, Ctrl-C, Ctrl-D,
# and that nothing is written under $HOME without --cache/--history.
#
#   scripts/check_repl_tmux.sh [MODEL_DIR]
#
# Without MODEL_DIR a tiny model is trained (about 15 s) in a temporary directory. Bounded in
# time (every wait has a deadline; the whole run stops after $CHECK_TIMEOUT seconds, default 240)
# and self-cleaning: the tmux server runs on a private socket and is killed on exit, with the
# temporary files. Installs tmux with apt-get when it is missing and we are root. Exit 0 = passed.
set -euo pipefail
if [ -z "${_WORDRNN_CHECK_TIMED:-}" ]; then  # the whole run under one time limit (TERM runs the cleanup)
    _WORDRNN_CHECK_TIMED=1 exec timeout -k 30 "${CHECK_TIMEOUT:-240}" "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x "$ROOT/../venv/bin/python" ]; then PY="$ROOT/../venv/bin/python"; else PY=python3; fi
fi
LIMIT=${CHECK_TIMEOUT:-240}
SOCK="wordrnn-check-$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wordrnn-tmux.XXXXXX")
TMUX_CMD=(timeout 10 tmux -L "$SOCK" -f "$WORK/tmux.conf")  # no tmux call can hang the check

cleanup() {
    "${TMUX_CMD[@]}" kill-server >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "FAIL: interrupted or over ${LIMIT}s" >&2; exit 1' INT TERM

fail() {
    echo "FAIL: $*" >&2
    echo "---- screen ----" >&2
    "${TMUX_CMD[@]}" capture-pane -p -t repl >&2 2>/dev/null || true
    exit 1
}
ok() { echo "ok: $*"; }

if ! command -v tmux >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq >/dev/null && apt-get install -y -qq tmux >/dev/null
    else
        echo "tmux is not installed (apt-get install tmux)" >&2
        exit 2
    fi
fi

deadline=$((SECONDS + LIMIT))
screen() { "${TMUX_CMD[@]}" capture-pane -p -t repl; }

# wait_for TEXT [SECONDS]: until the screen shows TEXT (fixed string), or fail.
wait_for() {
    local until=$((SECONDS + ${2:-20}))
    while ! screen | grep -qF -- "$1"; do
        [ "$SECONDS" -lt "$until" ] && [ "$SECONDS" -lt "$deadline" ] || fail "the screen never showed '$1'"
        sleep 0.2
    done
}

# prompt_line: the last line that starts with the prompt (the line being typed; capture-pane
# drops trailing spaces, so "» the cat " reads "» the cat").
prompt_line() { screen | grep '^»' | tail -n 1; }

# wait_prompt TEXT: until the line being typed reads TEXT, or fail.
wait_prompt() {
    local until=$((SECONDS + 20))
    while [ "$(prompt_line)" != "$1" ]; do
        [ "$SECONDS" -lt "$until" ] && [ "$SECONDS" -lt "$deadline" ] || fail "the line never read '$1'"
        sleep 0.2
    done
}

keys() { "${TMUX_CMD[@]}" send-keys -t repl "$@"; }

export TF_CPP_MIN_LOG_LEVEL=2
MODEL=${1:-}
if [ -z "$MODEL" ]; then
    MODEL="$WORK/model"
    (cd "$ROOT" && nice -n 10 timeout 300 "$PY" - "$WORK/grammar.txt" <<'EOF'
import sys
sys.path.insert(0, "tests")
from conftest import make_text
open(sys.argv[1], "w", encoding="utf-8").write(make_text())
EOF
    ) || fail "could not write the training text"
    nice -n 10 timeout 300 "$PY" -m wordrnn train "$WORK/grammar.txt" -o "$MODEL" --units 16 --embedding 8 \
        --epochs 8 --batch-size 8 --window 10 --lr 0.02 --max-vocab 200 --early-stopping 0 --seed 1 --quiet \
        || fail "could not train the tiny model"
    ok "trained a tiny model in $MODEL"
fi

# suggest TEXT [K]: the words `wordrnn complete` suggests (what the bar must show on a fresh session).
suggest() {
    "$PY" -m wordrnn complete "$1" --model "$MODEL" -k "${2:-3}" --json 2>/dev/null \
        | "$PY" -c 'import json, sys; print(" ".join(s["word"] for s in json.load(sys.stdin)["suggestions"]))'
}
read -r C1 C2 C3 <<<"$(suggest "the c")"
read -r N1 N2 N3 <<<"$(suggest "the $C1 ")"
[ -n "$C1" ] && [ -n "$N2" ] || fail "no suggestions from wordrnn complete"

HOME_DIR="$WORK/home"
mkdir -p "$HOME_DIR"
echo "set -g remain-on-exit on" >"$WORK/tmux.conf"
# The exit status goes to a file: tmux's #{pane_dead_status} is sometimes still empty when the pane is dead.
"${TMUX_CMD[@]}" new-session -d -s repl -x 100 -y 20 \
    "env HOME='$HOME_DIR' XDG_CONFIG_HOME='$HOME_DIR/.config' XDG_DATA_HOME='$HOME_DIR/.local/share' \
     XDG_CACHE_HOME='$HOME_DIR/.cache' TERM=xterm-256color '$PY' -m wordrnn repl --model '$MODEL'; \
     echo \$? >'$WORK/exit-status'"
wait_for "Ctrl-D quits" 60
ok "the repl started"

keys -l "the c"
wait_for " 1  $C1 "
ok "typing 'the c' shows '$C1' first on the bar"

keys Tab
wait_prompt "» the $C1"
wait_for " 2  $N2 "
ok "Tab inserted '$C1'; the bar shows the next words"

keys F2
wait_prompt "» the $C1 $N2"
ok "F2 inserted the second suggestion '$N2'"

read -r _ _ T3 <<<"$(suggest "the $C1 $N2 ")"
# accepting punctuation writes it against the word before ("sees." not "sees ."): ask the repl's rule
after=$("$PY" -c 'import sys; from wordrnn.cli.prompt import insertion
before, word = sys.argv[1], sys.argv[2]; delete, text = insertion(before, "", word)
print((before[:len(before) - delete] + text).rstrip())' "the $C1 $N2 " "$T3")
keys M-3
wait_prompt "» $after"
ok "Alt+3 inserted the third suggestion '$T3'"

keys Enter
keys -l ":k 5"
keys Enter
wait_for "showing 5 suggestions"
wait_for " 5  "
ok ":k 5 shows five suggestions"

"${TMUX_CMD[@]}" resize-window -t repl -x 48 -y 9
sleep 0.5
wait_for " 1  "
"${TMUX_CMD[@]}" resize-window -t repl -x 120 -y 30
sleep 0.5
wait_for " 1  "
ok "survived resizes (48x9, 120x30) with the bar redrawn"

keys Escape
keys F12 C-z M-x Up Down PageUp C-Space Escape BSpace
keys -l $'\e[999~\e[1;5A\e[<0;3;4M'
sleep 1
keys C-c
sleep 0.5
wait_prompt "»"
ok "odd keys did no harm and Ctrl-C cleared the line"

keys -l ":generate 5"
keys Enter
wait_prompt "»"
generated=$(screen | grep -A1 -F "» :generate 5" | tail -n 1)
[ -n "$generated" ] && [ "${generated#»}" = "$generated" ] || fail ":generate printed nothing"
keys -l "the c"
wait_prompt "» the c"
ok ":generate printed '$generated' and typing goes on"

keys C-d
until [ -s "$WORK/exit-status" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "Ctrl-D did not end the repl"
    sleep 0.2
done
status=$(cat "$WORK/exit-status")
[ "$status" = 0 ] || fail "the repl exited with status $status"
screen | grep -q "Traceback" && fail "a traceback was printed"
ok "Ctrl-D quit with status 0, no traceback"

left=$(find "$HOME_DIR" -type f | sed "s|^$HOME_DIR/||")
[ -z "$left" ] || fail "files were written under HOME without --cache/--history: $left"
ok "nothing was written under HOME"
echo "passed"
