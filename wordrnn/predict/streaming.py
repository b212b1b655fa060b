"""Streaming generated words as readable text: each new word becomes the piece of text to append.

Spacing depends on the words around it (no space before ``,``), so a word cannot be written on its
own; ``LineStreamer`` re-detokenizes the current line after every word and hands out only the new
tail. The terminal (``wordrnn generate``) and the HTTP server (``POST /v1/generate``) both use it,
so a streamed text reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from wordrnn.text.tokenizer import EOS


# A line that never ends (a model that rarely predicts ``</s>``) is not held whole: past this many
# words only the last ``KEEP_WORDS`` are kept, enough to space the next word as the whole line would.
MAX_LINE_WORDS = 64
KEEP_WORDS = 16


class LineStreamer:
    """Writes detokenized text word by word, appending only to what is already written.

    Its memory and its cost per word are bounded, however long a line grows (``MAX_LINE_WORDS``).

    Args:
        detokenize: words -> text (``Predictor.detokenize``).
        write: receives each piece of text, in order; ``</s>`` writes a line break.
    """

    def __init__(self, detokenize: Callable[[Iterable[str]], str], write: Callable[[str], None]) -> None:
        self.detokenize, self.write = detokenize, write
        self.line: list[str] = []
        self.shown = ""

    def add(self, word: str) -> None:
        if word == EOS:
            self.write("\n")
            self.line, self.shown = [], ""
            return
        if len(self.line) >= MAX_LINE_WORDS:
            self.line = self.line[-KEEP_WORDS:]
            self.shown = self.detokenize(self.line)  # what the next word's text is appended to
        self.line.append(word)
        text = self.detokenize(self.line)
        if not text.startswith(self.shown):  # it reshaped text already shown (rare): continue after it
            self.write(" ")
            self.line, self.shown = [word], ""
            text = self.detokenize(self.line)
        self.write(text[len(self.shown):])
        self.shown = text
