"""The training lock (``wordrnn/store/lock.py``) against files planted in a model directory."""

from __future__ import annotations

import os
import signal

import pytest

from wordrnn.errors import WordRNNError
from wordrnn.store.lock import LOCK_FILE, TrainingLock, lock_owner


@pytest.fixture()
def alarm():
    """Fail a test that hangs (e.g. opening a FIFO for reading) instead of hanging the suite."""

    def expired(*_: object) -> None:
        raise TimeoutError("the lock blocked")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_planted_symlink_is_never_followed(tmp_path):
    """Issue 18 item 2: ``ln -s ~/notes.txt X/train.lock`` made training write its PID into notes.txt."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    model = tmp_path / "model"
    model.mkdir()
    (model / LOCK_FILE).symlink_to(notes)
    with pytest.raises(WordRNNError, match="not a regular file"):
        TrainingLock(model).__enter__()
    assert notes.read_text() == "my notes\n"
    assert lock_owner(model) is None
    assert (model / LOCK_FILE).is_symlink()  # left for the user to look at, target untouched


def test_a_dangling_symlink_creates_nothing(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / LOCK_FILE).symlink_to(tmp_path / "created-elsewhere")
    with pytest.raises(WordRNNError, match="not a regular file"):
        TrainingLock(model).__enter__()
    assert not (tmp_path / "created-elsewhere").exists()


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_other_non_regular_files_are_refused(tmp_path, kind, alarm):
    model = tmp_path / "model"
    model.mkdir()
    os.mkfifo(model / LOCK_FILE) if kind == "fifo" else (model / LOCK_FILE).mkdir()
    assert lock_owner(model) is None  # does not block on a FIFO
    with pytest.raises(WordRNNError, match="not a regular file"):
        TrainingLock(model).__enter__()


def test_a_regular_lock_still_works(tmp_path):
    with TrainingLock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
    assert not (tmp_path / LOCK_FILE).exists()
