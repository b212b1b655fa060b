"""Corpus -> vocabulary -> one contiguous array of token ids.

Two streaming passes over the files (count, then encode) so the text is never
held in memory; standard input, which cannot be read twice, is spooled to a
temporary file first.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from wordrnn.text.corpus import STDIN, iter_lines, resolve_paths
from wordrnn.errors import CorpusError
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import Vocabulary


@contextmanager
def readable_twice(paths: Iterable[str | Path]) -> Iterator[list[str | Path]]:
    """The resolved corpus paths, with standard input replaced by a spooled temporary file (which
    an error about the text then calls "standard input")."""
    resolved = resolve_paths(paths)
    spool = None
    try:
        if STDIN in resolved:
            spool = tempfile.NamedTemporaryFile(prefix="wordrnn-stdin-", suffix=".txt", delete=False)
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


def iter_tokens(paths: Iterable[str | Path], tokenizer: Tokenizer, encoding: str = "utf-8") -> Iterator[list[str]]:
    """Sentences (token lists ending with ``</s>``) of every file."""
    return tokenizer.iter_sentences(iter_lines(paths, encoding))


def count_words(paths: Iterable[str | Path], tokenizer: Tokenizer, encoding: str = "utf-8") -> Counter[str]:
    counts: Counter[str] = Counter()
    for sentence in iter_tokens(paths, tokenizer, encoding):
        counts.update(sentence)
    if not counts:
        raise CorpusError("the corpus holds no words (empty or whitespace only); give a text with some sentences")
    return counts


def encode_corpus(paths: Iterable[str | Path], tokenizer: Tokenizer, vocab: Vocabulary, encoding: str = "utf-8") -> np.ndarray:
    """The whole corpus as one id array (uint16 when the vocabulary fits, else uint32)."""
    dtype, code = (np.uint16, "H") if len(vocab) <= 65535 else (np.uint32, "I")
    ids = array(code)
    for sentence in iter_tokens(paths, tokenizer, encoding):
        ids.extend(vocab.encode(sentence))
    return np.frombuffer(ids, dtype=dtype).copy() if len(ids) else np.zeros(0, dtype=dtype)
