"""The proven training recipe, scaled to the corpus: what ``wordrnn train`` uses when not told otherwise.

The recipe was measured on Brown (800k training words: 2 layers of 200 LSTM units, tied 96-wide
embeddings, dropout 0.25, Adam at 2e-3 decayed by 0.9 an epoch, a 1024-word sampled softmax, words
seen at least 3 times; README "The quality recipe") and held on a broader 2.8M-word corpus with
256 units. Between and around those two points it is scaled by the number of training words N:

- vocabulary cut: words seen at least 3 times (2 under 100k words, every word under 20k), so
  words too rare to learn become ``<unk>`` instead of diluting the softmax;
- width: 200 x (N / 800k)^0.2 units, rounded to a multiple of 8 and kept within 64..512, which
  gives exactly 200 on Brown and 256 at 2.8M words; one layer under 50k words, else two;
- tied embeddings, 96 wide (128 from 5M words; the width itself when that is narrower): tying
  halves the output parameters, the largest block of a word model, and regularises small corpora;
- dropout 0.3 under 400k words (small corpora over-fit first), 0.25 up to 10M, 0.1 above; but
  0.1 when a time budget allows fewer than 5 passes over the text (``expected_passes``), because
  a network that sees each word only a few times under-fits rather than over-fits;
- 32 parallel streams (fewer for a text too short to give an epoch 8 windows of each stream);
- a sampled softmax when the vocabulary is over 10,000 words, else the full softmax:
  on Shakespeare (5.1k words) a full-softmax step was cheaper than a sampled one (82 vs 94 ms:
  drawing the candidates has a cost of its own) and learned more (perplexity 0.94x the trigram's
  in five minutes, against 0.96x); on Brown (17.7k words) it costs 1.7x a sampled step. The
  sample is 1024 words (4096 when a budget allows fewer than 5 passes and the caller fixed a
  softmax setting), since a short run is judged by what each step learns. On Brown in five minutes at 3e-3 (``bench_time_to_quality.py``'s
  command), 4096 words made a step about 1.3x as long but reached validation perplexity 176.3 (ad
  hoc, without the export) where that benchmark's run with 1024 ended at 193.4; at 5e-3, 4096
  words reached 163.0 and 8192 (a step 1.9x as long) 183.3 (ad hoc, one run each); a long run
  keeps the 1024 of the 72-minute quality recipe it was proven with. But a short run over such a
  vocabulary gets the adaptive softmax instead (``ADAPTIVE_HEAD``, ``nn/adaptive.py``; the sample
  stays when the caller fixed either softmax setting): exact and about half the cost of a full
  softmax step, it learned far more in five minutes on Brown (validation 158.4, 132.5, 123.4 after
  each epoch against the sample's 231.1, 170.8, 158.4). With it each stream's state is reset every
  ``STATE_RESET`` windows, the streams taking turns (``TrainConfig.state_reset``): carried for a
  whole epoch, some runs came to rely on the large cell states of a long-carried state and predicted
  wildly from a fresh one (validation perplexity near 1,000 from 40 s into a 2.5-minute run until
  the epoch's end reset the state; 444 and 460 at the end of two benchmark runs), and the same seed
  with resets trained smoothly (README, "Time to quality");
- schedule: without a time budget, 0.9 per-epoch decay over round(20M / N) epochs kept within
  3..30 (about 20M token passes, which is where Brown's run stopped gaining), early stopping
  keeping the best epoch; with a budget, the budget sets the length and the learning rate decays
  to a tenth over it (``budget.py``), so the per-epoch decay is off, and it starts at 7e-3 instead
  of Adam's 2e-3: with the decay planned to end inside the budget the higher start is safe. In
  five-minute runs 3e-3 beat 2e-3 on Shakespeare (perplexity 70.4 against 74.5), and 7e-3 beat 3e-3
  on both texts: Brown (with the 4096-word sample) 146.8 against 176.3, 5e-3 giving 163.0 and
  1e-2 144.6 but a first epoch worse than 5e-3's (330.5 against 273.8, 253.0 at 7e-3), and
  Shakespeare 68.1 against 69.4 (ad hoc runs of the benchmarks' commands, one each).

Every choice yields to a setting the caller fixed (``Recipe.fixed``); the CLI passes the flags
the user gave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wordrnn.config import ModelConfig, TrainConfig, replace
from wordrnn.nn.size import adaptive_clusters

MODEL_SETTINGS = ("layers", "units", "embedding", "tied", "dropout", "adaptive_softmax")
TRAIN_SETTINGS = ("batch_size", "sampled_softmax", "lr_decay", "epochs", "learning_rate", "state_reset")
SETTINGS = ("min_count", *MODEL_SETTINGS, *TRAIN_SETTINGS)
SAMPLED = 1024
SHORT_RUN_SAMPLED = 4096  # the sample of a budget allowing under SHORT_RUN_PASSES passes (see the docstring)
SHORT_RUN_PASSES = 5.0
BUDGET_LEARNING_RATE = 7e-3  # a budget's run starts here (its rate decays to a tenth by the end); else 2e-3
FULL_SOFTMAX_WORDS = 10_000  # the largest vocabulary trained with the full softmax (see the docstring)
ADAPTIVE_HEAD = 2_000  # a short run's adaptive softmax: the words its head scores at full width
STATE_RESET = 20  # with an adaptive softmax, each stream's state is reset every this many windows


def min_count_for(tokens: int) -> int:
    """The vocabulary cut for a corpus of ``tokens`` words."""
    return 1 if tokens < 20_000 else 2 if tokens < 100_000 else 3


def model_settings(tokens: int) -> dict[str, Any]:
    """Depth, width, embedding, tying and dropout for ``tokens`` training words (see the module docstring)."""
    units = int(min(512, max(64, 8 * round(25 * (tokens / 800_000) ** 0.2))))
    embedding = min(units, 128 if tokens >= 5_000_000 else 96)
    dropout = 0.3 if tokens < 400_000 else 0.25 if tokens < 10_000_000 else 0.1
    return {"layers": 1 if tokens < 50_000 else 2, "units": units, "embedding": embedding, "tied": True,
            "dropout": dropout}


# The Brown recipe trained at about 10,000 target words a second on 2 shared cores (26 epochs of
# 800k words in 34 minutes, validation included); other models are estimated from their cost.
REFERENCE_RATE = 10_000.0
REFERENCE_COST = 4 * 200 * (96 + 200) + 4 * 200 * 400 + 200 * 96 + (1024 + 1) * 96  # measured with 1024 sampled


def cost_per_word(settings: dict[str, Any], vocab_size: int, sampled: int) -> int:
    """Multiply-adds per word of a forward pass: the recurrent layers, the projection and the softmax
    (an adaptive one's head in full, its clusters at a fifth: the share of text beyond a head)."""
    units, width = settings["units"], settings["embedding"]
    recurrent = sum(4 * units * ((width if i == 0 else units) + units) for i in range(settings["layers"]))
    projection = units * width if settings["tied"] and units != width else 0
    output_width = width if settings["tied"] else units
    head = settings.get("adaptive_softmax", 0)
    if head:
        bands = adaptive_clusters(vocab_size, min(head, vocab_size), output_width)
        tails = sum((output_width + end - start) * band for start, end, band in bands)
        return recurrent + projection + (min(head, vocab_size) + len(bands)) * output_width + tails // 5
    return recurrent + projection + (sampled + 1 if sampled else vocab_size) * output_width


def expected_passes(tokens: int, minutes: float, cost: int) -> float:
    """About how many passes over ``tokens`` words a ``minutes`` budget allows a model of ``cost``
    (80 % of the budget trains; start-up, validation and the export take the rest)."""
    return 0.8 * 60 * minutes * REFERENCE_RATE * REFERENCE_COST / max(cost, 1) / max(tokens, 1)


def train_settings(tokens: int, vocab_size: int, budget: bool, window: int = 35) -> dict[str, Any]:
    """Streams, sampled softmax and schedule for ``tokens`` words over ``vocab_size`` words (``budget``: a
    timed run, whose length the budget sets, so no epoch count is chosen).

    32 parallel streams, or fewer when the text would give an epoch fewer than 8 windows of
    ``window`` words: a short text then still trains (on fewer streams) instead of being refused.
    """
    settings: dict[str, Any] = {"batch_size": int(min(32, max(1, tokens // (8 * window)))),
                                "sampled_softmax": SAMPLED if vocab_size > FULL_SOFTMAX_WORDS else 0,
                                "lr_decay": 1.0 if budget else 0.9,
                                "learning_rate": BUDGET_LEARNING_RATE if budget else 2e-3}
    if not budget:
        settings["epochs"] = int(min(30, max(3, round(20_000_000 / max(tokens, 1)))))
    return settings


@dataclass(frozen=True)
class Recipe:
    """A request for the recipe: every setting in ``SETTINGS`` not named in ``fixed`` is chosen.

    Args:
        fixed: settings the caller chose itself (names as in ``SETTINGS``); they are kept as given.
    """

    fixed: frozenset[str] = field(default_factory=frozenset)

    def min_count(self, tokens: int, given: int) -> int:
        """The vocabulary cut: ``given`` when fixed, else the recipe's for ``tokens`` words."""
        return given if "min_count" in self.fixed else min_count_for(tokens)

    def configure(self, tokens: int, vocab_size: int, model: ModelConfig,
                  train: TrainConfig) -> tuple[ModelConfig, TrainConfig, dict[str, Any]]:
        """``model`` and ``train`` with every setting not fixed set by the recipe, and what was chosen.

        The third value maps each chosen setting to its value (what the CLI shows in one line).
        """
        picks = {**model_settings(tokens), **train_settings(tokens, vocab_size, train.time_budget is not None, train.window)}
        if "adaptive_softmax" in self.fixed and model.adaptive_softmax:  # the caller's output layer replaces the sample
            picks.pop("sampled_softmax")
        current = {**{k: getattr(model, k) for k in MODEL_SETTINGS}, "sampled_softmax": train.sampled_softmax}
        final = {**current, **{k: v for k, v in picks.items() if k not in self.fixed}}
        cost = cost_per_word(final, vocab_size, final["sampled_softmax"])
        if train.time_budget is not None and expected_passes(tokens, train.time_budget, cost) < SHORT_RUN_PASSES:
            picks["dropout"] = 0.1  # a short run: it under-fits, and what each step learns counts most
            if picks.get("sampled_softmax"):
                self._short_run_softmax(picks)
        if (model.adaptive_softmax if "adaptive_softmax" in self.fixed else picks.get("adaptive_softmax")):
            picks["state_reset"] = STATE_RESET  # see the docstring: carried for a whole epoch, it can fail from a fresh state
        chosen = {name: value for name, value in picks.items() if name not in self.fixed}
        model = replace(model, **{k: v for k, v in chosen.items() if k in MODEL_SETTINGS})
        train = replace(train, **{k: v for k, v in chosen.items() if k in TRAIN_SETTINGS})
        return model, train, chosen

    def _short_run_softmax(self, picks: dict[str, Any]) -> None:
        """A short run over a large vocabulary: the adaptive softmax, exact and cheap to train; or,
        when the caller fixed either softmax setting (``--sampled-softmax``, or ``--adaptive-softmax
        0``), the larger 4096-word sample, since a short run is judged by what each step learns."""
        if {"sampled_softmax", "adaptive_softmax"} & self.fixed:
            picks["sampled_softmax"] = SHORT_RUN_SAMPLED
        else:
            picks["sampled_softmax"], picks["adaptive_softmax"] = 0, ADAPTIVE_HEAD
