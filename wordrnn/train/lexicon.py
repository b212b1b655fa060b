"""Attaching an open-vocabulary lexicon to a trained word model (``wordrnn lexicon``).

The lexicon (``text.lexicon``) lets completion offer words the network never learned: the
``wordfreq`` list of everyday English and every word of the training text that missed the
vocabulary cut. Frequencies from both are relative frequencies (per token), so they mix on one
scale; a word in both keeps wordfreq's figure, which comes from far more text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wordrnn.errors import ConfigError
from wordrnn.store import checkpoint as ckpt
from wordrnn.store.saved import SavedModel
from wordrnn.text.lexicon import Lexicon, wordfreq_frequencies
from wordrnn.text.tokenizer import Tokenizer
from wordrnn.text.vocab import SPECIALS

MAX_WORDS = 1_000_000
WORDFREQ_LANGUAGE = "en"


def corpus_frequencies(paths: Sequence[str | Path], saved: SavedModel, pretokenized: bool | None,
                       encoding: str = "utf-8") -> dict[str, float]:
    """Relative frequency of every word of the corpus, read as the model reads text."""
    from wordrnn.config import replace
    from wordrnn.text.encode import count_words, readable_twice

    config = saved.tokenizer_config if pretokenized is None else replace(saved.tokenizer_config, pretokenized=pretokenized)
    with readable_twice(paths) as resolved:
        counts = count_words(resolved, Tokenizer(config), encoding)
    total = sum(c for w, c in counts.items() if w not in SPECIALS) or 1
    return {w: c / total for w, c in counts.items() if w not in SPECIALS}


def add_lexicon(model: str | Path, corpus: Sequence[str | Path] = (), words: int = 100_000, *,
                pretokenized: bool | None = None, encoding: str = "utf-8") -> dict[str, Any]:
    """Build the model's lexicon and store it in its directory (atomically, through the manifest).

    Args:
        corpus: training text whose out-of-vocabulary words join the lexicon.
        words: how many of wordfreq's most frequent English words to take (0: none).
    Returns:
        What was stored: the number of lexicon words and their sources.
    """
    if isinstance(words, bool) or not 0 <= words <= MAX_WORDS:
        raise ConfigError(f"the lexicon takes 0 to {MAX_WORDS:,} wordfreq words, got {words!r}")
    saved = SavedModel.load(model)
    vocab = saved.word_vocab("a lexicon")
    frequencies: dict[str, float] = corpus_frequencies(corpus, saved, pretokenized, encoding) if corpus else {}
    if words:
        frequencies.update(wordfreq_frequencies(words, WORDFREQ_LANGUAGE))
    if not frequencies:
        raise ConfigError("a lexicon needs words: give training text, wordfreq words, or both")
    lexicon = Lexicon.build(vocab, frequencies)
    info = {"words": len(lexicon), "wordfreq_words": words, "wordfreq_language": WORDFREQ_LANGUAGE,
            "corpus": [Path(p).name for p in corpus],
            "max_probability": lexicon.ceiling}  # lets a finished word be told without reading the lexicon
    ckpt.update_files(saved.path, ckpt.MODEL_MANIFEST, {"lexicon.npz": lexicon.to_bytes()}, {"lexicon": info})
    return info
