"""The model directory on disk: self-describing, atomic, and safe to load.

Layout (every data file carries a generation number)::

    DIR/wordrnn.json          manifest of the usable model: format version, full config,
                              file names and their SHA-256 checksums
    DIR/checkpoint.json       manifest of the latest resumable training state
    DIR/weights-000007.npz    arrays only (loaded with allow_pickle=False: no code runs)
    DIR/vocab-000007.json, history-..., metrics-..., optimizer-..., ...

A save writes new files under a new generation, fsyncs them, and only then
replaces the manifest with ``os.replace`` (atomic on POSIX). A crash or
``kill -9`` at any moment therefore leaves a manifest that names a complete,
checksummed set of files: the previous one or the new one. Files no manifest
names are removed afterwards, under the same lock as the update, so one writer's
clean-up never removes the files another is about to name. Reading is in
``reading.py`` (re-exported here).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from wordrnn.durable import fsync_dir, pid_alive, write_durable
from wordrnn.errors import LockedError, OutputExistsError, ResourceError, option
from wordrnn.store.lock import LOCK_FILE, TrainingLock, lock_owner  # noqa: F401  (re-exported)
from wordrnn.store.reading import (  # noqa: F401  (re-exported: the model directory's one module to import)
    CHECKPOINT_MANIFEST, FORMAT, FORMAT_VERSION, MODEL_MANIFEST, ModelFiles, parse_arrays, parse_json, read_arrays,
    read_file, read_json, read_manifest)

_GENERATED = re.compile(r"^[a-z_]+-\d{6}\.(npz|json|tflite)$")

Payload = bytes | dict | list | Mapping[str, np.ndarray]


def _encode(name: str, payload: Payload) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if name.endswith(".npz"):
        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(v) for k, v in payload.items()})  # type: ignore[union-attr]
        return buffer.getvalue()
    return json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8")


def _write_durable(path: Path, data: bytes) -> None:
    try:
        write_durable(path, data)
    except OSError as exc:
        reason = "the disk is full" if exc.errno == 28 else (exc.strerror or str(exc))
        raise ResourceError(f"cannot write {path}: {reason}; the previous model is left intact") from None


def _generation(directory: Path) -> int:
    highest = 0
    for entry in directory.glob("*-*.*"):
        match = re.search(r"-(\d{6})\.", entry.name)
        if match:
            highest = max(highest, int(match.group(1)))
    return highest + 1


def write_manifest(directory: Path, manifest_name: str, meta: dict[str, Any], files: Mapping[str, Payload]) -> dict:
    """Write ``files`` under a new generation, then atomically point ``manifest_name`` at them.

    Args:
        meta: JSON-ready description (config, step counts...); stored in the manifest.
        files: role -> payload (bytes, JSON-ready object, or a dict of arrays for ``.npz`` roles).
            A role is ``"weights.npz"``-style: the stem names it, the suffix picks the encoding.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with _update_lock(directory):
        generation = _generation(directory)
        names, checksums = _write_files(directory, generation, files)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "generation": generation,
            **meta,
            "files": names,
            "checksums": checksums,
        }
        _write_manifest_file(directory, manifest_name, manifest, names.values())
        _collect_garbage(directory)
    return manifest


def _write_manifest_file(directory: Path, manifest_name: str, manifest: dict, new_files: Iterable[str]) -> None:
    """Atomically replace the manifest; if that fails, remove the new files it would have named
    (on a full disk every byte counts, and the previous manifest still names the old ones)."""
    try:
        _write_durable(directory / manifest_name, _encode(".json", manifest))
    except BaseException:
        for name in new_files:
            (directory / name).unlink(missing_ok=True)
        raise
    fsync_dir(directory)


def _write_files(directory: Path, generation: int, files: Mapping[str, Payload]) -> tuple[dict[str, str], dict[str, str]]:
    """Write each role's payload durably under ``generation``; returns stem -> name and name -> sha256."""
    names: dict[str, str] = {}
    checksums: dict[str, str] = {}
    try:
        for role, payload in files.items():
            stem, suffix = role.rsplit(".", 1)
            name = f"{stem}-{generation:06d}.{suffix}"
            data = _encode(role, payload)
            _write_durable(directory / name, data)
            names[stem] = name
            checksums[name] = hashlib.sha256(data).hexdigest()
    except BaseException:  # a full disk or an interrupt mid-save: no manifest names these, drop them now
        for name in names.values():
            (directory / name).unlink(missing_ok=True)
        raise
    return names, checksums


@contextmanager
def _update_lock(directory: Path) -> Iterator[None]:
    """Serialise manifest writes between processes: an ``flock`` on the directory itself (no lock file).

    Without ``fcntl`` (Windows) each write is still atomic, only concurrent updates are not serialised.
    """
    try:
        import fcntl

        fd = os.open(directory, os.O_RDONLY)
    except (ImportError, OSError):  # pragma: no cover
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # also releases the lock


def update_files(directory: Path, manifest_name: str, files: Mapping[str, Payload | None],
                 meta: Mapping[str, Any] | Callable[[dict[str, str]], Mapping[str, Any]] | None = None) -> dict:
    """Add, replace or (with a ``None`` payload) drop files of an existing manifest, atomically.

    Used for what is derived from a saved model after training (the LiteRT export, evaluation
    metrics): new files get a new generation, then the manifest is replaced in one ``os.replace``,
    so a crash leaves the old manifest and its files untouched. Files of other roles keep their
    names and checksums. ``meta`` fields are merged into the manifest (``None`` removes a field);
    ``meta`` may be a function of the new files' names (stem -> file name), for fields that name them.

    Raises:
        ModelFormatError: ``directory`` holds no valid ``manifest_name``.
    """
    directory = Path(directory)
    if not callable(meta):
        _check_meta(meta)
    with _update_lock(directory):
        manifest = read_manifest(directory, manifest_name)
        generation = _generation(directory)
        kept = {role.rsplit(".", 1)[0] for role, payload in files.items() if payload is not None}
        dropped = {role.rsplit(".", 1)[0] for role, payload in files.items() if payload is None}
        names = {k: v for k, v in manifest["files"].items() if k not in kept | dropped}
        checksums = {k: v for k, v in manifest["checksums"].items() if k in names.values()}
        new_names, new_checksums = _write_files(
            directory, generation, {role: payload for role, payload in files.items() if payload is not None}
        )
        if callable(meta):
            try:
                meta = meta(dict(new_names))
                _check_meta(meta)
            except BaseException:  # no manifest will name the new files: drop them now
                for name in new_names.values():
                    (directory / name).unlink(missing_ok=True)
                raise
        manifest.update({k: v for k, v in (meta or {}).items() if v is not None})
        for key in [k for k, v in (meta or {}).items() if v is None]:
            manifest.pop(key, None)
        manifest.update(
            written=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            generation=generation,
            files={**names, **new_names},
            checksums={**checksums, **new_checksums},
        )
        _write_manifest_file(directory, manifest_name, manifest, new_names.values())
        _collect_garbage(directory)
    return manifest


def _check_meta(meta: Mapping[str, Any] | None) -> None:
    reserved = {"format", "format_version", "files", "checksums", "generation", "written"} & set(meta or {})
    if reserved:
        raise ValueError(f"update_files cannot set the manifest's own fields {sorted(reserved)}")


def collect_garbage(directory: Path) -> None:
    """Remove generated files that no manifest names (left by earlier saves or crashes).

    Under the update lock, as every save's own clean-up: another writer's new files are named by
    no manifest until its update ends, and must not be taken for leftovers meanwhile.
    """
    with _update_lock(directory):
        _collect_garbage(directory)


def _collect_garbage(directory: Path) -> None:
    """``collect_garbage`` for a caller that holds the update lock."""
    keep: set[str] = set()
    for manifest_name in (MODEL_MANIFEST, CHECKPOINT_MANIFEST):
        try:
            keep.update(json.loads((directory / manifest_name).read_text(encoding="utf-8")).get("files", {}).values())
        except (OSError, ValueError, AttributeError, RecursionError):
            continue
    for entry in directory.iterdir():
        if _GENERATED.match(entry.name) and entry.name not in keep:
            entry.unlink(missing_ok=True)
        elif entry.name.startswith(".") and ".tmp-" in entry.name:
            pid = entry.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or not pid_alive(int(pid)):
                entry.unlink(missing_ok=True)


def has_model(directory: Path) -> bool:
    return (Path(directory) / MODEL_MANIFEST).is_file() or (Path(directory) / CHECKPOINT_MANIFEST).is_file()


def _foreign(name: str) -> bool:
    """A file training did not leave (a run killed before its first save leaves its lock and parts)."""
    return not (name.startswith(".") or name == LOCK_FILE or _GENERATED.match(name))


def prepare_output(directory: Path, *, force: bool, resume: bool, check_lock: bool = True) -> None:
    """Check that training may write into ``directory`` before any work starts.

    Args:
        check_lock: refuse a directory another process holds the training lock of (False when
            the caller holds it itself, or will never write).
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise OutputExistsError(f"{directory}: exists and is not a directory; choose another {option('out_dir')}")
    owner = lock_owner(directory) if check_lock else None
    if owner is not None:
        who = f"process {owner}" if owner else "another process"
        raise LockedError(f"{directory}: {who} is already training into it; wait for it or stop it")
    if has_model(directory) and not (force or resume):
        raise OutputExistsError(f"{directory}: already holds a model; pass {option('force', True)} to replace it or "
                                f"{option('resume', True)} to continue it")
    if resume and not (directory / CHECKPOINT_MANIFEST).is_file():
        raise OutputExistsError(f"{directory}: nothing to resume (no checkpoint.json); train without {option('resume', True)}")
    if directory.is_dir() and not has_model(directory) and any(_foreign(p.name) for p in directory.iterdir()):
        raise OutputExistsError(f"{directory}: is not empty and holds no wordrnn model; choose an empty or new directory")
    parent = directory if directory.exists() else directory.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputExistsError(f"{directory}: {parent} is a file, not a directory; choose another {option('out_dir')}")
    if not os.access(parent, os.W_OK):
        raise OutputExistsError(f"{directory}: not writable; choose a directory you can write to")


@contextmanager
def claim_output(directory: Path, *, force: bool, resume: bool, writer: bool = True) -> Iterator[None]:
    """Hold the training lock on ``directory`` for the whole run, having checked under it that
    training may write there (``prepare_output``).

    A check made before the lock is not enough: another run may save its model and let go in
    between, and the run that checked first would then silently replace that model. So the
    directory is checked once before (a clear error before anything is created) and again once
    the lock is held, which the caller keeps until its last save.

    Args:
        writer: False for a process that never writes the directory (a multi-worker run's other
            workers, which share it with the chief): the checks only, no lock.
    """
    directory = Path(directory)
    prepare_output(directory, force=force, resume=resume, check_lock=writer)
    if not writer:
        yield
        return
    created = not directory.exists()
    try:
        with TrainingLock(directory):
            prepare_output(directory, force=force, resume=resume, check_lock=False)
            yield
    except BaseException:
        if created:  # a run that failed (a missing corpus, Ctrl-C) leaves no empty directory behind
            with suppress(OSError):
                directory.rmdir()  # only if empty: another run may have claimed it meanwhile
        raise
