"""Corpus -> vocabulary -> one contiguous array of token ids.

Two streaming passes over the files (count, then encode) so the text is never
held in memory; standard input, which cannot be read twice, is copied to a
temporary file without a name first (``corpus.SpooledInput``), which no crash
can leave behind.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from wordrnn.durable import pid_alive
from wordrnn.text.corpus import STDIN, Source, SpooledInput, iter_lines, resolve_paths
from wordrnn.errors import CorpusError
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import Vocabulary


@contextmanager
def readable_twice(paths: Iterable[Source]) -> Iterator[list[Source]]:
    """The resolved corpus paths, standard input replaced by a ``SpooledInput`` (closed at the end),
    for readers in this process (``iter_lines`` and what uses it)."""
    resolved = resolve_paths(paths)
    spool = SpooledInput(sys.stdin.buffer) if STDIN in resolved else None
    try:
        yield [spool if spool is not None and p == STDIN else p for p in resolved]
    finally:
        if spool is not None:
            spool.close()


STDIN_COPY = "wordrnn-stdin-"


@contextmanager
def readable_by_name(paths: Iterable[str | Path]) -> Iterator[list[str | Path]]:
    """The resolved corpus paths as files that other processes can open (``wordrnn prepare``'s
    workers), standard input copied to a private temporary file named after this process.

    That copy has to have a name, so a killed run leaves it behind: each run first removes the
    copies of processes that no longer run, and its own at the end.
    """
    resolved = resolve_paths(paths)
    temp = Path(tempfile.gettempdir())
    for left in temp.glob(f"{STDIN_COPY}*-*.txt"):
        pid = left.name[len(STDIN_COPY):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            with suppress(OSError):  # another user's, in a shared /tmp
                left.unlink(missing_ok=True)
    spool = None
    try:
        if STDIN in resolved:
            spool = tempfile.NamedTemporaryFile(prefix=f"{STDIN_COPY}{os.getpid()}-", suffix=".txt", delete=False)
            shutil.copyfileobj(sys.stdin.buffer, spool)
            spool.close()
            resolved = [Path(spool.name) if p == STDIN else p for p in resolved]
        yield resolved
    except CorpusError as exc:
        if spool is None or spool.name not in exc.marked:
            raise
        # the spooled copy is ours, not the user's: name what they gave
        raise type(exc)(exc.marked.replace(spool.name, "standard input")) from None
    finally:
        if spool is not None:
            Path(spool.name).unlink(missing_ok=True)


def iter_tokens(paths: Iterable[Source], tokenizer: Tokenizer, encoding: str = "utf-8") -> Iterator[list[str]]:
    """Sentences (token lists ending with ``</s>``) of every file."""
    return tokenizer.iter_sentences(iter_lines(paths, encoding))


def count_words(paths: Iterable[Source], tokenizer: Tokenizer, encoding: str = "utf-8") -> Counter[str]:
    counts: Counter[str] = Counter()
    for sentence in iter_tokens(paths, tokenizer, encoding):
        counts.update(sentence)
    if not counts:
        raise CorpusError("the corpus holds no words (empty or whitespace only); give a text with some sentences")
    return counts


def encode_corpus(paths: Iterable[Source], tokenizer: Tokenizer, vocab: Vocabulary, encoding: str = "utf-8") -> np.ndarray:
    """The whole corpus as one id array (uint16 when the vocabulary fits, else uint32)."""
    dtype, code = (np.uint16, "H") if len(vocab) <= 65535 else (np.uint32, "I")
    ids = array(code)
    for sentence in iter_tokens(paths, tokenizer, encoding):
        ids.extend(vocab.encode(sentence))
    return np.frombuffer(ids, dtype=dtype).copy() if len(ids) else np.zeros(0, dtype=dtype)
