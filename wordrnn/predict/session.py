"""The incremental context of a keyboard: feed words one at a time, keep the recurrent state.

A ``Session`` pays one recurrent step per new word and never recomputes the whole context; it
also ranks suggestions (``rank``), generates and beam-searches from where it is. It is built from
what it needs (a runner, the vocabulary, the tokenizer and the start-of-text state), so it knows
nothing of ``Predictor``, which makes one with ``Predictor.session``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from wordrnn.predict.beam import beam_search
from wordrnn.errors import ConfigError, WordRNNWarning, option
from wordrnn.predict.generator import feedback, prime
from wordrnn.predict.ranking import best_completion, ends_on_finished_word, open_candidates, rank
from wordrnn.predict.sampling import Sampler, check_k
from wordrnn.runtime.runner import StepRunner
from wordrnn.text.lexicon import Lexicon
from wordrnn.text.tokenizer import EOS, Tokenizer
from wordrnn.text.vocab import EOS_ID, UNK_ID, Vocabulary

NEVER_SUGGESTED = (EOS_ID, UNK_ID)
SENTENCE_ENDS = frozenset({EOS, ".", "!", "?"})
NEVER_GENERATED = (UNK_ID,)
_UNDO_STATES = 512  # recurrent states kept for cheap rewinding by default; older ones are recomputed
_UNDO_BYTES = 64 << 20  # ... unless they would take more memory than this (a continuous cache's are large)


def warn_unknown(words: Sequence[str], stacklevel: int = 2) -> None:
    """One warning naming the typed words the model does not know (read as ``<unk>``)."""
    unknown = list(dict.fromkeys(words))
    if unknown:
        shown = ", ".join(repr(w) for w in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        warnings.warn(f"not in the model's vocabulary, read as <unk>: {shown}", WordRNNWarning, stacklevel=stacklevel + 1)


def word_ids(vocab: Vocabulary, words: Sequence[str]) -> list[int]:
    """Vocabulary ids of typed words (``"i"`` finds ``"I"``); one warning lists any unknown ones."""
    ids = [vocab.lookup(w) for w in words]
    warn_unknown([w for w, i in zip(words, ids) if i == UNK_ID and w != vocab.words[UNK_ID]], stacklevel=3)
    return ids


def check_words(n_words: int) -> int:
    if isinstance(n_words, bool) or not isinstance(n_words, (int, np.integer)) or n_words < 0:
        raise ConfigError(f"{option('n_words')} (the number of words) must be a whole number of 0 or more, got {n_words!r}")
    return int(n_words)


class Session:
    """An incremental context: feed words one at a time; the recurrent state is kept.

    Feeding words one by one gives exactly the probabilities of processing the whole context
    at once. Recent states are kept so ``rewind``/``sync`` (a keyboard's backspace) cost one step.

    Args:
        runner: the step runner that reads each word.
        vocab: the model's vocabulary (words <-> ids).
        tokenizer: splits typed text the way the model's training text was split.
        start: the (V,) probabilities and the state after ``</s>``, where every context begins.
        lexicon: gives the open-vocabulary lexicon (or None), read only when a completion needs it.
        lexicon_ceiling: the largest p(word | not in the vocabulary) of any lexicon word (its
            manifest records it), so telling a finished word from a partial one seldom needs
            the lexicon itself (``ends_on_finished_word``); None: read the lexicon to decide.
        undo_states: how many recent states to keep (at least 1; default 512, fewer when 512 states
            would pass 64 MiB): rewinding further back replays from the newest kept state; the start
            state is always kept.
    """

    def __init__(self, runner: StepRunner, vocab: Vocabulary, tokenizer: Tokenizer,
                 start: tuple[np.ndarray, list[np.ndarray]], lexicon: Callable[[], Lexicon | None] = lambda: None,
                 undo_states: int | None = None, lexicon_ceiling: float | None = None) -> None:
        self.runner, self.vocab, self.tokenizer = runner, vocab, tokenizer
        self._start = start
        self.lexicon, self.lexicon_ceiling = lexicon, lexicon_ceiling
        self.undo_states = default_undo_states(runner) if undo_states is None else max(1, int(undo_states))
        self._before: str | None = None  # the word read just before the start (see ``continued``)
        self.reset()

    def reset(self) -> None:
        """Forget the context: back to the start-of-text state (a ``continued`` session: to where it began)."""
        self._probs, start = self._start[0].copy(), self._start[1]
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

    @property
    def last_word(self) -> str | None:
        """The last word read (for a ``continued`` session, also before its start); None at a text's start."""
        return self._words[-1] if self._words else self._before

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
        for word, word_id in zip(words, word_ids(self.vocab, words)):
            self._advance(word, word_id)

    def feed_text(self, text: str) -> None:
        """Read every word of ``text``, a line break as ``</s>``; a trailing partial word is read too."""
        self.feed_words(self.tokenizer.tokenize(text))

    def sync(self, text: str) -> str:
        """Make the context match typed ``text``; returns its trailing partial word (the prefix).

        Only what changed is recomputed: the words shared with the current context keep their
        state, so calling this on every keystroke costs at most a step per changed word.
        """
        words, prefix = self.tokenizer.split_context(text)
        self.sync_words(words)
        return prefix

    def sync_words(self, words: Sequence[str], base: int = 0) -> bool:
        """Make the words after the first ``base`` equal ``words``; returns whether anything changed.

        The shared leading words keep their states: the rest is rewound and ``words``' new tail fed.
        """
        current = self._words[base:]
        common = 0
        for old, new in zip(current, words):
            if old != new:
                break
            common += 1
        if common == len(current) == len(words):
            return False
        self.rewind(len(current) - common)
        self.feed_words(words[common:])
        return True

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
        # Keyed on the probabilities array itself, which every step and rewind replaces; holding it
        # keeps it alive (an id() alone could be reused by the next array once this one is freed).
        if getattr(self, "_visible_of", None) is not self._probs:
            probs = self._probs.copy()
            end = float(probs[EOS_ID])
            if end > 0.01:
                after, _ = self.runner.step(np.array([EOS_ID]), self.state)
                probs = probs + end * np.asarray(after[0], dtype=np.float32)
                probs[EOS_ID] = end
            self._visible, self._visible_of = probs, self._probs
        return self._visible.copy()

    def suggest(self, prefix: str = "", k: int = 3, typed: str | None = None) -> list[tuple[str, float]]:
        """The ``k`` best next typed words, or completions of ``prefix`` (see ``ranking.rank``).

        Completions include the model's lexicon (words outside its vocabulary), if it has one.
        ``typed`` is the prefix as the user typed it, whose case the completions follow.
        """
        probs = self.visible_probabilities()
        extra, mass = open_candidates(probs, self.lexicon() if prefix else None, prefix, check_k(k))
        found = rank(probs, self.vocab, prefix, k, extra, mass, typed)
        if not prefix and self.tokenizer.config.lowercase and self.at_sentence_start():
            found = [(word[:1].upper() + word[1:], q) for word, q in found]
        return found

    def ends_on_finished_word(self, prefix: str, typed: str | None = None) -> bool:
        """Whether ``prefix``, the last word typed without a space after it, is a finished word.

        As ``ranking.ends_on_finished_word`` decides it on the suggestions the user would see
        (lexicon words included), but without reading the lexicon when no lexicon word can be
        likelier than the best vocabulary completion: p(<unk>) times the lexicon's largest word
        probability is below that completion's probability. A cold ``complete "the next"`` then
        reads no lexicon.
        """
        if not prefix or not self.vocab.knows(prefix):
            return False
        probs = self.visible_probabilities()
        best = best_completion(probs, self.vocab, prefix)
        if best is None or best[0].casefold() != prefix.casefold():
            return False
        if self.lexicon_ceiling is not None and float(probs[UNK_ID]) * self.lexicon_ceiling < best[1]:
            return True
        return ends_on_finished_word(self.vocab, prefix, self.suggest(prefix, 1, typed))

    def at_sentence_start(self) -> bool:
        """Whether the next word starts a sentence (nothing read yet, or after a line end or . ! ?)."""
        return self.last_word is None or self.last_word in SENTENCE_ENDS

    def continued(self) -> Session:
        """A session that starts where this one is: its state and next-word distribution, but none of
        the words read so far (only the last, for ``at_sentence_start``).

        What a keyboard keeps after each committed line: the context lives on in the recurrent state,
        so no history is carried, or copied, line after line. Its ``reset`` comes back to this point.
        """
        twin = Session(self.runner, self.vocab, self.tokenizer, (self._probs, self.state), self.lexicon,
                       self.undo_states, self.lexicon_ceiling)
        twin._before = self.last_word
        return twin

    def copy(self) -> Session:
        """An independent session with the same context (states are shared read-only)."""
        twin = Session.__new__(Session)
        twin.runner, twin.vocab, twin.tokenizer, twin._start = self.runner, self.vocab, self.tokenizer, self._start
        twin.lexicon, twin.lexicon_ceiling = self.lexicon, self.lexicon_ceiling
        twin.undo_states, twin._before = self.undo_states, self._before
        twin._probs = self._probs
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
        words = self.vocab.words
        if sampler.plain and hasattr(self.runner, "parts_stream"):
            # plain sampling from a mixture draws from its parts, never adding three (V,) vectors a word
            stream = self.runner.parts_stream(self._probs, self.state)
            for _ in range(n_words):
                chosen = sampler(stream.parts)
                if stop_at_eos and chosen == EOS_ID:
                    return
                yield words[chosen]
                stream.feed(chosen)
            return
        for chosen in feedback(self.runner, self._probs[None], self.state, n_words,
                               lambda output: np.array([sampler(output)])):
            if stop_at_eos and int(chosen[0]) == EOS_ID:
                return
            yield words[int(chosen[0])]

    def beam_search(self, n_words: int, beam_width: int = 3, stop_at_eos: bool = False) -> list[str]:
        """The most probable ``n_words`` continuation found with a beam of ``beam_width``."""
        n_words, beam_width = check_words(n_words), check_k(beam_width, option("beam_width"))
        best = beam_search(self.runner, self._probs[None], self.state, n_words, beam_width,
                           NEVER_GENERATED, EOS_ID if stop_at_eos else None)[0]
        ids = best.ids[:-1] if best.finished else best.ids
        return [self.vocab.words[i] for i in ids]

    def _advance(self, word: str, word_id: int) -> None:
        output, state, _ = prime(self.runner, [word_id], self.state)
        self._words.append(word)
        self._ids.append(word_id)
        # Copies: a runner may hand out views of buffers it reuses on the next call.
        self._states[len(self._ids)] = [np.array(s, dtype=np.float32) for s in state]
        if len(self._ids) > self.undo_states:  # keep the start state and the most recent ones
            self._states.pop(len(self._ids) - self.undo_states, None)
        self._probs = np.array(output[0], dtype=np.float32)


def default_undo_states(runner: StepRunner) -> int:
    """How many states to keep for undo: 512, or as many as fit in 64 MiB (at least 16)."""
    state_bytes = 4 * sum(runner.state_sizes)  # float32
    return int(min(_UNDO_STATES, max(16, _UNDO_BYTES // max(state_bytes, 1))))
