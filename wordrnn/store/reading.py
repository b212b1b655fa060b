"""Reading a model directory: its manifest, and the files it names, verified and held open.

A writer (``train`` checkpointing, ``evaluate --save``) replaces the manifest and then removes the
files no manifest names any more, so a reader that read the manifest a moment before may find
them gone. ``ModelFiles`` therefore opens every named file right after reading the manifest and
keeps it open: a removed file stays readable through its open descriptor (POSIX), so a loaded
model keeps reading exactly the generation it was loaded with. A file already gone when it is
opened means a save landed in between: the manifest is read once more and its files opened.
Only a file missing from an unchanged manifest means the directory is damaged.

Every file is opened without following a symlink and must be a regular file (no link out of the
directory, no FIFO to hang on), and its bytes must match the manifest's SHA-256.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import stat
import weakref
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.errors import ModelFormatError, option
from wordrnn.store.meta import check_field_types
from wordrnn.store.npz import ArrayLimits, check_declared

FORMAT = "wordrnn-model"
FORMAT_VERSION = 1
MODEL_MANIFEST = "wordrnn.json"
CHECKPOINT_MANIFEST = "checkpoint.json"
_NO_TRICKS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_NOT_REGULAR = (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EMLINK)  # EMLINK: FreeBSD's ELOOP


def read_manifest(directory: Path, manifest_name: str = MODEL_MANIFEST) -> dict[str, Any]:
    """The manifest, checked for format and version (not yet the files it names)."""
    path = Path(directory) / manifest_name
    if not Path(directory).is_dir():
        raise ModelFormatError(f"{directory}: no such model directory; train one with `wordrnn train` or check {option('model')}")
    if not path.is_file():
        raise ModelFormatError(f"{directory}: not a wordrnn model (no {manifest_name}); train one with `wordrnn train`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[..." nested too deep
        raise ModelFormatError(f"{path}: damaged manifest (not valid JSON); retrain or restore the model") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFormatError(f"{path}: not a wordrnn manifest; point {option('model')} at a directory made by `wordrnn train`")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"{directory}: model format version {version!r} is not supported (this wordrnn reads {FORMAT_VERSION}); "
            "upgrade wordrnn or retrain the model"
        )
    if not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("checksums"), dict):
        raise ModelFormatError(f"{path}: manifest lists no files; the model directory is damaged")
    check_field_types(path, manifest)
    return manifest


def _usable_name(name: Any) -> bool:
    """A plain file name inside the directory (no path, no hidden or temporary file)."""
    return isinstance(name, str) and bool(name) and not any(c in name for c in "/\\\0") and not name.startswith(".")


def _name_of(directory: Path, manifest: dict, stem: str) -> str:
    name = manifest["files"].get(stem)
    if not _usable_name(name):
        raise ModelFormatError(f"{directory}: the manifest names no usable {stem} file; the model directory is damaged")
    return name


def _missing(directory: Path, name: str) -> ModelFormatError:
    return ModelFormatError(f"{directory}: {name} is missing; the model directory is damaged, retrain or restore it")


def _open(directory: Path, name: str) -> int:
    """An open descriptor of the regular file ``name``; FileNotFoundError when it is gone."""
    try:
        fd = os.open(Path(directory) / name, _NO_TRICKS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno in _NOT_REGULAR:
            raise ModelFormatError(f"{directory}: {name} is not a regular file; refusing to read it") from None
        raise _missing(directory, name) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ModelFormatError(f"{directory}: {name} is not a regular file; refusing to read it")
    return fd


def _read_verified(directory: Path, manifest: dict, name: str, fd: int) -> bytes:
    """All bytes of an open file (from its start, whoever else reads it), checked against the manifest."""
    chunks, offset = [], 0
    try:
        while chunk := os.pread(fd, 1 << 24, offset):
            chunks.append(chunk)
            offset += len(chunk)
    except OSError:
        raise _missing(directory, name) from None
    data = b"".join(chunks)
    if hashlib.sha256(data).hexdigest() != manifest["checksums"].get(name):
        raise ModelFormatError(f"{directory}: {name} fails its checksum (truncated or altered); retrain or restore the model")
    return data


def read_file(directory: Path, manifest: dict, stem: str) -> bytes:
    """The bytes of one file named by a manifest, opened now and verified against its checksum."""
    name = _name_of(Path(directory), manifest, stem)
    try:
        fd = _open(directory, name)
    except FileNotFoundError:
        raise _missing(directory, name) from None
    try:
        return _read_verified(directory, manifest, name, fd)
    finally:
        os.close(fd)


def parse_json(directory: Path, stem: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ModelFormatError(f"{directory}: {stem} file is not valid JSON; the model directory is damaged") from None


def parse_arrays(directory: Path, stem: str, data: bytes, limits: ArrayLimits | None = None) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file's bytes; pickled objects are refused, so loading never runs code, and
    every array's declared shape is checked (against ``limits``, from the config) before it is read."""
    refuse = f"{directory}: {stem} file is not a plain array archive"
    if not data.startswith(b"PK"):  # np.load would also accept a bare .npy (or try a pickle)
        raise ModelFormatError(f"{refuse}; refusing to load it")
    try:
        check_declared(data, limits)  # DeclarationError is a ValueError: "'w' declares shape (...) ..."
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ModelFormatError(f"{refuse} ({exc}); refusing to load it") from None
    for key, value in arrays.items():  # non-.npy members come back as raw bytes
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise ModelFormatError(f"{refuse} ({key!r} is not a numeric array); refusing to load it")
    return arrays


def read_json(directory: Path, manifest: dict, stem: str) -> Any:
    return parse_json(directory, stem, read_file(directory, manifest, stem))


def read_arrays(directory: Path, manifest: dict, stem: str, limits: ArrayLimits | None = None) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file named by a manifest (see ``parse_arrays``)."""
    return parse_arrays(directory, stem, read_file(directory, manifest, stem), limits)


def _close_all(handles: dict[str, int | ModelFormatError]) -> None:
    for fd in handles.values():
        if isinstance(fd, int):
            os.close(fd)
    handles.clear()  # a closed ModelFiles reads from the directory again, never a reused descriptor


def _open_named(directory: Path, manifest: dict) -> tuple[dict[str, int | ModelFormatError], bool]:
    """Every usable file the manifest names, opened (or the error reading it will raise); and
    whether any was gone, the sign of a save that landed after the manifest was read."""
    handles: dict[str, int | ModelFormatError] = {}
    vanished = False
    for name in manifest["files"].values():
        if not _usable_name(name) or name in handles:
            continue  # reading it raises "names no usable file" then
        try:
            handles[name] = _open(directory, name)
        except FileNotFoundError:
            handles[name], vanished = _missing(directory, name), True
        except ModelFormatError as exc:
            handles[name] = exc
    return handles, vanished


class ModelFiles:
    """A manifest and the files it names, opened together: the generation a reader works with.

    Args:
        directory: the model directory.
        manifest: the manifest as read.
        handles: file name -> open descriptor, or the error reading that file raises.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any], handles: dict[str, int | ModelFormatError]) -> None:
        self.directory, self.manifest, self._handles = Path(directory), manifest, handles
        self._closer = weakref.finalize(self, _close_all, handles)

    @classmethod
    def open(cls, directory: str | Path, manifest_name: str = MODEL_MANIFEST) -> ModelFiles:
        """Read the manifest and open its files; when a save replaced it in between (a file it
        names is gone and the manifest changed), read the new one once more."""
        directory = Path(directory)
        manifest = read_manifest(directory, manifest_name)
        handles, vanished = _open_named(directory, manifest)
        if vanished:
            current = read_manifest(directory, manifest_name)
            if current != manifest:
                _close_all(handles)
                manifest = current
                handles, _ = _open_named(directory, manifest)
        return cls(directory, manifest, handles)

    def close(self) -> None:
        """Close every file now (otherwise when this object is collected)."""
        self._closer()

    def read_file(self, stem: str) -> bytes:
        """The verified bytes of the file of role ``stem``, as it was when the manifest was read."""
        name = _name_of(self.directory, self.manifest, stem)
        handle = self._handles.get(name)
        if handle is None:  # closed, or a name this manifest never listed
            return read_file(self.directory, self.manifest, stem)
        if isinstance(handle, ModelFormatError):
            raise handle
        return _read_verified(self.directory, self.manifest, name, handle)

    def read_json(self, stem: str) -> Any:
        return parse_json(self.directory, stem, self.read_file(stem))

    def read_arrays(self, stem: str, limits: ArrayLimits | None = None) -> dict[str, np.ndarray]:
        return parse_arrays(self.directory, stem, self.read_file(stem), limits)
