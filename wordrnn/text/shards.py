"""A prepared dataset's shards: written by ``ShardWriter``, read in place from memory maps.

A directory made by ``wordrnn prepare`` (see ``prepare.py``) holds::

    DATA_DIR/dataset.json      manifest, written last: format, tokenizer settings, vocabulary
                               file, id type, token counts, every shard with its SHA-256
    DATA_DIR/vocab.json        the vocabulary (``</s>`` and ``<unk>`` first)
    DATA_DIR/shard-00000.bin   raw little-endian uint16 ids (uint32 above 65,535 words)

``ShardedTokens`` presents the shards as one read-only sequence without loading them, so
``batching.StreamBatches`` can cut it into contiguous streams exactly as it cuts an array:
each stream reads only its own region of the files. NumPy only; no TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from wordrnn.config import TokenizerConfig, from_dict
from wordrnn.errors import ConfigError, CorpusError, ModelFormatError
from wordrnn.text.vocab import Vocabulary

MANIFEST = "dataset.json"
VOCAB_FILE = "vocab.json"
FORMAT = "wordrnn-dataset"
FORMAT_VERSION = 1
DTYPES = {"uint16": "<u2", "uint32": "<u4"}
SHARD_NAME = re.compile(r"^shard-\d{5}\.bin$")
RELEASE_EVERY = 1024  # reads between unmapping the pages read so far, so resident memory stays flat


class ShardWriter:
    """Appends ids to ``shard-NNNNN.bin`` files of ``shard_tokens`` tokens each, hashing as it writes.

    Hashing while writing saves reading every shard back for the manifest's checksums; each
    full shard is fsynced before the next begins, and ``close`` returns the manifest's list.
    """

    def __init__(self, directory: Path, dtype: np.dtype, shard_tokens: int) -> None:
        self.directory, self.dtype, self.shard_tokens = directory, dtype, shard_tokens
        self.shards: list[dict[str, Any]] = []
        self._handle: BinaryIO | None = None
        self._digest: Any = None
        self._count = 0

    def write(self, ids: np.ndarray) -> None:
        ids = ids.astype(self.dtype, copy=False)
        while len(ids):
            if self._handle is None:
                name = f"shard-{len(self.shards):05d}.bin"
                self._handle = open(self.directory / name, "wb")
                self._digest, self._count = hashlib.sha256(), 0
                self.shards.append({"file": name, "tokens": 0, "sha256": ""})
            part = ids[: self.shard_tokens - self._count]
            data = part.tobytes()
            self._handle.write(data)
            self._digest.update(data)
            self._count += len(part)
            ids = ids[len(part):]
            if self._count == self.shard_tokens:
                self._finish()

    def _finish(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self.shards[-1].update(tokens=self._count, sha256=self._digest.hexdigest())
            self._handle = None

    def close(self) -> list[dict[str, Any]]:
        self._finish()
        return self.shards


class ShardedTokens:
    """A read-only token sequence spread over memory-mapped shards.

    Indexing takes an int, a contiguous slice (a view: nothing is read) or an integer array
    (a gather, touching only the pages it needs). Every ``RELEASE_EVERY`` gathers the pages
    mapped so far are dropped (``release``): they stay in the page cache, but the process's
    resident memory does not grow with the part of the corpus already read.

    Args:
        arrays: one 1-D array per shard (``np.frombuffer`` over an ``mmap``, or any array).
        maps: the ``mmap`` objects behind ``arrays`` (for ``release`` and ``close``).
    """

    def __init__(self, arrays: list[np.ndarray], maps: list[mmap.mmap] | None = None,
                 start: int = 0, stop: int | None = None) -> None:
        if not arrays:
            raise CorpusError("a dataset needs at least one shard")
        self._arrays = arrays
        self._maps = maps or []
        self._offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)
        self._start = start
        self._stop = int(self._offsets[-1]) if stop is None else stop
        self.dtype = arrays[0].dtype
        self._gathers = 0

    def __len__(self) -> int:
        return self._stop - self._start

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise IndexError("a token stream only takes contiguous slices")
            return ShardedTokens(self._arrays, self._maps, self._start + start, self._start + max(start, stop))
        if isinstance(key, (int, np.integer)):
            position = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= position < len(self):
                raise IndexError(f"token {key} is outside a stream of {len(self)}")
            return self._gather(np.asarray([position]))[0]
        index = np.asarray(key)
        if index.dtype.kind not in "iu":
            raise IndexError("token positions must be integers")
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"token positions must lie in [0, {len(self)})")
        return self._gather(index)

    def _gather(self, index: np.ndarray) -> np.ndarray:
        self._gathers += 1
        if self._maps and self._gathers % RELEASE_EVERY == 0:
            self.release()
        positions = index.astype(np.int64) + self._start
        if len(self._arrays) == 1:
            return self._arrays[0][positions]
        shard = np.searchsorted(self._offsets, positions, side="right") - 1
        out = np.empty(positions.shape, dtype=self.dtype)
        for s in np.unique(shard):
            mask = shard == s
            out[mask] = self._arrays[s][positions[mask] - self._offsets[s]]
        return out

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """A contiguous copy of ``[start, stop)`` (for small parts: it is loaded)."""
        stop = len(self) if stop is None else stop
        return self._gather(np.arange(start, stop, dtype=np.int64))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self.read()
        return data if dtype is None else data.astype(dtype)

    def release(self) -> None:
        """Unmap the pages read so far from this process (they are re-read from the page cache on demand)."""
        for handle in self._maps:
            if not handle.closed:
                handle.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        """Close the memory maps (arrays taken from this view must not be used afterwards)."""
        self._arrays = []
        for handle in self._maps:
            try:
                handle.close()
            except BufferError:  # an array still points into it; the map closes when that array goes
                pass


@dataclass
class Dataset:
    """An opened prepared dataset."""

    path: Path
    manifest: dict[str, Any]
    tokenizer_config: TokenizerConfig
    vocab: Vocabulary
    tokens: ShardedTokens


def is_dataset(path: str | Path) -> bool:
    """True for a directory made (or partly made) by ``wordrnn prepare``."""
    path = Path(path)
    if not path.is_dir():
        return False
    return (path / MANIFEST).is_file() or any(SHARD_NAME.match(p.name) for p in path.iterdir())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The dataset manifest, checked for format and version."""
    path = Path(path)
    file = path / MANIFEST
    if not file.is_file():
        if is_dataset(path):
            raise CorpusError(f"{path}: an unfinished dataset (no {MANIFEST}: `wordrnn prepare` was interrupted); run it again")
        raise CorpusError(f"{path}: not a prepared dataset (no {MANIFEST}); make one with `wordrnn prepare`")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[..." nested too deep
        raise CorpusError(f"{file}: damaged manifest (not valid JSON); run `wordrnn prepare` again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorpusError(f"{file}: not a wordrnn dataset manifest; make one with `wordrnn prepare`")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CorpusError(f"{path}: dataset format version {manifest.get('format_version')!r} is not supported "
                          f"(this wordrnn reads {FORMAT_VERSION}); prepare the corpus again")
    if manifest.get("dtype") not in DTYPES or not isinstance(manifest.get("shards"), list) or not manifest["shards"]:
        raise CorpusError(f"{file}: the manifest lists no shards; run `wordrnn prepare` again")
    return manifest


def _file(path: Path, entry: Any, what: str) -> Path:
    name = entry.get("file") if isinstance(entry, dict) else None
    if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
        raise CorpusError(f"{path}: the manifest names no valid {what} file; run `wordrnn prepare` again")
    return path / name


def open_dataset(path: str | Path, verify: bool = True) -> Dataset:
    """Open a prepared dataset read-only; its shards are memory-mapped, not loaded.

    Sizes are always checked; with ``verify`` every file is also checked against its SHA-256
    (read in 1 MB blocks, so the check costs time, not memory).
    """
    path = Path(path)
    manifest = read_manifest(path)
    dtype = np.dtype(DTYPES[manifest["dtype"]])
    vocab_file = _file(path, manifest.get("vocab"), "vocabulary")
    try:
        tokenizer_config = from_dict(TokenizerConfig, manifest.get("tokenizer"))
        if verify and _sha256(vocab_file) != manifest["vocab"].get("sha256"):
            raise CorpusError(f"{vocab_file}: fails its checksum (altered or truncated); run `wordrnn prepare` again")
        vocab = Vocabulary.from_json(json.loads(vocab_file.read_text(encoding="utf-8")))
    except (ConfigError, ModelFormatError, ValueError, RecursionError) as exc:
        raise CorpusError(f"{path}: damaged dataset ({exc}); run `wordrnn prepare` again") from None
    except OSError:
        raise CorpusError(f"{vocab_file}: missing or unreadable; run `wordrnn prepare` again") from None
    if len(vocab) > np.iinfo(dtype).max + 1:
        raise CorpusError(f"{path}: {len(vocab)} words do not fit {manifest['dtype']} ids; run `wordrnn prepare` again")
    arrays, maps = [], []
    for entry in manifest["shards"]:
        shard = _file(path, entry, "shard")
        tokens = entry.get("tokens")
        try:
            size = shard.stat().st_size
        except OSError:
            raise CorpusError(f"{shard}: missing; the dataset is incomplete, run `wordrnn prepare` again") from None
        if not isinstance(tokens, int) or tokens <= 0 or size != tokens * dtype.itemsize:
            raise CorpusError(f"{shard}: holds {size} bytes, not the {tokens} tokens the manifest lists; "
                              "run `wordrnn prepare` again")
        if verify and _sha256(shard) != entry.get("sha256"):
            raise CorpusError(f"{shard}: fails its checksum (altered or truncated); run `wordrnn prepare` again")
        with open(shard, "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        maps.append(mapped)
        arrays.append(np.frombuffer(mapped, dtype=dtype))
    tokens = ShardedTokens(arrays, maps)
    if len(tokens) != manifest.get("tokens"):
        raise CorpusError(f"{path}: the shards hold {len(tokens)} tokens but the manifest says {manifest.get('tokens')}; "
                          "run `wordrnn prepare` again")
    return Dataset(path, manifest, tokenizer_config, vocab, tokens)
