"""Resource limits: a model that cannot fit in memory is refused before training, and a full disk
or a permission error while saving ends with one clear line and the previous model intact.

The full disk is real where the test may mount a tiny tmpfs (root), and simulated otherwise
(``fsync`` failing with ENOSPC, as delayed-allocation file systems report it).
"""

from __future__ import annotations

import builtins
import errno
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error, make_text
from wordrnn.store import checkpoint as ckpt
from wordrnn.train import resources
from wordrnn.cli.main import app
from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.errors import ResourceError
from wordrnn.store.saved import SavedModel

runner = CliRunner()
TINY = ["--units", "8", "--embedding", "4", "--batch-size", "4", "--window", "5", "-q", "--seed", "1",
        "--no-export", "--max-vocab", "200", "--dropout", "0"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("res") / "corpus.txt"
    path.write_text(make_text(200, seed=5), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> Path:
    """A one-epoch model with a resumable checkpoint (the 'previous model' every save must keep)."""
    out = tmp_path_factory.mktemp("res") / "model"
    result = runner.invoke(app, ["train", str(corpus), "-o", str(out), *TINY, "--epochs", "1"])
    assert result.exit_code == 0, result.output
    return out


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def assert_intact(directory: Path, before: dict[str, bytes]) -> None:
    """Exactly the previous files, byte for byte (no lock, no temporary or half-saved files), and usable."""
    assert snapshot(directory) == before
    saved = SavedModel.load(directory)
    assert saved.weights and SavedModel.load(directory, ckpt.CHECKPOINT_MANIFEST).weights


def resume(corpus: Path, directory: Path):
    return runner.invoke(app, ["train", str(corpus), "-o", str(directory), *TINY, "--epochs", "3", "--resume"])


# --- memory -------------------------------------------------------------------------------------

def test_an_absurd_model_is_refused_before_training(corpus, tmp_path):
    """16 layers of 8192 units pass every config limit but need far more memory than any test machine has."""
    out = tmp_path / "huge"
    result = runner.invoke(app, ["train", str(corpus), "-o", str(out), *TINY, "--units", "8192", "--layers", "16",
                                 "--embedding", "8192"])
    assert_clean_error(result, "training needs about", "GiB of memory", "lower --max-vocab, --units")
    assert not out.exists()


def test_memory_check_uses_the_estimate_and_what_is_available(monkeypatch, corpus, tmp_path):
    small = ModelConfig(vocab_size=100, units=16, embedding=8)
    train = TrainConfig(batch_size=4, window=5)
    big_vocab = ModelConfig(vocab_size=5_000_000, units=16, embedding=8)
    assert resources.estimate_memory(big_vocab, train) > 100 * resources.estimate_memory(small, train)
    assert resources.estimate_memory(small, TrainConfig(batch_size=400, window=50)) > resources.estimate_memory(small, train)
    monkeypatch.setattr(resources, "available_memory", lambda: 2**20)  # a machine with 1 MiB free
    with pytest.raises(ResourceError, match="needs about .* GiB of memory but 0.0 GiB is free"):
        resources.check_memory(big_vocab, train)
    out = tmp_path / "m"
    assert_clean_error(runner.invoke(app, ["train", str(corpus), "-o", str(out), *TINY, "--units", "1024"]),
                       "GiB of memory")
    assert not out.exists()
    monkeypatch.setattr(resources, "available_memory", lambda: None)  # unknown: no refusal
    resources.check_memory(big_vocab, train)


def test_available_memory_is_plausible():
    available = resources.available_memory()
    if available is None:
        pytest.skip("this platform does not report free memory")
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < available <= total


# --- full disk ----------------------------------------------------------------------------------

def test_full_disk_while_saving_ends_cleanly(corpus, trained, tmp_path, monkeypatch):
    """The disk fills in the middle of a save (the second file's fsync fails) during resumed training."""
    directory = Path(shutil.copytree(trained, tmp_path / "m"))
    before = snapshot(directory)
    real_fsync = os.fsync
    calls = []

    def failing_fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) >= 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    assert_clean_error(resume(corpus, directory), "the disk is full", "previous model is left intact")
    monkeypatch.undo()
    assert_intact(directory, before)
    result = resume(corpus, directory)  # space is back: training continues from the same checkpoint
    assert result.exit_code == 0, result.output
    assert [h["epoch"] for h in SavedModel.load(directory, ckpt.CHECKPOINT_MANIFEST).history] == [1, 2, 3]


@pytest.fixture()
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (needs root and mount permission; skipped elsewhere)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path, leave_pages: int) -> Path:
    """Fill the file system, then free ``leave_pages`` pages."""
    filler = disk / "filler.bin"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    os.truncate(filler, max(filler.stat().st_size - leave_pages * 4096, 0))
    return filler


def test_really_full_disk_while_saving(corpus, trained, tiny_disk):
    directory = Path(shutil.copytree(trained, tiny_disk / "m"))
    before = snapshot(directory)
    filler = _fill(tiny_disk, leave_pages=2)  # the lock file and one small file fit, the weights do not
    assert_clean_error(resume(corpus, directory), "the disk is full", "previous model is left intact")
    assert_intact(directory, before)
    filler.unlink()
    result = resume(corpus, directory)
    assert result.exit_code == 0, result.output
    assert SavedModel.load(directory, ckpt.CHECKPOINT_MANIFEST).manifest["position"]["epoch"] == 3


@pytest.mark.parametrize("pages, needle", [(1, "the disk is full"), (0, "cannot create train.lock")])
def test_full_disk_before_the_first_save_leaves_nothing_behind(corpus, tiny_disk, pages, needle):
    _fill(tiny_disk, leave_pages=pages)
    out = tiny_disk / "new"
    assert_clean_error(runner.invoke(app, ["train", str(corpus), "-o", str(out), *TINY, "--epochs", "1"]), needle)
    assert not out.exists() or not list(out.iterdir())


# --- permissions --------------------------------------------------------------------------------

def test_permission_error_while_saving_ends_cleanly(corpus, trained, tmp_path, monkeypatch):
    """The directory stops being writable during training (e.g. a remount read-only, an ACL change)."""
    directory = Path(shutil.copytree(trained, tmp_path / "m"))
    before = snapshot(directory)
    real_open = builtins.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if "w" in mode and Path(file).parent == directory:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    assert_clean_error(resume(corpus, directory), "cannot write", "Permission denied", "left intact")
    monkeypatch.undo()
    assert_intact(directory, before)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_directory_is_refused_up_front(corpus, trained, tmp_path):
    directory = Path(shutil.copytree(trained, tmp_path / "m"))
    before = snapshot(directory)
    directory.chmod(0o555)
    try:
        assert_clean_error(resume(corpus, directory), "not writable")
    finally:
        directory.chmod(0o755)
    assert_intact(directory, before)


def test_an_unwritable_model_directory_still_loads_and_predicts(trained, tmp_path):
    """Loading never writes (no lock, no cache files), so a read-only installed model works."""
    from wordrnn.runtime.keras import KerasStep

    directory = Path(shutil.copytree(trained, tmp_path / "m"))
    before = snapshot(directory)
    step = KerasStep(SavedModel.load(directory))
    probs, _ = step.step(np.array([0]), step.zero_state(1))
    assert np.isclose(probs.sum(), 1.0, atol=1e-4)
    assert snapshot(directory) == before
