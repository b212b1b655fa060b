"""``wordrnn/nn/tfimport.py`` (and the plots' matplotlib import): no files in the user's home.

Issue 18 item 19: importing Keras wrote ``~/.keras/keras.json`` and matplotlib ``~/.config/matplotlib``
and ``~/.cache/matplotlib``, unasked. They go to a private temporary directory unless the user set
``KERAS_HOME`` / ``MPLCONFIGDIR``, which are respected.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WORDRNN = [sys.executable, "-c", "from wordrnn.cli.main import main; main()"]


def clean_env(tmp_path: Path, **extra: str) -> tuple[dict[str, str], Path]:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "WORDRNN_")) and k not in ("KERAS_HOME", "MPLCONFIGDIR")}
    return {**env, "HOME": str(home), "TMPDIR": str(tmp), "TF_CPP_MIN_LOG_LEVEL": "2", **extra}, home


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def sine_with_plot(tmp_path: Path, env: dict[str, str]) -> None:
    plot = tmp_path / "sine.png"
    done = subprocess.run([*WORDRNN, "sine", "--epochs", "2", "--points", "8", "--generate", "2", "--plot", str(plot),
                           "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert plot.stat().st_size > 0


def test_tensorflow_and_matplotlib_write_nothing_in_home(tmp_path):
    env, home = clean_env(tmp_path)
    sine_with_plot(tmp_path, env)
    assert files_under(home) == []
    assert files_under(tmp_path / "tmp") == []  # the private directory is removed at exit


def test_keras_home_and_mplconfigdir_set_by_the_user_are_respected(tmp_path):
    keras_home, mpl = tmp_path / "keras-home", tmp_path / "mpl"
    env, home = clean_env(tmp_path, KERAS_HOME=str(keras_home), MPLCONFIGDIR=str(mpl))
    mpl.mkdir()
    sine_with_plot(tmp_path, env)
    assert files_under(home) == []
    assert (keras_home / "keras.json").is_file()
    assert files_under(mpl) != []


def test_tensorflow_leaves_no_generated_files_and_removes_those_of_killed_runs(tmp_path):
    env, _ = clean_env(tmp_path)
    tmp = Path(env["TMPDIR"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs: the "kill -9"-ed command whose directory was left behind
    orphan = tmp / f"wordrnn-{dead.pid}-left"
    orphan.mkdir()
    (orphan / "__autograph_generated_filexyz.py").write_text("x = 1\n")
    alive = tmp / f"wordrnn-{os.getpid()}-running"  # a command still running keeps its directory
    alive.mkdir()
    stranger = tmp / "wordrnn-notes"  # not a private directory's name: never touched
    stranger.mkdir()
    sine_with_plot(tmp_path, env)  # traces functions: autograph generates files while it runs
    assert not orphan.exists() and alive.is_dir() and stranger.is_dir()
    assert sorted(p.name for p in tmp.iterdir()) == sorted([alive.name, stranger.name])


QUIET = """
import os, sys
from wordrnn.nn.tfimport import quiet_stderr
with quiet_stderr():
    os.write(2, b"native chatter\\n")
print("after", flush=True)
try:
    with quiet_stderr():
        os.write(2, b"native failure detail\\n")
        raise RuntimeError("boom")
except RuntimeError:
    pass
os.write(2, b"stderr works again\\n")
"""


def test_quiet_stderr_hides_native_output_and_replays_it_when_the_block_fails(tmp_path):
    env, _ = clean_env(tmp_path)
    done = subprocess.run([sys.executable, "-c", QUIET], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "after\n"
    assert done.stderr == "native failure detail\nstderr works again\n"
    assert files_under(tmp_path / "tmp") == []  # the capture left no file behind


def test_quiet_stderr_falls_back_to_a_temporary_file_when_memfd_is_refused(monkeypatch, capfd):
    import errno

    from wordrnn.nn import tfimport

    def refused(*args):  # noqa: ANN002
        raise OSError(errno.ENOSYS, "memfd_create")

    monkeypatch.setattr(os, "memfd_create", refused, raising=False)
    with tfimport.quiet_stderr():
        os.write(2, b"hidden\n")
    assert "hidden" not in capfd.readouterr().err
