"""Kill tests: real ``wordrnn train`` processes are SIGKILLed at random moments, then loaded and resumed.

Training here is deterministic (fixed seed), so a run that is killed and resumed must end with
exactly the weights, history and step count of a run that was never interrupted: that proves the
checkpoint restored the step count, the optimizer state (Adam's moments and iteration count), the
stream position, the recurrent state and dropout's random streams, not just "something that loads".

While a run trains, a second ``wordrnn train`` into its directory must fail naming its PID; after
the kill its stale lock must be taken over by ``--resume``. The default run does a few trials; ``-m slow`` (or ``WORDRNN_KILL_TRIALS=N``) does at least ten.
``WORDRNN_KILL_SEED`` replays a failing run's kill moments.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import make_text
from wordrnn.store import checkpoint as ckpt
from wordrnn.cli.main import app
from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.store.saved import SavedModel

runner = CliRunner()
# Tiny and deterministic; no validation split, so the learning-rate schedule follows the training
# loss of each epoch, which a resumed epoch must therefore report exactly as an uninterrupted one.
ARGS = ["--units", "8", "--embedding", "4", "--batch-size", "4", "--window", "5", "--epochs", "2", "--seed", "1",
        "--dropout", "0.2", "--valid-fraction", "0", "--max-vocab", "200", "--checkpoint-every", "3", "-q", "--no-export"]
TIMEOUT = 180


def _history(directory: Path, manifest: str = ckpt.CHECKPOINT_MANIFEST) -> list[dict]:
    saved = SavedModel.load(directory, manifest)
    return [{k: v for k, v in record.items() if k != "seconds"} for record in saved.history]


def _final(directory: Path) -> dict:
    saved = SavedModel.load(directory, ckpt.CHECKPOINT_MANIFEST)
    return {"position": saved.manifest["position"], "weights": saved.weights, "history": _history(directory)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kill") / "corpus.txt"
    path.write_text(make_text(300, seed=3), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> dict:
    """The same training, never interrupted."""
    out = tmp_path_factory.mktemp("kill") / "reference"
    result = runner.invoke(app, ["train", str(corpus), "-o", str(out), *ARGS])
    assert result.exit_code == 0, result.output
    return _final(out)


def _start(corpus: Path, out: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log, "wb") as handle:
        return subprocess.Popen([sys.executable, "-m", "wordrnn", "train", str(corpus), "-o", str(out), *ARGS],
                                stdout=handle, stderr=subprocess.STDOUT, env=env)


def _checkpoint_step(out: Path) -> int:
    try:
        return json.loads((out / ckpt.CHECKPOINT_MANIFEST).read_text())["position"]["step"]
    except (OSError, ValueError, KeyError):
        return -1


def _check_predicts(directory: Path) -> None:
    from wordrnn.runtime.keras import KerasStep

    saved = SavedModel.load(directory)
    runner_ = KerasStep(saved)
    probs, state = runner_.step(np.array([0]), runner_.zero_state(1))
    assert probs.shape == (1, len(saved.vocab)) and np.all(np.isfinite(probs))
    assert abs(float(probs.sum()) - 1.0) < 1e-4
    assert all(np.all(np.isfinite(s)) for s in state)


def _check_refused_while_running(corpus: Path, out: Path, pid: int) -> None:
    """A second training into a directory being trained fails at once, naming the running process."""
    for extra in ([], ["--force"], ["--resume"]):
        result = runner.invoke(app, ["train", str(corpus), "-o", str(out), *ARGS, *extra])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("error:"), result.output
        assert f"process {pid} is already training" in lines[0], lines[0]


def _trial(corpus: Path, out: Path, reference: dict, rng: random.Random, early: bool) -> str:
    """One kill and recovery; returns a short description for the failure message."""
    total = reference["position"]["step"]
    proc = _start(corpus, out, out.parent / f"{out.name}.log")
    deadline = time.monotonic() + TIMEOUT
    try:
        if early:  # anywhere in start-up: importing TensorFlow, reading the corpus, the first steps
            time.sleep(rng.uniform(0.0, 4.0))
            target = None
        else:
            target = rng.randint(1, total - 1)
            while _checkpoint_step(out) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            if proc.poll() is None:
                # Freeze it (it keeps its lock) so it cannot finish and unlock while we check.
                proc.send_signal(signal.SIGSTOP)
                try:
                    if ckpt.lock_owner(out) == proc.pid:  # not if it had just finished and unlocked
                        _check_refused_while_running(corpus, out, proc.pid)
                finally:
                    proc.send_signal(signal.SIGCONT)
            time.sleep(rng.uniform(0.0, 0.1))  # lands between saves or in the middle of one
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    where = f"early={early} target={target} killed after checkpoint step {_checkpoint_step(out)} finished={finished}"
    assert time.monotonic() < deadline, f"training made no progress within {TIMEOUT}s: {where}"

    if not (out / ckpt.CHECKPOINT_MANIFEST).is_file():
        # killed before the first save: nothing to load or resume, but the directory is reusable
        assert not (out / ckpt.MODEL_MANIFEST).is_file(), where
        refused = runner.invoke(app, ["train", str(corpus), "-o", str(out), *ARGS, "--resume"])
        assert refused.exit_code != 0 and "nothing to resume" in refused.stderr, refused.output
        ckpt.prepare_output(out, force=False, resume=False)  # a fresh `wordrnn train -o out` may start
        return where + " (before the first checkpoint)"
    if (out / ckpt.LOCK_FILE).exists():  # kill -9 left the lock file behind, but nobody holds it: --resume takes it over
        assert (out / ckpt.LOCK_FILE).read_text().strip() == str(proc.pid) and ckpt.lock_owner(out) is None, where
    else:  # only a run that finished training releases its lock; it may be killed while exiting
        assert _checkpoint_step(out) == total, f"lock file gone before training finished: {where}"

    # the killed directory loads and predicts, and its checkpoint is self-consistent
    _check_predicts(out)
    info = runner.invoke(app, ["info", str(out), "--json"])
    assert info.exit_code == 0, info.output
    saved = SavedModel.load(out, ckpt.CHECKPOINT_MANIFEST)
    position = saved.manifest["position"]
    state = ckpt.read_arrays(out, saved.manifest, "state")
    assert int(state["opt_0000"]) == position["step"], f"Adam iterations != step count: {where}"

    resumed = runner.invoke(app, ["train", str(corpus), "-o", str(out), *ARGS, "--resume"])
    assert resumed.exit_code == 0, f"{where}\n{resumed.output}"
    final = _final(out)
    assert final["position"]["step"] == total, where
    assert final["history"] == reference["history"], where
    for name, value in reference["weights"].items():
        np.testing.assert_allclose(final["weights"][name], value, rtol=1e-5, atol=1e-6, err_msg=f"{name}: {where}")
    SavedModel.load(out).weights  # the usable model verifies too
    named = {ckpt.MODEL_MANIFEST, ckpt.CHECKPOINT_MANIFEST}
    for manifest in named.copy():
        named.update(SavedModel.load(out, manifest).manifest["files"].values())
    leftovers = {p.name for p in out.iterdir()} - named
    assert not leftovers, f"files left behind after resume (lock, parts of killed saves): {sorted(leftovers)}"
    return where + f" resumed from step {position['step']}"


def _run_trials(count: int, corpus: Path, reference: dict, tmp_path: Path) -> None:
    seed = int(os.environ.get("WORDRNN_KILL_SEED", time.time_ns() % 2**31))
    rng = random.Random(seed)
    done = []
    for trial in range(count):
        try:
            done.append(_trial(corpus, tmp_path / f"trial{trial}", reference, rng, early=trial % 3 == 2))
        except AssertionError as exc:
            raise AssertionError(f"kill trial {trial} failed (replay with WORDRNN_KILL_SEED={seed}): {exc}") from exc
    print("\n".join(done))


def test_killed_training_loads_and_resumes_exactly(corpus, reference, tmp_path):
    _run_trials(int(os.environ.get("WORDRNN_KILL_TRIALS", 3)), corpus, reference, tmp_path)


@pytest.mark.slow
def test_ten_kill_trials(corpus, reference, tmp_path):
    """Ten kills mid-training, each loaded and resumed (plus kills during start-up in between)."""
    _run_trials(max(15, int(os.environ.get("WORDRNN_KILL_TRIALS", 15))), corpus, reference, tmp_path)


def test_killed_before_any_save_leaves_a_reusable_directory(corpus, tmp_path):
    """A run killed during start-up leaves its lock (and maybe half-written files), never a blocked directory."""
    out = tmp_path / "m"
    out.mkdir()
    (out / ckpt.LOCK_FILE).write_text("999999\n")  # written by a process that no longer exists
    (out / "weights-000001.npz").write_bytes(b"PK\x03\x04 half")
    (out / ".weights-000001.npz.tmp-999999").write_bytes(b"x")
    ckpt.prepare_output(out, force=False, resume=False)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="not empty"):
        ckpt.prepare_output(out, force=False, resume=False)


_RACER = """
import sys, time
from wordrnn.store.checkpoint import TrainingLock
from wordrnn.errors import LockedError
print("ready", flush=True)
start = float(sys.stdin.readline())
while time.time() < start:
    pass
try:
    with TrainingLock(sys.argv[1]):
        print("won", flush=True)
        sys.stdin.read()  # hold the lock until every racer has tried
except LockedError as exc:
    print("lost", exc, flush=True)
"""


@pytest.mark.parametrize("stale", [False, True])
def test_processes_racing_for_the_lock_never_both_win(tmp_path, stale):
    """Several processes trying in the same instant (on a fresh or a stale lock): exactly one trains."""
    for round_ in range(3):
        directory = tmp_path / f"r{round_}"
        directory.mkdir()
        if stale:
            (directory / ckpt.LOCK_FILE).write_text("999999\n")
        procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(directory)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for _ in range(5)]
        try:
            assert all(p.stdout.readline().strip() == "ready" for p in procs)
            start = time.time() + 0.2
            for p in procs:
                p.stdin.write(f"{start}\n")
                p.stdin.flush()
            outputs = [p.stdout.readline().strip() for p in procs]
        finally:
            for p in procs:
                p.stdin.close()
                p.wait(timeout=60)
        assert sum(o == "won" for o in outputs) == 1, outputs
        assert all(o == "won" or "already training" in o for o in outputs), outputs


def test_time_based_checkpoints():
    """--checkpoint-minutes: a resumable checkpoint once enough time passed, whatever the step count."""
    from wordrnn.train.batching import StreamBatches
    from wordrnn.train.engine import Engine
    from wordrnn.nn.model import build_model, loss_function, state_sizes

    config = ModelConfig(vocab_size=20, units=8, embedding=4)

    def saves(**train) -> list[tuple[str, int]]:
        cfg = TrainConfig(epochs=1, batch_size=2, window=5, early_stopping=0, lr_patience=0, **train)
        engine = Engine(build_model(config), loss_function(config), cfg, state_sizes(config))
        calls: list[tuple[str, int]] = []
        engine.fit(StreamBatches(np.arange(61) % 20, 2, 5), save=lambda kind, snap: calls.append((kind, snap.position["step"])))
        return calls

    windows = StreamBatches(np.arange(61) % 20, 2, 5).num_windows
    assert saves() == [("best", windows), ("last", windows)]  # epoch end only
    every_step = saves(checkpoint_minutes=1e-9)
    assert [s for k, s in every_step if k == "last"] == [*range(1, windows + 1), windows]
    assert saves(checkpoint_minutes=60) == [("best", windows), ("last", windows)]
    with pytest.raises(Exception, match="^checkpoint_minutes must be 0 or more"):
        TrainConfig(checkpoint_minutes=-1)


# --- the REPL on a real terminal -----------------------------------------------------------------

def _on_terminal(argv: list[str], steps: list, env: dict[str, str], timeout: float = 150) -> tuple[int | None, str]:
    """Run ``argv`` on a pseudo-terminal; each step is keys to type or a (rows, columns) resize."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvpe(argv[0], argv, env)
    screen, deadline, status = b"", time.monotonic() + timeout, None

    def resize(rows: int, columns: int) -> None:  # the kernel sends SIGWINCH to the foreground job
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def pump(seconds: float) -> None:
        nonlocal screen
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not select.select([fd], [], [], max(end - time.monotonic(), 0))[0]:
                return
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            screen += chunk
            if b"\x1b[6n" in chunk:  # answer the cursor position request as a terminal would
                os.write(fd, b"\x1b[1;1R")

    try:
        resize(24, 80)
        while time.monotonic() < deadline and b"Ctrl-D quits" not in screen:
            pump(0.5)
        for step in steps:
            resize(*step) if isinstance(step, tuple) else os.write(fd, step.encode())
            pump(0.5)
        while time.monotonic() < deadline and status is None:
            pump(0.5)
            done, raw = os.waitpid(pid, os.WNOHANG)
            status = os.waitstatus_to_exitcode(raw) if done else None
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return status, screen.decode("utf-8", "replace")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminal test written for Linux")
def test_repl_survives_resizes_odd_keys_ctrl_c_and_ctrl_d_on_a_real_terminal(tiny_model, tmp_path):
    """Window resizes mid-line (down to 2x5), escape sequences, Ctrl-C while `:generate` runs
    (a real SIGINT: the terminal is in cooked mode then) and at the prompt; Ctrl-D ends it with 0."""
    env = {**os.environ, "HOME": str(tmp_path), "TERM": "xterm-256color", "TF_CPP_MIN_LOG_LEVEL": "2"}
    steps = ["the c", (10, 40), "\x1b[1;5A\x1b[999~\x1bOZ", (2, 5), "at ", (50, 200), "\t", "\r",
             ":generate 1000\r", "\x03", "\x03", (24, 80), ":k 4\r", "\x04"]
    code, screen = _on_terminal([sys.executable, "-m", "wordrnn", "repl", "--model", str(tiny_model),
                                 "--runtime", "keras"], steps, env)
    assert code == 0, screen[-2000:]
    assert "Traceback" not in screen and "internal error" not in screen
    # still answering after Ctrl-C (which interrupts the generation unless it had already finished)
    assert "showing 4 suggestions" in screen.split(":generate 1000")[-1], screen[-2000:]


def test_resuming_a_finished_run_removes_what_a_killed_save_left(tmp_path, text_file):
    """A kill inside the last save leaves files no manifest names; --resume with nothing left to
    train saves nothing, so it must clean them up itself (found by the kill trials above)."""
    from conftest import train_tiny

    out = tmp_path / "m"
    train_tiny(text_file, out, epochs=1, checkpoint_every=5)
    orphan = out / "history-999999.json"
    orphan.write_text("[]", encoding="utf-8")
    resumed = runner.invoke(app, ["train", str(text_file), "-o", str(out), "--resume", "-q", "--no-export"])
    assert resumed.exit_code == 0, resumed.output
    assert not orphan.exists()
