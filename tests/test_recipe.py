"""The recipe scaled to the corpus: the proven settings where they were proven, caller's settings kept."""

from __future__ import annotations

import pytest

from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.train.recipe import (SETTINGS, Recipe, cost_per_word, expected_passes, min_count_for, model_settings,
                                  train_settings)

BROWN_RECIPE = {"layers": 2, "units": 200, "embedding": 96, "tied": True, "dropout": 0.25, "batch_size": 32,
                "sampled_softmax": 1024, "lr_decay": 0.9}


def configure(tokens: int, vocab: int, fixed=(), budget=None, **model):
    return Recipe(frozenset(fixed)).configure(tokens, vocab, ModelConfig(vocab_size=vocab, **model),
                                              TrainConfig(time_budget=budget))


def test_brown_gets_the_proven_recipe():
    """800k words and 17.7k words of vocabulary: exactly the README's quality recipe."""
    model, train, chosen = configure(800_000, 17_715)
    assert {k: chosen[k] for k in BROWN_RECIPE} == BROWN_RECIPE
    assert (model.layers, model.units, model.embedding, model.tied, model.dropout) == (2, 200, 96, True, 0.25)
    assert (train.sampled_softmax, train.lr_decay, train.batch_size) == (1024, 0.9, 32)
    assert min_count_for(800_000) == 3


def test_the_broader_corpus_gets_256_units():
    assert model_settings(2_800_000)["units"] == 256 and model_settings(2_800_000)["layers"] == 2


def test_width_grows_with_the_corpus_and_stays_in_bounds():
    sizes = [100, 5_000, 30_000, 200_000, 800_000, 3_000_000, 30_000_000, 10**9]
    widths = [model_settings(n)["units"] for n in sizes]
    assert widths == sorted(widths) and widths[0] == 64 and widths[-1] == 512
    assert all(w % 8 == 0 for w in widths)
    assert model_settings(10_000)["layers"] == 1 and model_settings(60_000)["layers"] == 2
    assert [min_count_for(n) for n in (1_000, 50_000, 150_000)] == [1, 2, 3]


def test_a_short_text_trains_on_fewer_streams_and_a_full_softmax():
    """405 words cannot fill 32 streams of 35-word windows; the recipe uses fewer instead of refusing."""
    _, train, chosen = configure(405, 174)
    assert train.batch_size == 1 and chosen["batch_size"] == 1
    assert train.sampled_softmax == 0  # 174 words: sampling would save nothing
    assert 405 // (train.batch_size * train.window) >= 8 or train.batch_size == 1


def test_fixed_settings_are_kept_and_not_reported_as_chosen():
    model, train, chosen = configure(800_000, 17_715, fixed={"units", "dropout", "sampled_softmax"},
                                     units=8, dropout=0.0)
    assert (model.units, model.dropout, train.sampled_softmax) == (8, 0.0, 0)
    assert not {"units", "dropout", "sampled_softmax"} & set(chosen)
    assert model.layers == 2 and model.tied  # the rest still follows the recipe
    assert Recipe(frozenset({"min_count"})).min_count(800_000, 1) == 1
    assert Recipe().min_count(800_000, 1) == 3
    assert set(chosen) <= set(SETTINGS)


def test_a_budget_sets_the_length_and_the_decay():
    """With a time budget no epoch count is chosen and the per-epoch decay is off (the budget decays)."""
    _, train, chosen = configure(800_000, 17_715, budget=60)
    assert "epochs" not in chosen and train.lr_decay == 1.0 and chosen["lr_decay"] == 1.0
    _, train, chosen = configure(800_000, 17_715)
    assert chosen["epochs"] == 25 and train.epochs == 25


@pytest.mark.parametrize(("minutes", "dropout"), [(5, 0.1), (60, 0.25)])
def test_a_short_budget_regularises_less(minutes, dropout):
    """A few passes over the text under-fit rather than over-fit, so a short budget lowers dropout."""
    _, _, chosen = configure(800_000, 17_715, budget=minutes)
    assert chosen["dropout"] == dropout
    _, _, chosen = configure(800_000, 17_715, budget=minutes, fixed={"dropout"}, dropout=0.4)
    assert "dropout" not in chosen


def test_a_short_budget_over_a_large_vocabulary_gets_the_adaptive_softmax_with_state_resets():
    """Under 5 passes each step's learning counts most: the adaptive softmax (exact, cheap) instead of
    the 1024-word sample, with each stream's state reset every 20 windows; a full softmax stays full."""
    model, train, chosen = configure(800_000, 17_715, budget=5)
    assert (chosen["adaptive_softmax"], chosen["sampled_softmax"], chosen["state_reset"]) == (2000, 0, 20)
    assert (model.adaptive_softmax, train.sampled_softmax, train.state_reset, model.dropout) == (2000, 0, 20, 0.1)
    for long_run in (configure(800_000, 17_715, budget=60), configure(800_000, 17_715)):
        model, train, chosen = long_run  # a long run keeps the proven 1024-word sample and carried state
        assert chosen["sampled_softmax"] == 1024 and "adaptive_softmax" not in chosen and "state_reset" not in chosen
        assert model.adaptive_softmax == 0 and train.state_reset == 0
    model, _, chosen = configure(258_037, 5_108, budget=1)  # the full softmax stays full
    assert chosen["sampled_softmax"] == 0 and model.adaptive_softmax == 0 and "state_reset" not in chosen


def test_a_short_budget_samples_4096_words_when_the_caller_fixed_a_softmax_setting():
    _, train, chosen = configure(800_000, 17_715, fixed={"sampled_softmax"}, budget=5)
    assert "sampled_softmax" not in chosen and train.sampled_softmax == TrainConfig().sampled_softmax
    assert "adaptive_softmax" not in chosen and chosen["dropout"] == 0.1 and "state_reset" not in chosen
    model, train, chosen = configure(800_000, 17_715, fixed={"adaptive_softmax"}, budget=5)  # --adaptive-softmax 0
    assert train.sampled_softmax == 4096 and model.adaptive_softmax == 0 and "state_reset" not in chosen


def test_the_callers_state_reset_is_kept():
    _, train, chosen = configure(800_000, 17_715, fixed={"state_reset"}, budget=5)
    assert "state_reset" not in chosen and train.state_reset == 0 and chosen["adaptive_softmax"] == 2000


def test_an_adaptive_softmax_given_leaves_the_sample_alone():
    """``--adaptive-softmax`` replaces the sampled softmax: the recipe then chooses neither, and the
    cheaper output layer counts in the passes a budget allows (so in the dropout it picks)."""
    model, train, chosen = configure(800_000, 17_715, fixed={"adaptive_softmax"}, budget=5, adaptive_softmax=2000)
    assert "sampled_softmax" not in chosen and "adaptive_softmax" not in chosen
    assert train.sampled_softmax == 0 and model.adaptive_softmax == 2000 and chosen["dropout"] == 0.1
    assert chosen["state_reset"] == 20 and train.state_reset == 20  # with the adaptive softmax, as the recipe's
    adaptive = {**model_settings(800_000), "adaptive_softmax": 2000}
    assert cost_per_word(adaptive, 17_715, 0) < cost_per_word(model_settings(800_000), 17_715, 4096)


def test_passes_follow_from_the_cost_of_a_word():
    brown = {**model_settings(800_000), "sampled_softmax": 1024}
    cost = cost_per_word(brown, 17_715, 1024)
    # the reference itself: 10k words a second for 80 % of 34 minutes over 800k words
    assert expected_passes(800_000, 34, cost) == pytest.approx(0.8 * 34 * 60 * 10_000 / 800_000)
    assert cost_per_word(brown, 17_715, 0) > 2 * cost  # the full softmax costs far more
    assert train_settings(800_000, 2_000, budget=False)["sampled_softmax"] == 0


def test_a_vocabulary_up_to_ten_thousand_words_trains_with_the_full_softmax():
    """Shakespeare's 5.1k words: a full-softmax step is cheaper than a sampled one and learns more."""
    assert train_settings(258_037, 5_108, budget=True)["sampled_softmax"] == 0
    assert train_settings(258_037, 10_000, budget=True)["sampled_softmax"] == 0
    assert train_settings(258_037, 10_001, budget=True)["sampled_softmax"] == 1024


def test_a_budget_run_starts_at_a_higher_learning_rate_unless_one_is_given():
    """Its rate decays to a tenth by the end of the budget, so it can start at 7e-3 (2e-3 otherwise)."""
    _, budgeted, chosen = configure(258_037, 5_108, budget=5.0)
    assert budgeted.learning_rate == chosen["learning_rate"] == 7e-3
    _, plain, _ = configure(258_037, 5_108)
    assert plain.learning_rate == 2e-3
    _, kept, chosen = Recipe(frozenset({"learning_rate"})).configure(
        258_037, 5_108, ModelConfig(vocab_size=5_108), TrainConfig(time_budget=5.0, learning_rate=1e-3))
    assert kept.learning_rate == 1e-3 and "learning_rate" not in chosen
