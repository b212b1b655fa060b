"""Reading text corpora: files, directories of ``*.txt`` files, or standard input.

Files are streamed in fixed-size chunks, never whole and never a whole line at a
time, so a 200 MB file without a line break costs no more memory than a small
one. Decoding errors name the file and the byte offset. Standard input, which can
be read only once, is read again from a ``SpooledInput``.
"""

from __future__ import annotations

import codecs
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from wordrnn.errors import CorpusError, option

CHUNK_BYTES = 1 << 20
# A line longer than this is handed on in pieces, cut at whitespace where possible.
MAX_PIECE_CHARS = 1 << 16
STDIN = "-"


class SpooledInput:
    """Standard input, copied as it is read so that it can be read again (counted, then encoded).

    The copy is an anonymous temporary file (``tempfile.TemporaryFile``: ``O_TMPFILE`` on Linux,
    elsewhere removed from its directory as soon as it is made), so it has no name: a crash or
    ``kill -9`` leaves nothing of it behind, the system frees it with the process, and no one else
    can open it. Messages name standard input (``str()`` is ``"-"``), never the copy.

    Args:
        source: the stream to copy (``sys.stdin.buffer``).
    """

    def __init__(self, source: BinaryIO) -> None:
        self._copy = tempfile.TemporaryFile(prefix="wordrnn-stdin-")
        try:
            shutil.copyfileobj(source, self._copy)
        except BaseException:
            self._copy.close()
            raise

    def __str__(self) -> str:
        return STDIN

    def rewound(self) -> BinaryIO:
        """The copy, from its start (one reading at a time: each rewinds it)."""
        self._copy.seek(0)
        return self._copy  # type: ignore[return-value]

    def close(self) -> None:
        self._copy.close()


Source = str | Path | SpooledInput


def resolve_paths(paths: Iterable[Source]) -> list[Source]:
    """Expand directories into their ``*.txt`` files (sorted) and check that every path exists."""
    resolved: list[Source] = []
    for raw in paths:
        if isinstance(raw, SpooledInput):
            resolved.append(raw)
            continue
        if str(raw) == STDIN:
            resolved.append(STDIN)
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.txt") if p.is_file())
            if not found:
                raise CorpusError(f"{path}: directory has no *.txt files; point to a text file or a folder of .txt files")
            resolved.extend(found)
        elif path.is_file():
            resolved.append(path)
        elif path.exists():
            raise CorpusError(f"{path}: not a regular file; give a text file, a directory or '-' for standard input")
        else:
            raise CorpusError(f"{path}: no such file or directory; check the path")
    if not resolved:
        raise CorpusError("no corpus given; name one or more text files, directories, or '-' for standard input")
    return resolved


def check_encoding(encoding: str) -> str:
    """``encoding`` if it names a text encoding; ``CorpusError`` otherwise.

    Python's codec registry also holds bytes-to-bytes and str-to-str codecs (base64, zlib, rot13):
    their decoders return bytes or want str, which failed deep inside the reader, not as a message.
    """
    try:
        "".encode(encoding)
        b"".decode(encoding)
    except LookupError as exc:
        known = "is not a text encoding" in str(exc)
        raise CorpusError(f"{'encoding ' if known else 'unknown encoding '}{encoding!r}"
                          f"{' is not a text encoding' if known else ''}; use a Python codec name such as "
                          "utf-8 or latin-1") from None
    return encoding


def iter_pieces(
    path: Source, encoding: str = "utf-8", stream: BinaryIO | None = None, start: int = 0
) -> Iterator[str]:
    """Yield the text of one file in pieces; a piece ending in ``"\\n"`` ends a line.

    Line endings (``\\r\\n``, ``\\r``) are unified, a leading BOM is dropped. Binary
    files (NUL bytes) and undecodable bytes raise CorpusError naming the file and offset.
    ``start`` is the byte offset at which ``stream`` begins inside the file (``wordrnn prepare``
    reads files in ranges), so error offsets stay true; a BOM is only dropped at offset 0.
    """
    name = "standard input" if str(path) == STDIN else str(path)
    if stream is None and isinstance(path, SpooledInput):
        stream = path.rewound()
    try:
        handle = stream or (sys.stdin.buffer if str(path) == STDIN else open(path, "rb"))
    except OSError as exc:
        raise CorpusError(f"{name}: cannot read ({exc.strerror}); check the path and its permissions") from None
    decoder = codecs.getincrementaldecoder(check_encoding(encoding))(errors="strict")
    offset = start
    pending = ""
    first = start == 0
    try:
        while True:
            chunk = handle.read(CHUNK_BYTES)
            if b"\x00" in chunk and encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig", "ascii", "latin1"):
                at = offset + chunk.index(b"\x00")
                raise CorpusError(f"{name}: looks like a binary file (NUL byte at byte {at}); give plain text")
            buffered = len(decoder.getstate()[0])  # bytes of a character cut by the previous chunk
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                at = offset - buffered + exc.start
                raise CorpusError(
                    f"{name}: not valid {encoding} at byte {at}; convert it to UTF-8 or pass {option('encoding')} (e.g. latin-1)"
                ) from None
            offset += len(chunk)
            if first and text:
                text = text.lstrip("\ufeff")
                first = not text  # only BOMs so far: the next piece still starts the file, whatever the chunk size
            pending += text
            if chunk and pending.endswith("\r"):
                keep, pending = pending[:-1], "\r"  # a \r\n may straddle two chunks
            else:
                keep, pending = pending, ""
            keep = keep.replace("\r\n", "\n").replace("\r", "\n")
            yield from _split_pieces(keep)
            if not chunk:
                break
    finally:
        if stream is None and str(path) != STDIN:
            handle.close()


def _split_pieces(text: str) -> Iterator[str]:
    lines = text.split("\n")
    for line in lines[:-1]:
        yield from _cut_long(line)
        yield "\n"
    if lines[-1]:
        yield from _cut_long(lines[-1])


def _cut_long(line: str) -> Iterator[str]:
    while len(line) > MAX_PIECE_CHARS:
        cut = line.rfind(" ", 0, MAX_PIECE_CHARS)
        cut = cut if cut > 0 else MAX_PIECE_CHARS
        yield line[:cut]
        line = line[cut:]
    if line:
        yield line


def iter_lines(paths: Iterable[Source], encoding: str = "utf-8") -> Iterator[str]:
    """Lines of every file in turn (without their line breaks); over-long lines arrive in pieces.

    A file that does not end with a line break still ends its last line, so two files never
    run together into one sentence.
    """
    for path in resolve_paths(paths):
        yield from join_pieces(iter_pieces(path, encoding))


def join_pieces(pieces: Iterable[str]) -> Iterator[str]:
    """Lines from the pieces of one file (or of a range of whole lines of it); see ``iter_lines``."""
    current: list[str] = []
    for piece in pieces:
        if piece == "\n":
            yield "".join(current)
            current = []
        elif current and len(current[0]) + len(piece) > MAX_PIECE_CHARS:
            yield from current  # flush long runs as separate lines' worth of words
            current = [piece]
        else:
            current.append(piece)
    if current:
        yield "".join(current)
