"""Streamed data preparation: text -> vocabulary + sharded, memory-mappable token ids.

``wordrnn prepare`` tokenises a corpus once, in parallel, so that training on any size of
corpus reads ids straight from disk (``shards.open_dataset``) instead of holding text or ids
in memory. The files are cut into byte ranges at line ends (at blank lines in paragraph
mode), so each worker process reads its own part of the files and tokenises it with the same
``Tokenizer`` that ``wordrnn train`` uses. A worker writes its range as local ids plus the
range's own word list and returns the word counts; the main process merges the counts (its
memory grows with the number of distinct words, never with the corpus), builds the
vocabulary, then maps every range to vocabulary ids and appends it to fixed-size shards.

The manifest is written last and atomically: a directory without one is never taken for a
dataset, and whatever an interrupted run left behind is cleared by the next.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from wordrnn import __version__
from wordrnn.durable import fsync_dir, write_durable
from wordrnn.config import TokenizerConfig, to_dict
from wordrnn.text.corpus import check_encoding, iter_pieces, join_pieces
from wordrnn.errors import ConfigError, CorpusError, OutputExistsError, ResourceError, option
from wordrnn.text.shards import DTYPES, FORMAT, FORMAT_VERSION, MANIFEST, SHARD_NAME, VOCAB_FILE, ShardWriter
from wordrnn.text.encode import readable_by_name
from wordrnn.text.tokenizer import EOS, Tokenizer
from wordrnn.text.vocab import UNK_ID, Vocabulary, check_limits

CHUNK_BYTES = 4 << 20  # text per task: small enough to spread over workers, big enough to amortise a task
SHARD_TOKENS = 1 << 26  # tokens per shard file (128 MB as uint16)
MIN_SHARD_TOKENS = 1000  # --shard-tokens 1 wrote a file per token: thousands of files for 30 KB of text
MAX_SHARDS = 10_000  # shard files one dataset may have (a directory of more is slow to list, open and copy)
_STAGING = ".staging-"


@dataclass(frozen=True)
class Range:
    """Whole lines ``[start, end)`` of one file: one worker task."""

    index: int
    path: str
    start: int
    end: int


def _splittable(encoding: str) -> bool:
    """Whether a line break is the single byte ``\\n`` mid-file (UTF-8, Latin-1...: not UTF-16)."""
    encoder = codecs.getincrementalencoder(check_encoding(encoding))()
    encoder.encode("a")  # a byte-order mark, if any, comes out first
    return encoder.encode("\n a") == b"\n a"


def _next_boundary(handle: BinaryIO, position: int, separator: re.Pattern[bytes]) -> int | None:
    """The first offset at or after ``position`` that follows ``separator`` (None: end of file)."""
    handle.seek(position)
    carry, base = b"", position
    while block := handle.read(1 << 16):
        found = separator.search(carry + block)
        if found:
            return base - len(carry) + found.end()
        carry = (carry + block)[-256:]
        base += len(block)
    return None


def plan_ranges(paths: Sequence[str | Path], chunk_bytes: int, eos: str, encoding: str) -> list[Range]:
    """Cut every file into ranges of about ``chunk_bytes`` that end where a sentence may end.

    Line mode cuts after a line break, paragraph mode after a blank line, so tokenising the
    ranges one by one gives exactly the tokens of the whole file.
    """
    separator = re.compile(rb"\n" if eos == "line" else rb"\n[ \t\r\f\v]*\n")
    splittable = _splittable(encoding)
    ranges: list[Range] = []
    for path in paths:
        size = os.path.getsize(path)
        start = 0
        with open(path, "rb") as handle:
            while start < size:
                end = _next_boundary(handle, start + chunk_bytes, separator) if splittable else None
                end = size if end is None or end >= size else end
                ranges.append(Range(len(ranges), str(path), start, end))
                start = end
    return ranges


_tokenizers: dict[str, Tokenizer] = {}


def _tokenize_range(task: tuple[Range, str, dict[str, Any], str]) -> tuple[int, list[str], np.ndarray, int]:
    """Worker: tokenise one range, write its local ids and word list, return the word counts."""
    part, encoding, tokenizer_settings, staging = task
    key = json.dumps(tokenizer_settings, sort_keys=True)
    if key not in _tokenizers:
        _tokenizers[key] = Tokenizer(TokenizerConfig(**tokenizer_settings))
    tokenizer = _tokenizers[key]
    with open(part.path, "rb") as handle:
        handle.seek(part.start)
        data = handle.read(part.end - part.start)
    lines = join_pieces(iter_pieces(part.path, encoding, stream=io.BytesIO(data), start=part.start))
    tokens: list[str] = []
    for sentence in tokenizer.iter_sentences(lines):
        tokens += sentence
    words = list(dict.fromkeys(tokens))  # the range's own vocabulary, in order of appearance
    local = {w: i for i, w in enumerate(words)}
    local_ids = np.fromiter(map(local.__getitem__, tokens), dtype=np.uint32, count=len(tokens))
    stem = Path(staging) / f"range-{part.index:06d}"
    local_ids.tofile(f"{stem}.ids")
    Path(f"{stem}.words").write_text("\n".join(words), encoding="utf-8", errors="surrogatepass")
    return part.index, words, np.bincount(local_ids, minlength=len(words)), len(local_ids)


def _ours(name: str) -> bool:
    return bool(SHARD_NAME.match(name)) or name in (MANIFEST, VOCAB_FILE) or name.startswith((_STAGING, f".{MANIFEST}.tmp-"))


def check_output(out_dir: Path, force: bool) -> None:
    """Refuse to write where a dataset (without ``force``) or anything but an unfinished dataset is."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir}: exists and is not a directory; choose another {option('out_dir')}")
    existing = out_dir if out_dir.is_dir() else next(p for p in out_dir.parents if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise OutputExistsError(f"{out_dir}: not writable; choose a directory you can write to")
    if not out_dir.is_dir():
        return
    if (out_dir / MANIFEST).is_file() and not force:
        raise OutputExistsError(f"{out_dir}: already holds a prepared dataset; pass {option('force', True)} to replace it")
    foreign = sorted(p.name for p in out_dir.iterdir() if not _ours(p.name))
    if foreign:
        raise OutputExistsError(f"{out_dir}: holds other files ({foreign[0]}...); choose an empty or new directory")


def _clear(out_dir: Path) -> None:
    """Remove a previous dataset, manifest first, so no moment shows a manifest over half-written shards."""
    (out_dir / MANIFEST).unlink(missing_ok=True)
    fsync_dir(out_dir)
    for entry in out_dir.iterdir():
        if _ours(entry.name):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)


def _run(tasks: list[tuple], workers: int) -> Any:
    """Task results in order: in this process for one worker, else a pool of fresh processes."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_tokenize_range, tasks)
        return
    # Fork is cheapest and needs no importable __main__, but forking a process that already runs
    # TensorFlow's threads can deadlock; then fresh ("spawn") processes are used.
    method = "spawn" if "tensorflow" in sys.modules else "fork"
    with multiprocessing.get_context(method).Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap(_tokenize_range, tasks)


def prepare(
    corpus: Sequence[str | Path],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    tokenizer_config: TokenizerConfig = TokenizerConfig(),
    max_vocab: int | None = 20_000,
    min_count: int = 1,
    encoding: str = "utf-8",
    shard_tokens: int = SHARD_TOKENS,
    chunk_bytes: int = CHUNK_BYTES,
    force: bool = False,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> dict[str, Any]:
    """Tokenise ``corpus`` into a dataset directory for ``wordrnn train DATA_DIR``; returns its manifest.

    Args:
        workers: tokenising processes (default: the CPUs this process may use).
        max_vocab, min_count: vocabulary limits, as for ``wordrnn train``.
        shard_tokens: tokens per shard file.
        chunk_bytes: text per worker task.
        on_progress: called with (bytes tokenised, total bytes) after every task.
    """
    workers = _check_settings(workers, max_vocab, min_count, shard_tokens, chunk_bytes)
    out_dir = Path(out_dir)
    check_output(out_dir, force)
    created = next((p for p in (*reversed(out_dir.parents), out_dir) if not p.exists()), None)  # made by this run
    try:
        return _prepare(corpus, out_dir, workers, tokenizer_config, max_vocab, min_count, encoding, shard_tokens,
                        chunk_bytes, on_progress)
    except BaseException:  # a failed or interrupted first run leaves no empty directory behind
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _prepare(corpus: Sequence[str | Path], out_dir: Path, workers: int, tokenizer_config: TokenizerConfig,
             max_vocab: int | None, min_count: int, encoding: str, shard_tokens: int, chunk_bytes: int,
             on_progress: Callable[[int, int], None]) -> dict[str, Any]:
    """``prepare`` once its settings and output are checked: tokenise, build the vocabulary, write."""
    started = time.perf_counter()
    with readable_by_name(corpus) as paths:  # its workers open the files
        ranges = plan_ranges(paths, chunk_bytes, tokenizer_config.eos, encoding)
        out_dir.mkdir(parents=True, exist_ok=True)
        _clear(out_dir)
        staging = out_dir / f"{_STAGING}{os.getpid()}"
        staging.mkdir()
        try:
            counts, tokens = _tokenize(ranges, encoding, tokenizer_config, staging, workers, on_progress)
            vocab = Vocabulary.build(counts, max_vocab, min_count)
            _check_shard_count(tokens, shard_tokens)
            written = _write_dataset(out_dir, staging, ranges, vocab, shard_tokens)
            written["vocab"].update(max_vocab=max_vocab, min_count=min_count)
            seconds = time.perf_counter() - started
            manifest = {
                "format": FORMAT, "format_version": FORMAT_VERSION,
                "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wordrnn_version": __version__,
                "tokenizer": to_dict(tokenizer_config), "encoding": encoding,
                "sources": {"files": [str(c) for c in corpus], "bytes": sum(r.end - r.start for r in ranges)},
                **written, "tokens": tokens, "sentences": int(counts.get(EOS, 0)), "unk_tokens": int(vocab.counts[UNK_ID]),
                "prepare": {"seconds": round(seconds, 3), "workers": workers, "ranges": len(ranges),
                            "tokens_per_second": round(tokens / max(seconds, 1e-9))},
            }
            write_durable(out_dir / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
            fsync_dir(out_dir)
        except OSError as exc:
            reason = "the disk is full" if exc.errno == 28 else (exc.strerror or str(exc))
            raise ResourceError(f"cannot prepare the dataset in {out_dir}: {reason}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _check_settings(workers: int | None, max_vocab: int | None, min_count: int, shard_tokens: int,
                    chunk_bytes: int) -> int:
    """Refuse impossible settings before any file is read; returns the number of workers to use
    (by default the CPUs this process may run on, which a container or ``taskset`` may limit)."""
    check_limits(max_vocab, min_count)
    if workers is not None and workers < 1:
        raise ConfigError(f"{option('workers')} must be 1 or more, got {workers}")
    if shard_tokens < MIN_SHARD_TOKENS:
        raise ConfigError(f"{option('shard_tokens')} must be at least {MIN_SHARD_TOKENS:,}, got {shard_tokens} "
                          "(smaller shards only make more files)")
    if chunk_bytes < 1:
        raise ConfigError("the chunk size must be positive")
    return workers or len(os.sched_getaffinity(0))


def _check_shard_count(tokens: int, shard_tokens: int) -> None:
    """Refuse to write more than ``MAX_SHARDS`` shard files (before the first is written)."""
    shards = -(-tokens // shard_tokens)
    if shards > MAX_SHARDS:
        raise ConfigError(f"{tokens:,} tokens in shards of {shard_tokens:,} would write {shards:,} shard files "
                          f"(at most {MAX_SHARDS:,}); give a {option('shard_tokens')} of at least "
                          f"{-(-tokens // MAX_SHARDS):,}")


def _tokenize(ranges: list[Range], encoding: str, tokenizer_config: TokenizerConfig, staging: Path, workers: int,
              on_progress: Callable[[int, int], None]) -> tuple[Counter[str], int]:
    """Tokenise every range into ``staging`` (in ``workers`` processes); returns the merged word counts
    and the number of tokens. Only counts come back to this process, so its memory grows with the
    number of distinct words, never with the corpus."""
    counts: Counter[str] = Counter()
    tokens = done = 0
    total_bytes = sum(r.end - r.start for r in ranges)
    tasks = [(r, encoding, to_dict(tokenizer_config), str(staging)) for r in ranges]
    for index, words, word_counts, n in _run(tasks, workers):
        counts.update(dict(zip(words, word_counts.tolist())))
        tokens += n
        done += ranges[index].end - ranges[index].start
        on_progress(done, total_bytes)
    if not counts:
        raise CorpusError("the corpus holds no words (empty or whitespace only); give a text with some sentences")
    return counts, tokens


def _write_dataset(out_dir: Path, staging: Path, ranges: list[Range], vocab: Vocabulary,
                   shard_tokens: int) -> dict[str, Any]:
    """Write the shards and the vocabulary file; returns their part of the manifest.

    Each staged range's local ids are mapped to vocabulary ids and appended, in corpus order,
    to the shards; its files are removed once written, so staging shrinks as the shards grow.
    The id type is the smallest that holds every id.
    """
    dtype_name = "uint16" if len(vocab) <= 65535 else "uint32"
    writer = ShardWriter(out_dir, np.dtype(DTYPES[dtype_name]), shard_tokens)
    for part in ranges:
        stem = staging / f"range-{part.index:06d}"
        text = Path(f"{stem}.words").read_text(encoding="utf-8", errors="surrogatepass")
        lookup = np.asarray(vocab.encode(text.split("\n") if text else []), dtype=np.uint32)
        local = np.fromfile(f"{stem}.ids", dtype=np.uint32)
        writer.write(lookup[local] if len(local) else local)
        Path(f"{stem}.ids").unlink()
    shards = writer.close()
    vocab_bytes = json.dumps(vocab.to_json(), ensure_ascii=False).encode("utf-8")
    write_durable(out_dir / VOCAB_FILE, vocab_bytes)
    return {"vocab": {"file": VOCAB_FILE, "size": len(vocab), "sha256": hashlib.sha256(vocab_bytes).hexdigest()},
            "dtype": dtype_name, "shard_tokens": shard_tokens, "shards": shards}
