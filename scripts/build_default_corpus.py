"""Build the default model's training, development and test text from ../shared/corpora.

The default English model trains on a broad mix (Brown, movie and product reviews, pros and cons,
inaugural addresses). Every source is split *before training* into three contiguous parts, so
the model card can report figures on text the model never saw and that nothing was tuned on:

- ``train``: what the network and the shipped trigram learn from;
- ``dev``: early stopping, learning-rate choices and the mixture weights are fitted here;
- ``test``: the figures reported in the card and the README (never used for a decision).

Brown's ``train.txt`` is all training text; its ``valid.txt`` is split in half (dev, test).
Each other source keeps its first 90 % for training, then 5 % dev and 5 % test, cut at a blank
line (a document boundary) where one is near. Raw sources (pros and cons, inaugural addresses)
are tokenized with wordrnn's own tokenizer, so that every output file is one sentence per line
of space-separated tokens in the original case; Brown's quote tokens (`` and '') become plain
quotes. The files are read with ``--pretokenized``; case folding is the model's choice.
Each part is written per source (``train-brown.txt``...) and merged (``train.txt``...).

Usage: python scripts/build_default_corpus.py --out /work/runs/default-corpus
Prints one JSON line per output file (tokens, lines).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wordrnn.config import TokenizerConfig  # noqa: E402
from wordrnn.text.tokenizer import Tokenizer, map_brown_quotes  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
# name -> (file under CORPORA, already tokenized?)
SOURCES = {
    "movie_reviews": ("extra/movie_reviews.txt", True),
    "product_reviews": ("extra/product_reviews.txt", True),
    "pros_cons": ("extra/pros_cons.txt", False),
    "inaugural": ("extra/inaugural.txt", False),
}
SNAP_LINES = 400  # how far a cut may move to land on a blank line


def cut(lines: list[str], fraction: float) -> int:
    """The line index nearest ``fraction`` of the way through, moved to a blank line if one is close."""
    at = int(len(lines) * fraction)
    for offset in range(SNAP_LINES):
        for i in (at + offset, at - offset):
            if 0 < i < len(lines) and not lines[i].strip():
                return i
    return at


def sentences(lines: list[str], pretokenized: bool, tokenizer: Tokenizer) -> list[str]:
    """One line of space-separated tokens per non-blank input line."""
    out = []
    for line in lines:
        words = line.split() if pretokenized else tokenizer.words(line)
        if words:
            out.append(" ".join(map_brown_quotes(words)))
    return out


def split_source(path: Path, pretokenized: bool, tokenizer: Tokenizer) -> dict[str, list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    a, b = cut(lines, 0.90), cut(lines, 0.95)
    return {part: sentences(chunk, pretokenized, tokenizer)
            for part, chunk in (("train", lines[:a]), ("dev", lines[a:b]), ("test", lines[b:]))}


def build(out: Path) -> list[dict]:
    tokenizer = Tokenizer(TokenizerConfig())
    brown_valid = (CORPORA / "brown" / "valid.txt").read_text(encoding="utf-8").splitlines()
    half = len(brown_valid) // 2
    parts = {"brown": {
        "train": sentences((CORPORA / "brown" / "train.txt").read_text(encoding="utf-8").splitlines(), True, tokenizer),
        "dev": sentences(brown_valid[:half], True, tokenizer),
        "test": sentences(brown_valid[half:], True, tokenizer),
    }}
    for name, (rel, pretokenized) in SOURCES.items():
        parts[name] = split_source(CORPORA / rel, pretokenized, tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for part in ("train", "dev", "test"):
        merged = []
        for name, split in parts.items():
            merged.extend(split[part])
            rows.append(write(out / f"{part}-{name}.txt", split[part]))
        rows.append(write(out / f"{part}.txt", merged))
    return rows


def write(path: Path, lines: list[str]) -> dict:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"bench": "default_corpus", "file": path.name, "lines": len(lines),
            "tokens": sum(len(line.split()) for line in lines)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not (CORPORA / "brown" / "train.txt").is_file():
        raise SystemExit(f"corpora not found under {CORPORA}")
    for row in build(args.out):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
