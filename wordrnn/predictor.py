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
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .beam import beam_search
from .errors import ConfigError, CorpusError, ModelFormatError, WordRNNWarning
from .generator import feedback, prime
from .runtime import StepRunner, open_runner
from .sampling import Sampler, check_k, check_options, top_ids
from .saved import SavedModel, find_model
from .tokenizer import Tokenizer
from .vocab import EOS_ID, UNK_ID, Vocabulary

NEVER_SUGGESTED = (EOS_ID, UNK_ID)
NEVER_GENERATED = (UNK_ID,)
RUNTIMES = ("auto", "keras", "litert")
_UNDO_STATES = 512  # recurrent states kept for cheap rewinding; older ones are recomputed
_SCORE_CHUNK = 256  # steps per ``prime`` call when scoring, so long texts never hold every output


def rank(probs: np.ndarray, vocab: Vocabulary, prefix: str = "", k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` best suggestions from a next-word distribution, best first.

    Without a prefix: the most probable next words with their model probabilities (``</s>`` and
    ``<unk>`` are never offered, so these need not sum to one). With a prefix: the most probable
    vocabulary words starting with it, renormalised over that prefix set (found by binary search
    in the vocabulary's sorted index). Public so a caller can rank an adjusted distribution
    (e.g. the REPL's adaptation cache) exactly as the predictor does.
    """
    k = check_k(k)
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if prefix:
        ids = vocab.prefix_ids(prefix)
        if not len(ids):
            return []
        weights = p[ids]
        total = weights.sum()
        weights = weights / total if total > 0 else np.full(len(ids), 1.0 / len(ids))
        return [(vocab.words[ids[i]], float(weights[i])) for i in top_ids(weights, k)]
    weights = p.copy()
    weights[list(NEVER_SUGGESTED)] = -1.0
    return [(vocab.words[i], float(p[i])) for i in top_ids(weights, min(k, len(p) - len(NEVER_SUGGESTED)))]


def check_words(n_words: int) -> int:
    if isinstance(n_words, bool) or not isinstance(n_words, (int, np.integer)) or n_words < 0:
        raise ConfigError(f"-n (the number of words) must be a whole number of 0 or more, got {n_words!r}")
    return int(n_words)


@dataclass(frozen=True)
class Completion:
    """What ``complete`` found: the finished context words, the trailing prefix, the suggestions."""

    context: list[str]
    prefix: str
    suggestions: list[tuple[str, float]]


@dataclass(frozen=True)
class Score:
    """How well the model predicts a text (see ``Predictor.score``)."""

    log_prob: float
    perplexity: float
    tokens: int


class Session:
    """An incremental context: feed words one at a time; the recurrent state is kept.

    Feeding words one by one gives exactly the probabilities of processing the whole context
    at once. Recent states are kept so ``rewind``/``sync`` (a keyboard's backspace) cost one step.
    """

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.reset()

    def reset(self) -> None:
        """Forget the context: back to the start-of-text state."""
        self._probs, start = self.predictor.start()
        self._words: list[str] = []
        self._ids: list[int] = []
        self._states: dict[int, list[np.ndarray]] = {0: start}  # state after n words

    @property
    def words(self) -> tuple[str, ...]:
        """The words fed so far, as given (``</s>`` marks a line end)."""
        return tuple(self._words)

    @property
    def ids(self) -> tuple[int, ...]:
        """Their vocabulary ids (unknown words are ``<unk>``'s id, 1)."""
        return tuple(self._ids)

    @property
    def state(self) -> list[np.ndarray]:
        """The recurrent state after the last word (batch 1)."""
        return self._states[len(self._ids)]

    def __len__(self) -> int:
        return len(self._ids)

    def probabilities(self) -> np.ndarray:
        """A copy of the full (V,) next-word distribution (``</s>`` and ``<unk>`` included; sums to 1)."""
        return self._probs.copy()

    def feed(self, word: str) -> None:
        """Read one word (``"</s>"`` for a line end); an unknown word is read as ``<unk>`` with a warning."""
        self.feed_words([word])

    def feed_words(self, words: Iterable[str]) -> None:
        words = list(words)
        for word, word_id in zip(words, self.predictor.ids(words)):
            self._advance(word, word_id)

    def feed_text(self, text: str) -> None:
        """Read every word of ``text``, a line break as ``</s>``; a trailing partial word is read too."""
        self.feed_words(self.predictor.tokenizer.tokenize(text))

    def sync(self, text: str) -> str:
        """Make the context match typed ``text``; returns its trailing partial word (the prefix).

        Only what changed is recomputed: the words shared with the current context keep their
        state, so calling this on every keystroke costs at most a step per changed word.
        """
        words, prefix = self.predictor.tokenizer.split_context(text)
        common = 0
        for old, new in zip(self._words, words):
            if old != new:
                break
            common += 1
        self.rewind(len(self._words) - common)
        self.feed_words(words[common:])
        return prefix

    def rewind(self, n: int = 1) -> None:
        """Drop the last ``n`` words, restoring the state and probabilities before them."""
        target = len(self._ids) - max(0, min(n, len(self._ids)))
        if target == len(self._ids):
            return
        if target == 0:
            self.reset()
            return
        kept = max(i for i in self._states if i < target)
        replay = list(zip(self._words[kept:target], self._ids[kept:target]))
        del self._words[kept:], self._ids[kept:]
        self._states = {i: s for i, s in self._states.items() if i <= kept}
        for word, word_id in replay:
            self._advance(word, word_id)

    def visible_probabilities(self) -> np.ndarray:
        """The (V,) distribution of the next *typed* word.

        Typed text has no line breaks between sentences, so a predicted sentence end is invisible:
        its probability goes to the words that would follow it, p(w) + p(</s>) p(w | ..., </s>).
        Without this, after "He was there." (where the model mostly expects ``</s>``) every word
        would look improbable and the bar would echo the cache instead of offering "The", "He"...
        """
        key = (len(self._ids), id(self._probs))
        if getattr(self, "_visible_key", None) != key:
            probs = self._probs.copy()
            end = float(probs[EOS_ID])
            if end > 0.01:
                after, _ = self.predictor.runner.step(np.array([EOS_ID]), self.state)
                probs = probs + end * np.asarray(after[0], dtype=np.float32)
                probs[EOS_ID] = end
            self._visible, self._visible_key = probs, key
        return self._visible.copy()

    def suggest(self, prefix: str = "", k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` best next typed words, or completions of ``prefix`` (see ``rank``, ``visible_probabilities``)."""
        return rank(self.visible_probabilities(), self.predictor.vocab, prefix, k)

    def copy(self) -> Session:
        """An independent session with the same context (states are shared read-only)."""
        twin = Session.__new__(Session)
        twin.predictor, twin._probs = self.predictor, self._probs
        twin._words, twin._ids, twin._states = list(self._words), list(self._ids), dict(self._states)
        return twin

    def iter_generate(self, n_words: int, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None, seed: int | None = None, stop_at_eos: bool = False) -> Iterator[str]:
        """Continue the text from this context, yielding each word as soon as it is chosen.

        Each chosen word is fed back as the next input (``generator.feedback``). ``<unk>`` is never
        produced; ``</s>`` may be (a line break) and with ``stop_at_eos`` ends the text, unyielded.
        The session itself is not changed. Options are validated here, before the first word.
        """
        n_words = check_words(n_words)
        sampler = Sampler(temperature, top_k, top_p, seed, banned=NEVER_GENERATED)
        return self._generate(n_words, sampler, stop_at_eos)

    def _generate(self, n_words: int, sampler: Sampler, stop_at_eos: bool) -> Iterator[str]:
        words = self.predictor.vocab.words
        for chosen in feedback(self.predictor.runner, self._probs[None], self.state, n_words,
                               lambda output: np.array([sampler(output)])):
            if stop_at_eos and int(chosen[0]) == EOS_ID:
                return
            yield words[int(chosen[0])]

    def beam_search(self, n_words: int, beam_width: int = 3, stop_at_eos: bool = False) -> list[str]:
        """The most probable ``n_words`` continuation found with a beam of ``beam_width``."""
        n_words, beam_width = check_words(n_words), check_k(beam_width, "--beam")
        best = beam_search(self.predictor.runner, self._probs[None], self.state, n_words, beam_width,
                           NEVER_GENERATED, EOS_ID if stop_at_eos else None)[0]
        ids = best.ids[:-1] if best.finished else best.ids
        return [self.predictor.vocab.words[i] for i in ids]

    def _advance(self, word: str, word_id: int) -> None:
        output, state, _ = prime(self.predictor.runner, [word_id], self.state)
        self._words.append(word)
        self._ids.append(word_id)
        # Copies: a runner may hand out views of buffers it reuses on the next call.
        self._states[len(self._ids)] = [np.array(s, dtype=np.float32) for s in state]
        if len(self._ids) > _UNDO_STATES:  # keep the start state and the most recent ones
            self._states.pop(len(self._ids) - _UNDO_STATES, None)
        self._probs = np.array(output[0], dtype=np.float32)


class Predictor:
    """Suggestions, completion, generation and scoring with a trained word model.

    Args:
        saved: the model directory (configs, vocabulary).
        runner: any ``StepRunner`` for it (Keras or LiteRT).
    """

    def __init__(self, saved: SavedModel, runner: StepRunner) -> None:
        if saved.vocab is None or saved.model_config.input_kind != "tokens":
            raise ModelFormatError(f"{saved.path}: is a numeric-series model, not a word model; "
                                   "give a model trained with `wordrnn train` on text")
        self.saved = saved
        self.runner = runner
        self.vocab: Vocabulary = saved.vocab
        self.tokenizer = Tokenizer(saved.tokenizer_config)
        self._start: tuple[np.ndarray, list[np.ndarray]] | None = None

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
            from . import checkpoint as ckpt

            stored = ckpt.read_arrays(self.path, self.saved.manifest, "start_state")
            for i in range(len(stored)):
                if state[i].shape[1:] != stored[f"state_{i}"].shape:
                    raise ModelFormatError(f"{self.path}: the start state does not fit the model; the directory is damaged")
                state[i] = stored[f"state_{i}"][None].astype(np.float32)
        return state

    def ids(self, words: Sequence[str]) -> list[int]:
        """Vocabulary ids of typed words (``"i"`` finds ``"I"``); one warning lists any unknown ones."""
        ids = [self.vocab.lookup(w) for w in words]
        unknown = list(dict.fromkeys(w for w, i in zip(words, ids) if i == UNK_ID and w != self.vocab.words[UNK_ID]))
        if unknown:
            shown = ", ".join(repr(w) for w in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            warnings.warn(f"not in the model's vocabulary, read as <unk>: {shown}", WordRNNWarning, stacklevel=3)
        return ids

    def session(self, text: str = "") -> Session:
        """A new incremental context, after reading ``text`` (see ``Session``)."""
        session = Session(self)
        if text:
            session.feed_text(text)
        return session

    def complete(self, text: str, k: int = 3, complete_known_words: bool = False) -> Completion:
        """Split typed text into context and prefix and rank the suggestions for it.

        Args:
            complete_known_words: treat a trailing vocabulary word as a prefix too (a keyboard's
                view while the word is being typed: "the next" offers "next", "Next"...); by default
                it is a finished word and the next words are suggested.
        """
        k = check_k(k)
        session = Session(self)
        prefix = session.sync(text)
        if prefix and not complete_known_words and self.vocab.lookup(prefix) != UNK_ID:
            # "the next" ends on a finished word: what comes after it is wanted, not its completions
            session.feed(prefix)
            prefix = ""
        return Completion(list(session.words), prefix, session.suggest(prefix, k))

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
        n_words, beam_width = check_words(n_words), check_k(beam_width, "--beam")
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

    def detokenize(self, words: Iterable[str]) -> str:
        """Readable text from words (spacing around punctuation, a line break per ``</s>``)."""
        return self.tokenizer.detokenize(words)


def load(path: str | Path | None = None, runtime: str = "auto") -> Predictor:
    """Open a word model for prediction.

    Args:
        path: model directory; default ``$WORDRNN_MODEL``, then the bundled default model.
        runtime: "auto" (the fastest available), "keras" or "litert" (see ``runtime.open_runner``).
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    saved = SavedModel.load(find_model(path))
    if saved.model_config.input_kind != "tokens":
        raise ModelFormatError(f"{saved.path}: is a numeric-series model, not a word model; "
                               "give a model trained with `wordrnn train` on text")
    return Predictor(saved, open_runner(saved, runtime))
