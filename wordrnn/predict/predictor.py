"""The Python API: next-word suggestions, word completion, generation and scoring.

A ``Predictor`` wraps any ``StepRunner`` (Keras or LiteRT, chosen by
``runtime.open_runner``) and never imports TensorFlow itself. Everything is
driven one step at a time from the start-of-text state (the state after
feeding ``</s>``): a ``Session`` keeps the recurrent state between calls so a
keyboard pays one step per finished word, never for the whole context again.

    >>> import wordrnn
    >>> p = wordrnn.load("my-model")
    >>> p.suggest("the nex")            # completions of "nex", renormalised over them
    >>> s = p.session(); s.feed_text("the cat "); s.suggest(k=3)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.errors import ConfigError, CorpusError, ModelFormatError, option
from wordrnn.predict.generator import prime
from wordrnn.runtime.runner import StepRunner, open_runner
from wordrnn.predict.sampling import check_k, check_options
from wordrnn.store.saved import SavedModel, find_model
from wordrnn.predict.ranking import rank  # noqa: F401  (public here too)
from wordrnn.predict.session import (NEVER_GENERATED, NEVER_SUGGESTED, SENTENCE_ENDS, Session, check_words,  # noqa: F401
                                     word_ids)
from wordrnn.text.lexicon import Lexicon
from wordrnn.text.tokenizer import EOS, Tokenizer
from wordrnn.text.vocab import EOS_ID, Vocabulary

RUNTIMES = ("auto", "keras", "litert")
_SCORE_CHUNK = 256  # steps per ``prime`` call when scoring, so long texts never hold every output


@dataclass(frozen=True)
class Completion:
    """What ``complete`` found: the finished context words, the trailing prefix, the suggestions."""

    context: list[str]
    prefix: str
    suggestions: list[tuple[str, float]]

    def to_json(self) -> dict[str, Any]:
        """The object ``wordrnn complete --json`` prints and ``POST /v1/complete`` returns.

        One definition for both, so a program gets the same answer from the CLI and the server.
        Probabilities keep 6 significant digits; a non-finite one (only a broken model makes it)
        becomes ``null``, since NaN is not JSON.
        """
        return {"context": list(self.context), "prefix": self.prefix,
                "suggestions": [{"word": w, "prob": _rounded(p)} for w, p in self.suggestions]}


@dataclass(frozen=True)
class Score:
    """How well the model predicts a text (see ``Predictor.score``)."""

    log_prob: float
    perplexity: float
    tokens: int

    def to_json(self) -> dict[str, Any]:
        """``{"log_prob", "perplexity", "tokens"}`` (what ``POST /v1/score`` returns), never NaN."""
        return {"log_prob": _finite(self.log_prob), "perplexity": _finite(self.perplexity), "tokens": self.tokens}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _rounded(value: float) -> float | None:
    """A probability as JSON shows it: 6 significant digits (``0.998595``), or None if not finite."""
    return float(f"{value:.6g}") if math.isfinite(value) else None


class Predictor:
    """Suggestions, completion, generation and scoring with a trained word model.

    Args:
        saved: the model directory (configs, vocabulary).
        runner: any ``StepRunner`` for it (Keras or LiteRT).
    """

    def __init__(self, saved: SavedModel, runner: StepRunner) -> None:
        self.saved = saved
        self.runner = runner
        self.vocab: Vocabulary = saved.word_vocab("word prediction")
        self.tokenizer = Tokenizer(saved.tokenizer_config)
        self._start: tuple[np.ndarray, list[np.ndarray]] | None = None
        self._lexicon: list[Lexicon | None] = []  # loaded on the first completion that needs it

    @property
    def path(self) -> Path:
        return self.saved.path

    @property
    def runtime(self) -> str:
        """The runner's name ("keras", "litert", ...)."""
        return str(getattr(self.runner, "name", type(self.runner).__name__))

    def start(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """(V,) probabilities and state after ``</s>``: where every context starts (computed once)."""
        if self._start is None:
            output, state, _ = prime(self.runner, [EOS_ID], self._initial_state())
            if output.shape[-1] != len(self.vocab):
                raise ModelFormatError(f"{self.path}: the model predicts {output.shape[-1]} words but the vocabulary "
                                       f"has {len(self.vocab)}; the directory mixes files of different models")
            self._start = (np.array(output[0], dtype=np.float32), [np.array(s, dtype=np.float32) for s in state])
        return self._start[0].copy(), self._start[1]

    def _initial_state(self) -> list[np.ndarray]:
        """Zeros, or the model's learned start state (``start_state.npz``) for the network's part."""
        state = self.runner.zero_state(1)
        if "start_state" in self.saved.manifest.get("files", {}):
            from wordrnn.store.saved import array_limits

            stored = self.saved.read_arrays("start_state", array_limits(self.saved.model_config))
            names = [f"state_{i}" for i in range(len(stored))]  # any other names: another file (e.g. the weights)
            if set(stored) != set(names) or len(stored) > len(state) or any(
                    state[i].shape[1:] != stored[name].shape for i, name in enumerate(names)):
                raise ModelFormatError(f"{self.path}: the start state does not fit the model; the directory is damaged")
            for i, name in enumerate(names):
                state[i] = stored[name][None].astype(np.float32)
        return state

    def lexicon(self) -> Lexicon | None:
        """The model's open-vocabulary lexicon (``text.lexicon``), or None when it has none.

        Read on first use only: next-word suggestions never need it, so ``complete "the next"``
        does not pay for it. A lexicon the manifest names but that is missing or damaged is an
        error, never a silent fall back to the closed vocabulary.
        """
        if not self._lexicon:
            self._lexicon.append(self.saved.load_lexicon())
        return self._lexicon[0]

    def ids(self, words: Sequence[str]) -> list[int]:
        """Vocabulary ids of typed words (``"i"`` finds ``"I"``); one warning lists any unknown ones."""
        return word_ids(self.vocab, words)

    def session(self, text: str = "", undo_states: int | None = None) -> Session:
        """A new incremental context, after reading ``text`` (see ``Session``).

        Args:
            undo_states: recurrent states kept for cheap rewinding (a server holding many sessions
                keeps fewer: with a word cache in the state each one is a vocabulary-sized vector).
        """
        session = Session(self.runner, self.vocab, self.tokenizer, self.start(), self.lexicon, undo_states,
                          self.saved.lexicon_ceiling())
        if text:
            session.feed_text(text)
        return session

    def complete(self, text: str, k: int = 3, complete_known_words: bool = False,
                 session: Session | None = None) -> Completion:
        """Split typed text into context and prefix and rank the suggestions for it.

        Args:
            complete_known_words: treat a trailing vocabulary word as a prefix too (a keyboard's
                view while the word is being typed: "the next" offers "next", "Next"...); by default
                it is a finished word and the next words are suggested.
            session: a session of this predictor to reuse (``Session.sync`` then recomputes only
                the changed tail of ``text``: what a client typing key by key wants); by default a
                fresh one. The answer is the same either way.
        """
        k = check_k(k)
        session = self.session() if session is None else session
        prefix = session.sync(text)
        typed = text[len(text) - len(prefix):] if prefix else ""  # as typed, before any case folding
        if not complete_known_words and session.ends_on_finished_word(prefix, typed):
            # "the next" ends on a finished word: what comes after it is wanted, not its completions
            session.feed(prefix)
            prefix, typed = "", ""
        return Completion(list(session.words), prefix, session.suggest(prefix, k, typed or None))

    def suggest(self, text: str, k: int = 3, complete_known_words: bool = False) -> list[tuple[str, float]]:
        """``(word, probability)`` pairs, best first.

        If ``text`` ends inside a word (``"the nex"``: a partial word, not one of the vocabulary)
        these are the most probable words starting with it, probabilities renormalised over that
        prefix set; after a finished word (``"the next"``), a space or punctuation they are the most
        probable next words (never ``</s>`` or ``<unk>``); ``complete_known_words=True`` completes
        it instead, as a keyboard does until a space is typed.
        """
        return self.complete(text, k, complete_known_words).suggestions

    def probabilities(self, text: str = "") -> np.ndarray:
        """The full (V,) next-word distribution after every word of ``text``."""
        return self.session(text).probabilities()

    def iter_generate(self, seed_text: str, n_words: int, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None, seed: int | None = None, stop_at_eos: bool = False) -> Iterator[str]:
        """Generated words one at a time (for streaming); see ``generate``."""
        check_words(n_words)
        check_options(temperature, top_k, top_p, seed)
        return self.session(seed_text).iter_generate(n_words, temperature, top_k, top_p, seed, stop_at_eos)

    def generate(self, seed_text: str, n_words: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None, stop_at_eos: bool = False) -> list[str]:
        """Prime on ``seed_text``, then sample ``n_words`` words, feeding each back in.

        Args:
            temperature: > 0; below 1 is more conservative, above 1 more surprising.
            top_k: sample among the k most probable words (``top_k=1`` is greedy and deterministic).
            top_p: nucleus sampling: among the most probable words holding this much mass, in (0, 1].
            seed: reproduce the same text (a ``numpy.random.Generator`` seed).
            stop_at_eos: stop at the first end of sentence (not included).
        Returns:
            The generated words (``"</s>"`` for a line break); ``detokenize`` makes them text.
        """
        return list(self.iter_generate(seed_text, n_words, temperature, top_k, top_p, seed, stop_at_eos))

    def beam_search(self, seed_text: str, n_words: int, beam_width: int = 3, stop_at_eos: bool = False) -> list[str]:
        """The most probable continuation of ``seed_text`` found by beam search (deterministic)."""
        n_words, beam_width = check_words(n_words), check_k(beam_width, option("beam_width"))
        return self.session(seed_text).beam_search(n_words, beam_width, stop_at_eos)

    def score(self, text: str) -> Score:
        """Log-probability (natural log) and perplexity of ``text`` under the model.

        The scored tokens are the words of ``text`` as ``Tokenizer.tokenize`` gives them, including
        ``</s>`` for each line break (a text ending without one has no final ``</s>``). Each is
        scored given the start-of-text state (after ``</s>``) and all tokens before it, over the
        full vocabulary; unknown words are scored as ``<unk>`` (with a warning). Perplexity is
        ``exp(-log_prob / tokens)``. Probabilities are floored at float32's smallest normal number
        so one impossible word gives a huge, not infinite, perplexity.
        """
        words = self.tokenizer.tokenize(text)
        if not words:
            raise CorpusError("the text to score holds no words; give some text")
        ids = self.ids(words)
        floor = float(np.finfo(np.float32).tiny)
        probs, state = self.start()
        total = math.log(max(float(probs[ids[0]]), floor))
        for begin in range(0, len(ids) - 1, _SCORE_CHUNK):
            inputs = ids[begin : begin + _SCORE_CHUNK]
            _, state, outputs = prime(self.runner, inputs, state)
            targets = ids[begin + 1 : begin + 1 + len(inputs)]
            total += sum(math.log(max(float(out[0, t]), floor)) for out, t in zip(outputs, targets))
        return Score(total, math.exp(-total / len(ids)), len(ids))

    def detokenize(self, words: Iterable[str], at_start: bool = True) -> str:
        """Readable text from words (spacing around punctuation, a line break per ``</s>``).

        A case-folded model's words are shown in their usual case, and its sentences start with a
        capital (``at_start``: the first word starts a sentence).
        """
        shown = [self.vocab.shown(w) for w in words]
        if self.tokenizer.config.lowercase:
            for i, word in enumerate(shown):
                starts = shown[i - 1] in SENTENCE_ENDS if i else at_start
                if starts and word != EOS:
                    shown[i] = word[:1].upper() + word[1:]
        return self.tokenizer.detokenize(shown)


def load(path: str | Path | None = None, runtime: str = "auto") -> Predictor:
    """Open a word model for prediction.

    Args:
        path: model directory; default ``$WORDRNN_MODEL``, then the bundled default model.
        runtime: "auto" (the fastest available), "keras" or "litert" (see ``runtime.open_runner``).
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"{option('runtime')} must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    saved = SavedModel.load(find_model(path))
    saved.word_vocab("word prediction")
    return Predictor(saved, open_runner(saved, runtime))
