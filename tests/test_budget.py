"""A time budget: its clock, its learning-rate schedule, its plan, and how a budgeted fit ends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wordrnn.train.budget import CALIBRATION, FINAL_LR, Budget, budget_for, reserve_seconds


class FakeClock:
    """A clock that moves only when told: budget decisions become exact."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_training_ends_before_the_last_validation_save_and_export():
    clock = FakeClock()
    budget = Budget(deadline=160.0, reserve=10.0, clock=clock)
    budget.begin(learning_rate=2e-3, validation_seconds=5.0)
    assert budget.train_end == 145.0 and budget.seconds_left() == 60.0
    clock.now = 144.9
    assert not budget.out_of_time()
    clock.now = 145.0
    assert budget.out_of_time()


def test_the_learning_rate_decays_to_a_tenth_exactly_at_the_end_of_training():
    clock = FakeClock(0.0)
    budget = Budget(deadline=100.0, reserve=10.0, clock=clock)
    budget.begin(1e-2, validation_seconds=0.0)
    assert budget.learning_rate() == pytest.approx(1e-2)
    clock.now = 45.0
    assert budget.learning_rate() == pytest.approx(1e-2 * FINAL_LR**0.5)
    clock.now = 90.0
    assert budget.learning_rate() == pytest.approx(1e-2 * FINAL_LR)
    clock.now = 200.0  # never below the final rate
    assert budget.learning_rate() == pytest.approx(1e-2 * FINAL_LR)
    budget.cuts = 0.5  # a plateau cut scales the schedule from then on
    assert budget.learning_rate() == pytest.approx(0.5e-2 * FINAL_LR)
    assert Budget(deadline=1.0, decay=False).learning_rate() is None


def test_the_plan_counts_steps_and_validation_passes():
    clock = FakeClock(0.0)
    budget = Budget(deadline=1000.0, reserve=0.0, clock=clock)
    budget.begin(1e-3, validation_seconds=10.0)  # training may last until 990
    plans = []
    for step in range(1, CALIBRATION + 3):
        clock.now = 5.0 + 0.5 * step  # 0.5 s a step after a slow first (traced) step
        plans.append(budget.after_step(step, windows=100))
    made = [p for p in plans if p is not None]
    assert len(made) == 1 and plans.index(made[0]) == CALIBRATION  # once, after CALIBRATION timed steps
    plan = made[0]
    left = 990.0 - (5.0 + 0.5 * (CALIBRATION + 1))
    assert plan["seconds_per_step"] == pytest.approx(0.5)
    assert plan["steps"] == CALIBRATION + 1 + int(left / (0.5 + 10.0 / 100))
    assert plan["epochs"] == pytest.approx(plan["steps"] / 100, abs=0.01)


def test_room_for_another_epoch_needs_more_than_one_validation():
    clock = FakeClock(0.0)
    budget = Budget(deadline=100.0, reserve=0.0, clock=clock)
    budget.begin(1e-3, validation_seconds=20.0)  # training ends at 80
    clock.now = 50.0
    assert budget.room_for_another_epoch()
    clock.now = 61.0
    assert not budget.room_for_another_epoch()


def test_the_export_is_reserved_for():
    assert reserve_seconds(1_000_000, export=True) > reserve_seconds(1_000_000, export=False) + 5
    assert reserve_seconds(10_000_000, export=True) > reserve_seconds(1_000_000, export=True)
    with pytest.raises(ValueError):
        budget_for(math.nan, 0.0, 0.0, True)


# -- a budgeted fit, on a tiny engine whose clock advances one second a step --------------------------

def _engine_and_data(lr: float = 0.01):
    from wordrnn.config import ModelConfig, TrainConfig
    from wordrnn.nn.model import build_model, loss_function, state_sizes
    from wordrnn.train.batching import StreamBatches
    from wordrnn.train.engine import Engine

    import keras

    keras.utils.set_random_seed(0)
    config = ModelConfig(vocab_size=30, units=16, embedding=8)
    engine = Engine(build_model(config), loss_function(config), TrainConfig(batch_size=4, window=5, learning_rate=lr,
                                                                            early_stopping=0, time_budget=1.0),
                    state_sizes(config))
    ids = (np.arange(4 * 5 * 12 + 1) * 7 % 30).astype(np.int32)  # 12 windows an epoch
    valid = (np.arange(4 * 5 * 2 + 1) * 7 % 30).astype(np.int32)
    return engine, StreamBatches(ids, 4, 5), StreamBatches(valid, 4, 5)


def _ticking(engine, clock: FakeClock, seconds: float = 1.0) -> None:
    step = engine.train_window

    def timed(*args):
        clock.now += seconds
        return step(*args)

    engine.train_window = timed


def test_a_budgeted_fit_stops_in_time_validates_its_last_part_and_keeps_the_best():
    engine, train, valid = _engine_and_data()
    clock = FakeClock(0.0)
    budget = Budget(deadline=40.0, reserve=5.0, clock=clock)
    _ticking(engine, clock)
    saves = []
    summary = engine.fit(train, valid, save=lambda kind, snap: saves.append((kind, snap)), budget=budget)
    assert summary["stopped"] == "time_budget"
    # validation is timed on real time (a few ms), so training ends one step either side of 35 s
    assert 34 <= summary["steps"] <= 36 and clock.now <= 36.0
    last = summary["history"][-1]
    assert last["windows"] == summary["steps"] - 12 * (len(summary["history"]) - 1) and "val_loss" in last
    assert all("windows" not in record for record in summary["history"][:-1])  # full epochs say nothing
    assert engine.learning_rate == pytest.approx(0.01 * FINAL_LR, rel=0.1)
    best = [snap for kind, snap in saves if kind == "best"]
    assert best and min(r["val_loss"] for r in summary["history"]) == pytest.approx(summary["best"])
    assert best[-1].history[-1]["val_loss"] == pytest.approx(summary["best"])


def test_a_budget_overrides_the_epoch_count():
    """config.epochs is 10 by default; a budget long enough for 20 epochs trains 20."""
    engine, train, valid = _engine_and_data()
    clock = FakeClock(0.0)
    _ticking(engine, clock)
    summary = engine.fit(train, valid, budget=Budget(deadline=20 * 12 + 1.0, clock=clock))
    assert summary["epochs"] >= 19 and summary["stopped"] == "time_budget"


def test_a_stop_in_mid_epoch_keeps_weights_that_validate_better():
    """Ctrl-C late in an epoch: the partly trained weights become the model when they validate better."""
    engine, train, valid = _engine_and_data(lr=0.02)
    saves = []
    steps = iter(range(10_000))
    summary = engine.fit(train, valid, save=lambda kind, snap: saves.append((kind, snap)),
                         should_stop=lambda: next(steps) >= 12 * 3 + 10)  # 10 windows into the fourth epoch
    assert summary["stopped"] == "interrupted"
    kinds = [kind for kind, _ in saves]
    best_snapshot = [snap for kind, snap in saves if kind == "best"][-1]
    epoch_best = min(r["val_loss"] for r in summary["history"])
    # still learning (seeded): the weights 10 windows into the fourth epoch beat the third epoch's
    assert summary["val_loss_at_stop"] < epoch_best == pytest.approx(summary["best"])  # the schedule's record stays
    assert best_snapshot.position["window"] == 11 and kinds[-2:] == ["best", "last"]
    assert best_snapshot.position["val_loss"] == summary["val_loss_at_stop"]
    from wordrnn.nn.model import set_weight_arrays

    set_weight_arrays(engine.model, best_snapshot.weights)
    assert engine.evaluate(valid) == pytest.approx(summary["val_loss_at_stop"], rel=1e-5)
