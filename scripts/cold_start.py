"""The cold-start rows of ``bench_latency.py``: whole processes, started one after another.

- ``startup``: ``wordrnn --help`` and ``wordrnn complete --help``.
- ``floor``: a process that only imports what ``complete`` cannot do without (Python, NumPy,
  Typer/Rich and the LiteRT interpreter): how close the cold start is to the imports' own cost.
- ``cold_complete``: ``wordrnn complete "the next" --model DIR`` (LiteRT export, no TensorFlow)
  against a plain-Keras process that loads a ``.keras`` file of the same network and calls
  ``model.predict`` on the context; runs alternate so machine load hits both alike. Most of the
  reference's time is TensorFlow's import, which the ratio therefore mostly measures.
- ``cold_profile``: where a cold ``complete``'s time goes: a fresh process does what the command
  does, phase by phase, timing each (the least of ``runs`` processes, phase by phase); what the
  phases leave of the whole process's time is Python's own start and exit and Typer's parsing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDRNN = Path(sys.executable).parent / "wordrnn"
# Timed commands run as an installed wordrnn does: with Python's compiled bytecode (an environment
# that forbids writing it would recompile every module of wordrnn at each start).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "TF_CPP_MIN_LOG_LEVEL": "2"}
CONTEXT = "the next"
FLOOR = "import numpy, typer, rich.console, rich.table; from ai_edge_litert.interpreter import Interpreter"

# The plain-Keras reference process: load the .keras file, look the context up, model.predict once.
REFERENCE = """
import json, sys
import numpy as np
import keras
model = keras.models.load_model(sys.argv[1], compile=False)
words = json.load(open(sys.argv[2], encoding="utf-8"))["words"]
ids = {w: i for i, w in enumerate(words)}
context = [0] + [ids.get(w, 1) for w in sys.argv[3].split()]
states = [np.zeros((1, int(s.shape[-1])), np.float32) for s in model.inputs[1:]]
logits = model.predict([np.array([context], np.int32), *states], verbose=0)[0][0, -1]
print(json.dumps([words[i] for i in np.argsort(-logits)[:3]]))
"""

# The reference model: the same layers and state inputs built from stock Keras layers only (so it
# saves as a .keras file); tied output weights become a projection and a Dense of the same cost.
PLAIN_KERAS = """
import sys
import keras
from wordrnn.store.saved import SavedModel
config = SavedModel.load(sys.argv[1]).model_config
tokens = keras.Input((None,), dtype="int32")
hidden = keras.layers.Embedding(config.vocab_size, config.embedding)(tokens)
cell = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}.get(config.cell, keras.layers.SimpleRNN)
states_in, states_out = [], []
for _ in range(config.layers):
    states = [keras.Input((config.units,)) for _ in range(2 if config.cell == "lstm" else 1)]
    hidden, *new = cell(config.units, return_sequences=True, return_state=True)(hidden, initial_state=states)
    states_in += states
    states_out += new
if config.tied and config.units != config.embedding:
    hidden = keras.layers.Dense(config.embedding)(hidden)
logits = keras.layers.Dense(config.vocab_size)(hidden)
keras.Model([tokens, *states_in], [logits, *states_out]).save(sys.argv[2])
"""

# ``wordrnn complete CONTEXT --model DIR`` phase by phase, as ``wordrnn.predict.predictor.load`` and
# the command do it, in a fresh process; prints {phase: milliseconds} as JSON.
PHASES = """
import gc, io, json, sys, time
gc.disable()  # as the console script does for a one-shot complete
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
import numpy, typer, rich.console, rich.table
from ai_edge_litert.interpreter import Interpreter
mark("floor imports (NumPy, Typer/Rich, LiteRT)")
import wordrnn.cli.main, wordrnn.cli.predict, wordrnn.predict.predictor
mark("wordrnn's modules")
from wordrnn.store.saved import SavedModel
saved = SavedModel.load(sys.argv[1])
saved.word_vocab("complete")
mark("manifest and vocabulary (checked)")
from wordrnn.runtime import litert
step = litert.LiteRTStep(saved)
mark("LiteRT export (read, checked, interpreter allocated)")
from wordrnn.runtime.mixture import wrap
runner = wrap(step, saved)
mark("trigram and mixture (read, checked)")
from wordrnn.predict.predictor import Predictor
completion = Predictor(saved, runner).complete(sys.argv[2], 3)
mark("complete (prime, mix, rank)")
from wordrnn.cli.app import out
from wordrnn.cli.predict import suggestion_table
out.file = io.StringIO()
out.print(suggestion_table(completion))
mark("table drawn")
print(json.dumps({name: 1e3 * (t - marks[i][1]) for i, (name, t) in enumerate(marks[1:])}))
"""


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - started
    if result.returncode != 0 or "TensorFlow instead" in result.stderr:
        raise SystemExit(f"{' '.join(command)} failed or fell back to TensorFlow:\n{result.stderr}")
    return seconds


def summary(times: list[float]) -> dict:
    return {"runs": len(times), "min_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}


def cold_rows(model_dir: Path, keras_path: Path, vocab_path: Path, runs: int) -> None:
    """Start-up of ``--help``, the import floor, and a cold ``complete`` against the Keras process."""
    targets = {"--help": 0.15, "complete --help": None}
    for command in (["--help"], ["complete", "--help"]):
        wall([str(WORDRNN), *command])  # untimed
        times = [wall([str(WORDRNN), *command]) for _ in range(runs)]
        emit({"bench": "startup", "command": " ".join(["wordrnn", *command]), **summary(times),
              "target_s": targets[" ".join(command)]})
    fast_cmd = [str(WORDRNN), "complete", CONTEXT, "--model", str(model_dir)]
    reference_cmd = [sys.executable, "-c", REFERENCE, str(keras_path), str(vocab_path), CONTEXT]
    fast, reference, floor = [], [], []
    for command in (fast_cmd, reference_cmd):  # untimed: bytecode written, files in the page cache
        wall(command)
    for _ in range(runs):
        floor.append(wall([sys.executable, "-c", FLOOR]))
        fast.append(wall(fast_cmd))
        reference.append(wall(reference_cmd))
    emit({"bench": "floor", "imports": "python + numpy + typer/rich + LiteRT interpreter", **summary(floor)})
    emit({"bench": "cold_complete", "method": "wordrnn complete (LiteRT)", **summary(fast),
          "above_floor_s": round(min(fast) - min(floor), 3)})
    emit({"bench": "cold_complete", "method": "keras load + model.predict", **summary(reference)})
    ratio = min(reference) / min(fast)
    emit({"bench": "cold_complete_summary", "speedup_min": round(ratio, 2),
          "speedup_median": round(statistics.median(reference) / statistics.median(fast), 2),
          "note": "the reference's time is mostly TensorFlow's import",
          "target": "min <= 0.2 s and >= 15x", "pass": min(fast) <= 0.2 and ratio >= 15})
    cold_profile(model_dir, runs, min(fast))


def cold_profile(model_dir: Path, runs: int, whole_s: float) -> None:
    """The ``cold_profile`` row: each phase's least time over ``runs`` fresh processes (ms), and what
    they leave of the least whole ``complete`` process (``whole_s``): start-up, Typer, exit."""
    phases: dict[str, list[float]] = {}
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", PHASES, str(model_dir), CONTEXT], capture_output=True,
                              text=True, env=ENV, cwd=tempfile.gettempdir(), check=True)
        for name, ms in json.loads(done.stdout.splitlines()[-1]).items():
            phases.setdefault(name, []).append(ms)
    least = {name: round(min(times), 1) for name, times in phases.items()}
    emit({"bench": "cold_profile", "runs": runs, "phases_ms": least,
          "after_floor_ms": round(sum(ms for name, ms in least.items() if not name.startswith("floor")), 1),
          "rest_of_process_ms": round(1e3 * whole_s - sum(least.values()), 1)})
