"""Text <-> words, keyboard style, with NLTK tokenizers that need no downloaded data.

A "word" is what a phone keyboard would suggest: contractions (``don't``),
hyphenated words and numbers stay whole, punctuation marks stand alone, and a
line (or paragraph) end becomes the end-of-sentence token. The same code
tokenizes training text and what a user types, so context always matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from wordrnn.config import TokenizerConfig

EOS = "</s>"
UNK = "<unk>"

# Longest token kept whole; longer runs (base64 blobs, hostile input) are cut.
MAX_TOKEN_CHARS = 64

# A word: letters with their combining marks (Devanagari, Arabic harakat, Hebrew niqqud), joined
# by apostrophes, hyphens or the zero-width (non-)joiners of Persian and Indic spelling.
_LETTERS = r"[^\W\u200c\u200d]+"
_WORD = rf"{_LETTERS}(?:['\-\u200c\u200d]{_LETTERS})*"
_PATTERN = (
    r"https?://\S+"  # URLs stay one word
    r"|\d+(?:[.,:]\d+)+"  # 3.14, 1,000, 10:30
    rf"|{_WORD}"
    r"|\.\.\.|--|(?=[^\w\s])\X"  # punctuation, one mark a token; an emoji with its modifiers, flag pairs, ZWJ sequences
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_LOOSE_JOINERS = re.compile(r"(?<!\S)[\u200c\u200d]+|[\u200c\u200d]+(?!\S)")  # not inside a word or emoji
_WORD_END = re.compile(r"[\w'\-]$")
# The Brown Corpus writes its quotation marks as Treebank tokens; a keyboard types plain quotes.
_BROWN_QUOTES = {"``": '"', "''": '"'}


def map_brown_quotes(tokens: list[str]) -> list[str]:
    """Pre-tokenized tokens with Brown's Treebank quote tokens (two backquotes, two apostrophes) as ``"``."""
    return [_BROWN_QUOTES.get(t, t) for t in tokens]


@lru_cache(maxsize=1)
def _ascii_pattern() -> re.Pattern:
    """``_PATTERN`` for ASCII text, in ``re`` (``Tokenizer._pattern``)."""
    return re.compile(_PATTERN.replace(r"\X", "."), re.UNICODE | re.MULTILINE | re.DOTALL)


class Tokenizer:
    """Splits text into words and joins words back into text.

    Args:
        config: case folding, pre-tokenized mode and what counts as a sentence end.
    """

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        self._regexp: Any = None  # compiled on first use (`wordrnn --help` and pre-tokenized text never need it)
        self._detok = None  # NLTK's TreebankWordDetokenizer, imported on first use

    def _pattern(self, text: str) -> Any:
        """What NLTK's RegexpTokenizer(_PATTERN).tokenize does (it compiles with the ``regex`` engine
        and these flags), without importing all of NLTK (~0.15 s) on every `wordrnn complete`.

        ASCII text (most typed context) needs no grapheme clusters: in it ``\X`` after a mark is
        that one character, and once ``normalize`` has removed control characters (``re`` counts
        \x1c-\x1f as spaces, ``regex`` does not) the two engines agree on ``\w`` and ``\s``, so the standard library's ``re`` does the same split and a cold
        ``complete`` skips importing ``regex`` (~10 ms). A test checks the two agree.
        """
        if text.isascii():
            return _ascii_pattern()
        if self._regexp is None:
            import regex

            self._regexp = regex.compile(_PATTERN, regex.UNICODE | regex.MULTILINE | regex.DOTALL)
        return self._regexp

    def normalize(self, text: str) -> str:
        """Unify apostrophes, drop control and bidi-override characters, fold case if asked."""
        text = _LOOSE_JOINERS.sub(" ", _CONTROL.sub(" ", text.translate(_APOSTROPHES)))
        return text.lower() if self.config.lowercase else text

    def words(self, text: str) -> list[str]:
        """The words of one line of text (no end-of-sentence tokens).

        Pre-tokenized text is split on whitespace, with Treebank quote tokens (Brown's) as ``"``.
        """
        text = self.normalize(text)
        tokens = map_brown_quotes(text.split()) if self.config.pretokenized else self._pattern(text).findall(text)
        return [t if len(t) <= MAX_TOKEN_CHARS else t[:MAX_TOKEN_CHARS] for t in tokens]

    def tokenize(self, text: str) -> list[str]:
        """Words of a possibly multi-line text, with sentence ends where lines (paragraphs) end.

        A trailing line break counts as a sentence end; the end of the text itself does not,
        because typed context is usually an unfinished sentence.
        """
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return [t for sentence in self.iter_sentences(lines[:-1]) for t in sentence] + self.words(lines[-1])

    def iter_sentences(self, lines: Iterable[str]) -> Iterator[list[str]]:
        """Token lists for a stream of lines, each ending with the end-of-sentence token.

        In paragraph mode consecutive non-blank lines join into one sentence.
        """
        pending: list[str] = []
        for line in lines:
            words = self.words(line)
            if self.config.eos == "line":
                if words:
                    words.append(EOS)
                    yield words
                continue
            if words:
                pending.extend(words)
            elif pending:
                pending.append(EOS)
                yield pending
                pending = []
        if pending:
            pending.append(EOS)
            yield pending

    def split_context(self, text: str) -> tuple[list[str], str]:
        """Split typed text into the finished words and a trailing partial word (the prefix).

        ``"the nex"`` gives ``(["the"], "nex")``; ``"the next "`` and ``"hello,"`` end on a
        finished word, so their prefix is ``""``.
        """
        tokens = self.tokenize(text)
        if tokens and text and _WORD_END.search(text) and self.normalize(text).endswith(tokens[-1]):
            return tokens[:-1], tokens[-1]
        return tokens, ""

    def detokenize(self, tokens: Iterable[str]) -> str:
        """Join words into readable text: no space before punctuation, a line break per sentence end."""
        lines: list[str] = []
        current: list[str] = []
        for token in tokens:
            if token == EOS:
                lines.append(self._join(current))
                current = []
            else:
                current.append(token)
        if current or not lines:
            lines.append(self._join(current))
        return "\n".join(lines)

    def _join(self, words: list[str]) -> str:
        if self.config.pretokenized:
            return " ".join(words)
        # Treebank rules attach `` and '' to the right side; a plain quote alternates open/close.
        quoted, opened = [], False
        for word in words:
            if word == '"':
                word, opened = ("''", False) if opened else ("``", True)
            quoted.append(word)
        if self._detok is None:
            from nltk.tokenize.treebank import TreebankWordDetokenizer

            self._detok = TreebankWordDetokenizer()
        return self._detok.detokenize(quoted).replace("``", '"').replace("''", '"')
