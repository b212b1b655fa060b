import json
import os

import numpy as np
import pytest

from conftest import make_untrained
from wordrnn.store import checkpoint as ckpt
from wordrnn.errors import LockedError, ModelFormatError, OutputExistsError, ResourceError


def _save(directory, value):
    return ckpt.write_manifest(directory, ckpt.MODEL_MANIFEST, {"config": {}},
                               {"weights.npz": {"w": np.full(3, value)}, "vocab.json": {"v": value}})


def test_save_and_read_back(tmp_path):
    _save(tmp_path, 1.0)
    manifest = ckpt.read_manifest(tmp_path)
    assert ckpt.read_arrays(tmp_path, manifest, "weights")["w"].tolist() == [1.0] * 3
    assert ckpt.read_json(tmp_path, manifest, "vocab") == {"v": 1.0}


def test_old_generation_files_are_removed(tmp_path):
    _save(tmp_path, 1.0)
    _save(tmp_path, 2.0)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["vocab-000002.json", "weights-000002.npz", "wordrnn.json"]


def test_interrupted_save_leaves_previous_model_intact(tmp_path, monkeypatch):
    _save(tmp_path, 1.0)
    real = ckpt._write_durable
    calls = []

    def dying(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while writing the second file
        real(path, data)

    monkeypatch.setattr(ckpt, "_write_durable", dying)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, 2.0)
    monkeypatch.setattr(ckpt, "_write_durable", real)
    manifest = ckpt.read_manifest(tmp_path)
    assert ckpt.read_arrays(tmp_path, manifest, "weights")["w"].tolist() == [1.0] * 3


def test_full_disk_is_a_clean_error_and_keeps_previous(tmp_path, monkeypatch):
    _save(tmp_path, 1.0)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("builtins.open", full)
    with pytest.raises(ResourceError, match="disk is full"):
        _save(tmp_path, 2.0)
    monkeypatch.undo()
    assert ckpt.read_json(tmp_path, ckpt.read_manifest(tmp_path), "vocab") == {"v": 1.0}


def test_truncated_file_fails_checksum(tmp_path):
    manifest = _save(tmp_path, 1.0)
    target = tmp_path / manifest["files"]["weights"]
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(ModelFormatError, match="checksum"):
        ckpt.read_arrays(tmp_path, ckpt.read_manifest(tmp_path), "weights")


def test_pickled_arrays_are_refused(tmp_path):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, w=np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    ckpt.write_manifest(tmp_path, ckpt.MODEL_MANIFEST, {}, {"weights.npz": buffer.getvalue()})
    with pytest.raises(ModelFormatError, match="refusing"):
        ckpt.read_arrays(tmp_path, ckpt.read_manifest(tmp_path), "weights")


def test_bad_manifests(tmp_path):
    with pytest.raises(ModelFormatError, match="no such model directory"):
        ckpt.read_manifest(tmp_path / "nope")
    with pytest.raises(ModelFormatError, match="not a wordrnn model"):
        ckpt.read_manifest(tmp_path)
    (tmp_path / ckpt.MODEL_MANIFEST).write_text("{not json")
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        ckpt.read_manifest(tmp_path)
    (tmp_path / ckpt.MODEL_MANIFEST).write_text(json.dumps({"format": ckpt.FORMAT, "format_version": 99}))
    with pytest.raises(ModelFormatError, match="version 99"):
        ckpt.read_manifest(tmp_path)


def test_prepare_output_rules(tmp_path):
    _save(tmp_path / "m", 1.0)
    with pytest.raises(OutputExistsError, match="pass force=True to replace it or resume=True to continue it"):
        ckpt.prepare_output(tmp_path / "m", force=False, resume=False)
    ckpt.prepare_output(tmp_path / "m", force=True, resume=False)
    with pytest.raises(OutputExistsError, match="nothing to resume"):
        ckpt.prepare_output(tmp_path / "m", force=False, resume=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty"):
        ckpt.prepare_output(tmp_path / "other", force=False, resume=False)


def test_lock_refuses_live_owner_and_takes_over_stale(tmp_path):
    import subprocess
    import sys
    import time

    holder = "import sys, time; from wordrnn.store.checkpoint import TrainingLock; TrainingLock(sys.argv[1]).__enter__(); time.sleep(30)"
    other = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path)])
    try:
        while not (tmp_path / ckpt.LOCK_FILE).is_file() or not (tmp_path / ckpt.LOCK_FILE).read_text().strip():
            assert other.poll() is None, "the lock holder exited before taking the lock"
            time.sleep(0.05)
        with pytest.raises(LockedError, match=str(other.pid)):
            ckpt.TrainingLock(tmp_path).__enter__()
    finally:
        other.kill()
        other.wait()
    with ckpt.TrainingLock(tmp_path):  # the owner is dead now: the stale lock is taken over
        assert (tmp_path / ckpt.LOCK_FILE).read_text().strip().isdigit()
    assert not (tmp_path / ckpt.LOCK_FILE).exists()


def test_update_files_adds_and_replaces_roles_keeping_the_others(tmp_path):
    first = _save(tmp_path, 1.0)
    updated = ckpt.update_files(tmp_path, ckpt.MODEL_MANIFEST, {"litert.tflite": b"abc"}, {"litert": {"quantize": "none"}})
    assert updated["files"]["weights"] == first["files"]["weights"]
    assert updated["checksums"][first["files"]["weights"]] == first["checksums"][first["files"]["weights"]]
    manifest = ckpt.read_manifest(tmp_path)
    assert manifest["litert"] == {"quantize": "none"} and manifest["config"] == {}
    assert ckpt.read_file(tmp_path, manifest, "litert") == b"abc"
    ckpt.update_files(tmp_path, ckpt.MODEL_MANIFEST, {"litert.tflite": b"xyz"})
    manifest = ckpt.read_manifest(tmp_path)
    assert ckpt.read_file(tmp_path, manifest, "litert") == b"xyz"
    assert len(list(tmp_path.glob("litert-*.tflite"))) == 1  # the replaced file is collected
    ckpt.update_files(tmp_path, ckpt.MODEL_MANIFEST, {"litert.tflite": None}, {"litert": None})
    manifest = ckpt.read_manifest(tmp_path)
    assert "litert" not in manifest["files"] and "litert" not in manifest
    assert not list(tmp_path.glob("litert-*")) and ckpt.read_arrays(tmp_path, manifest, "weights")["w"][0] == 1.0


def test_interrupted_update_leaves_the_previous_manifest(tmp_path, monkeypatch):
    _save(tmp_path, 1.0)
    before = (tmp_path / ckpt.MODEL_MANIFEST).read_bytes()
    real = ckpt._write_durable

    def dying(path, data):
        if path.name == ckpt.MODEL_MANIFEST:
            raise KeyboardInterrupt  # killed after the new file, before the manifest
        real(path, data)

    monkeypatch.setattr(ckpt, "_write_durable", dying)
    with pytest.raises(KeyboardInterrupt):
        ckpt.update_files(tmp_path, ckpt.MODEL_MANIFEST, {"litert.tflite": b"abc"})
    monkeypatch.setattr(ckpt, "_write_durable", real)
    assert (tmp_path / ckpt.MODEL_MANIFEST).read_bytes() == before
    ckpt.collect_garbage(tmp_path)
    assert not list(tmp_path.glob("litert-*"))


def test_update_files_needs_an_existing_model(tmp_path):
    with pytest.raises(ModelFormatError, match="not a wordrnn model"):
        ckpt.update_files(tmp_path, ckpt.MODEL_MANIFEST, {"metrics.json": {}})


def test_planted_symlinks_are_replaced_never_written_through(tmp_path):
    """Issue 18 item 2, for the other files wordrnn writes in a model directory: the manifest, each
    generation's files and the temporary file are replaced as directory entries, so a planted link
    is dropped and its target never written."""
    import os

    from wordrnn.durable import temporary_name

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    model = tmp_path / "model"
    model.mkdir()
    for name in ("wordrnn.json", "weights-000001.npz", "vocab-000001.json"):
        (model / name).symlink_to(notes)
    temporary_name(model / "wordrnn.json").symlink_to(notes)
    temporary_name(model / "weights-000002.npz").symlink_to(tmp_path / "dangling")
    _save(model, 1.0)
    assert notes.read_text() == "my notes\n" and not (tmp_path / "dangling").exists()
    manifest = ckpt.read_manifest(model)
    for name in ["wordrnn.json", *manifest["files"].values()]:
        assert (model / name).is_file() and not (model / name).is_symlink(), os.listdir(model)
    assert ckpt.read_arrays(model, manifest, "weights")["w"].tolist() == [1.0] * 3


def test_the_output_is_checked_again_once_the_lock_is_held(tmp_path, monkeypatch):
    """A run that checked the directory, then waited for the lock while another run saved its model
    and let go, must refuse: the check that counts is the one made under the lock (issue 18 item 1)."""
    out = tmp_path / "m"
    take = ckpt.TrainingLock.__enter__

    def another_run_finished_first(lock):  # noqa: ANN001
        _save(out, 1.0)
        return take(lock)

    monkeypatch.setattr(ckpt.TrainingLock, "__enter__", another_run_finished_first)
    with pytest.raises(OutputExistsError, match="already holds a model"):
        with ckpt.claim_output(out, force=False, resume=False):
            pytest.fail("claimed a directory that holds another run's model")
    assert not (out / ckpt.LOCK_FILE).exists()  # the refusal let go of the lock
    with ckpt.claim_output(out, force=True, resume=False):
        assert ckpt.lock_owner(out) == os.getpid()


def test_a_claim_that_fails_leaves_no_directory_it_created(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(KeyboardInterrupt):
        with ckpt.claim_output(out, force=False, resume=False):
            assert out.is_dir() and ckpt.lock_owner(out) == os.getpid()
            raise KeyboardInterrupt  # a missing corpus, Ctrl-C while reading it...
    assert not out.exists()


def test_a_writers_cleanup_never_removes_the_files_another_writer_is_about_to_name(tmp_path, monkeypatch):
    """`evaluate --save` writes its metrics file while `train` cleans up after a checkpoint: the clean-up
    must wait for the manifest that names the new file, or it removes it (issue 18 item 4)."""
    import threading

    _save(tmp_path, 1.0)
    write_files = ckpt._write_files

    def meanwhile_another_writer_cleans_up(directory, generation, files):  # noqa: ANN001
        written = write_files(directory, generation, files)  # on disk, not yet named by any manifest
        cleanup = threading.Thread(target=ckpt.collect_garbage, args=(directory,))
        cleanup.start()
        cleanup.join(timeout=0.5)  # it must wait for this update to finish
        return written

    monkeypatch.setattr(ckpt, "_write_files", meanwhile_another_writer_cleans_up)
    ckpt.update_files(tmp_path, ckpt.MODEL_MANIFEST, {"metrics.json": {"perplexity": 9.5}})
    monkeypatch.undo()
    assert ckpt.read_json(tmp_path, ckpt.read_manifest(tmp_path), "metrics") == {"perplexity": 9.5}


def test_a_reader_that_loses_a_race_with_a_save_reads_the_new_manifest(tmp_path, monkeypatch):
    """A save lands just after a reader read the manifest (and removes the files it named): the reader
    tries once more with the new manifest instead of calling the directory damaged (issue 18 item 4)."""
    from pathlib import Path

    from wordrnn.store.saved import SavedModel

    make_untrained(tmp_path / "m")
    read_text = Path.read_text
    saved_meanwhile: list[dict] = []

    def then_a_save_lands(path, *args, **kwargs):  # noqa: ANN001
        text = read_text(path, *args, **kwargs)
        if path.name == ckpt.MODEL_MANIFEST and not saved_meanwhile:
            saved_meanwhile.append({})  # once: the save itself reads the manifest too
            saved_meanwhile[0] = _resave(path.parent, 2.0)
        return text

    monkeypatch.setattr(Path, "read_text", then_a_save_lands)
    saved = SavedModel.load(tmp_path / "m")
    monkeypatch.undo()
    assert saved_meanwhile and saved.manifest["generation"] == saved_meanwhile[0]["generation"]
    assert all(np.all(w == 2.0) for w in saved.weights.values())


def test_a_loaded_model_keeps_reading_the_files_it_was_loaded_with(tmp_path):
    """`complete` loaded the model, then `train` saved a checkpoint and removed the old files: the
    weights it reads later are still those of the manifest it loaded, never "damaged" (issue 18 item 4)."""
    from wordrnn.store.saved import SavedModel

    make_untrained(tmp_path / "m")
    saved = SavedModel.load(tmp_path / "m")
    before = {name: value.copy() for name, value in SavedModel.load(tmp_path / "m").weights.items()}
    _resave(tmp_path / "m", 3.0)
    assert not (tmp_path / "m" / saved.manifest["files"]["weights"]).exists()
    assert saved.weights.keys() == before.keys()
    assert all(np.array_equal(saved.weights[name], before[name]) for name in before)


def _resave(directory, value: float) -> dict:
    """Save the model in ``directory`` again with every weight set to ``value`` (a new generation)."""
    manifest = ckpt.read_manifest(directory)
    weights = {k: np.full_like(v, value) for k, v in ckpt.read_arrays(directory, manifest, "weights").items()}
    meta = {k: manifest[k] for k in ("kind", "config")}
    return ckpt.write_manifest(directory, ckpt.MODEL_MANIFEST, meta,
                               {"weights.npz": weights, "vocab.json": ckpt.read_json(directory, manifest, "vocab")})
