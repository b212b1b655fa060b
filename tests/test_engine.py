"""The engine: explicit state carried across windows, reset at epoch start, and learning."""

import numpy as np
import pytest

from wordrnn.train.batching import StreamBatches
from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.train.engine import Engine
from wordrnn.train.run import improves
from wordrnn.nn.model import build_model, loss_function, state_sizes


def _engine(cell="lstm", dropout=0.0, **train):
    config = ModelConfig(vocab_size=20, cell=cell, units=8, embedding=4, dropout=dropout)
    model = build_model(config)
    cfg = TrainConfig(**{"epochs": 2, "batch_size": 3, "window": 5, "early_stopping": 0, "lr_patience": 0, **train})
    return Engine(model, loss_function(config), cfg, state_sizes(config)), model


def test_state_flows_from_window_to_window_and_resets_each_epoch():
    engine, _ = _engine()
    calls = _steps_seen(engine)
    data = np.arange(61) % 20
    batches = StreamBatches(data, 3, 5)
    engine.fit(batches)
    per_epoch = batches.num_windows
    assert len(calls) == 2 * per_epoch
    for k, (states_in, _) in enumerate(calls):
        if k % per_epoch == 0:
            assert all(np.all(s == 0) for s in states_in), "state must be reset at epoch start"
        else:
            previous_out = calls[k - 1][1]
            assert all(np.array_equal(a, b) for a, b in zip(states_in, previous_out))
            assert any(np.any(s != 0) for s in states_in)


def _steps_seen(engine) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """Record, for each training step, the state it starts from and the state it ends with."""
    seen, real = [], engine._train_step

    def spy(x, y, w, states):
        total, count, new_states = real(x, y, w, states)
        seen.append(([np.asarray(s) for s in states], [np.asarray(s) for s in new_states]))
        return total, count, new_states

    engine._train_step = spy
    return seen


def test_fresh_state_starts_the_first_part_of_training_from_zero_then_carries():
    """``fresh_state=0.5`` of 2 epochs: every window of the first epoch starts at zero, the second carries."""
    engine, _ = _engine(fresh_state=0.5)
    steps = _steps_seen(engine)
    batches = StreamBatches(np.arange(61) % 20, 3, 5)
    engine.fit(batches)
    per_epoch = batches.num_windows
    seen = [states for states, _ in steps]
    assert all(np.all(s == 0) for states in seen[:per_epoch] for s in states)
    carried = seen[per_epoch + 1:]
    assert carried and all(any(np.any(s != 0) for s in states) for states in carried)


def test_fresh_state_follows_a_budgets_time():
    """Under a time budget the fraction is of its training time: with a step a second and 20 seconds,
    the first 10 steps start from zero, later ones carry (except at an epoch start, as always)."""
    from wordrnn.train.budget import Budget

    engine, _ = _engine(fresh_state=0.5, time_budget=1.0)
    steps = _steps_seen(engine)
    now = [0.0]
    step = engine.train_window

    def ticking(*args):
        now[0] += 1.0
        return step(*args)

    engine.train_window = ticking
    batches = StreamBatches(np.arange(61) % 20, 3, 5)
    engine.fit(batches, budget=Budget(deadline=20.0, clock=lambda: now[0]))
    zero = [all(np.all(s == 0) for s in states) for states, _ in steps]
    assert len(zero) == 20
    assert zero == [k < 10 or k % batches.num_windows == 0 for k in range(20)]


def test_state_reset_starts_each_stream_afresh_in_turn_and_carries_the_others():
    """``state_reset=2``: before every window the streams ``fresh_streams`` names start from zero,
    every other stream carries the state the previous window ended with."""
    from wordrnn.train.batching import fresh_streams

    engine, _ = _engine(state_reset=2)
    calls = _steps_seen(engine)
    batches = StreamBatches(np.arange(61) % 20, 3, 5)
    engine.fit(batches)
    per_epoch = batches.num_windows
    assert len(calls) == 2 * per_epoch
    resets = 0
    for k, (states_in, _) in enumerate(calls):
        window = k % per_epoch
        fresh = fresh_streams(window, 3, 2) | (window == 0)
        resets += int(fresh_streams(window, 3, 2).sum())
        for s, previous in zip(states_in, calls[k - 1][1] if window else states_in):
            assert np.all(s[fresh] == 0)
            assert np.array_equal(s[~fresh], previous[~fresh])
            assert fresh.all() or np.any(s[~fresh] != 0)
    assert resets > 0


@pytest.mark.parametrize("every, streams", [(1, 4), (2, 3), (5, 32), (20, 32), (50, 8)])
def test_fresh_streams_resets_each_stream_once_per_period_spread_over_the_windows(every, streams):
    from wordrnn.train.batching import fresh_streams

    table = np.array([fresh_streams(k, streams, every) for k in range(1, 4 * every + 1)])
    assert not fresh_streams(0, streams, every).any()  # the epoch's start: every state is zero anyway
    for start in range(len(table) - every + 1):
        assert np.all(table[start:start + every].sum(axis=0) == 1)  # once in any run of `every` windows
    per_window = table.sum(axis=1)
    assert per_window.max() - per_window.min() <= max(1, -(-streams // every) - streams // every)
    assert not fresh_streams(3, streams, 0).any()


def test_a_negative_state_reset_is_refused():
    from wordrnn.errors import ConfigError

    with pytest.raises(ConfigError, match="state_reset must be 0 or more"):
        TrainConfig(state_reset=-1)


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_fresh_state_outside_zero_to_one_is_refused(fraction):
    from wordrnn.errors import ConfigError

    with pytest.raises(ConfigError, match="fresh_state"):
        TrainConfig(fresh_state=fraction)


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman", "jordan"])
def test_windowed_evaluation_equals_one_pass_over_the_whole_stream(cell):
    """Carrying the state across windows is the same computation as reading everything at once."""
    engine, model = _engine(cell)
    data = (np.arange(41) * 7) % 20
    windowed = engine.evaluate(StreamBatches(data, 1, 4))
    whole = engine.evaluate(StreamBatches(data, 1, 40))
    assert windowed == pytest.approx(whole, rel=1e-5)


def test_training_lowers_the_loss():
    engine, _ = _engine(epochs=8, learning_rate=0.02)
    data = np.tile(np.arange(10), 30)
    summary = engine.fit(StreamBatches(data, 3, 5))
    losses = [h["loss"] for h in summary["history"]]
    assert losses[-1] < 0.5 * losses[0]


def test_stop_request_ends_after_the_current_step_and_saves():
    engine, _ = _engine(epochs=3)
    saved = []
    summary = engine.fit(StreamBatches(np.arange(200) % 20, 3, 5), save=lambda kind, snap: saved.append((kind, snap)),
                         should_stop=lambda: True)
    assert summary["stopped"] == "interrupted" and summary["steps"] == 1
    assert saved[-1][0] == "last" and saved[-1][1].position["window"] == 1


def test_resume_continues_the_same_position_and_optimizer_state():
    engine, model = _engine(epochs=2)
    data = np.arange(200) % 20
    saved = []
    engine.fit(StreamBatches(data, 3, 5), save=lambda kind, snap: saved.append(snap), should_stop=lambda: True)
    snapshot = saved[-1]
    fresh, fresh_model = _engine(epochs=2)
    calls = []
    real = fresh._train_step
    fresh._train_step = lambda x, y, w, s: calls.append([np.asarray(t) for t in s]) or real(x, y, w, s)
    summary = fresh.fit(StreamBatches(data, 3, 5), resume=snapshot)
    assert np.array_equal(calls[0][0], snapshot.states[0])  # the carried state, not zeros
    assert summary["steps"] == 2 * StreamBatches(data, 3, 5).num_windows
    assert int(np.asarray(fresh.optimizer.iterations)) == summary["steps"]


def test_warmup_positions_carry_no_loss():
    engine, _ = _engine()
    x = np.zeros((3, 5), np.int32)
    y = np.ones((3, 5), np.int32)
    w = np.zeros((3, 5), np.float32)
    total, count, _ = engine._eval_step(x, y, w, engine.zero_states(3))
    assert float(total) == 0.0 and float(count) == 0.0


@pytest.mark.parametrize("tied", [False, True])
def test_sampled_softmax_training_lowers_the_full_softmax_loss(tied):
    """The training model/loss hook: a sampled softmax trains the weights the full-softmax model predicts with."""
    from wordrnn.nn.model import sampled_softmax_training

    config = ModelConfig(vocab_size=60, units=16, embedding=16 if tied else 8, tied=tied)
    model = build_model(config)
    cfg = TrainConfig(epochs=6, batch_size=4, window=8, early_stopping=0, lr_patience=0, learning_rate=0.02, seed=1,
                      lr_decay=0.9)
    train_model, train_loss = sampled_softmax_training(model, config, 8)
    engine = Engine(model, loss_function(config), cfg, state_sizes(config), train_model, train_loss)
    data = np.tile(np.arange(2, 60), 12)
    batches = StreamBatches(data, 4, 8)
    before = engine.evaluate(batches)
    summary = engine.fit(batches)
    assert engine.evaluate(batches) < 0.75 * before
    assert summary["history"][-1]["learning_rate"] == pytest.approx(0.02 * 0.9**5, rel=1e-4)  # decayed after each epoch


@pytest.mark.parametrize("schedule", [{"lr_decay": 0.5}, {"lr_patience": 1, "lr_factor": 0.25, "learning_rate": 1.0}])
def test_resuming_from_an_epoch_end_checkpoint_keeps_the_learning_rate_schedule(schedule):
    """A decay or plateau cut decided at an epoch's end belongs in that epoch's checkpoint, or a resume loses it."""
    import keras

    data = np.arange(200) % 20
    keras.utils.set_random_seed(1)
    whole, _ = _engine(epochs=4, min_save_seconds=0, **schedule)
    saved = []
    reference = whole.fit(StreamBatches(data, 3, 5), save=lambda kind, snap: kind == "last" and saved.append(snap))
    rates = [h["learning_rate"] for h in reference["history"]]
    assert len(set(rates)) > 1, f"the schedule never changed the rate: {rates}"
    for snapshot in [s for s in saved if s.position["window"] == 0 and 0 < s.position["epoch"] < 4]:
        resumed, _ = _engine(epochs=4, **schedule)
        summary = resumed.fit(StreamBatches(data, 3, 5), resume=snapshot)
        assert [h["learning_rate"] for h in summary["history"]] == pytest.approx(rates, rel=1e-6), snapshot.position
        assert [h["loss"] for h in summary["history"]] == pytest.approx([h["loss"] for h in reference["history"]], rel=1e-5)


def test_epoch_end_saves_are_throttled_but_never_lost():
    """Tiny epochs are written at most every min_save_seconds; what was skipped goes out with the next save."""
    data = np.arange(200) % 20
    every, _ = _engine(epochs=5, min_save_seconds=0)
    saved_every = []
    every.fit(StreamBatches(data, 3, 5), save=lambda kind, snap: saved_every.append((kind, snap.position["epoch"])))
    assert [e for kind, e in saved_every if kind == "last"] == [1, 2, 3, 4, 5]

    rare, _ = _engine(epochs=5, min_save_seconds=3600)
    saved = []
    summary = rare.fit(StreamBatches(data, 3, 5), save=lambda kind, snap: saved.append((kind, snap)))
    assert [(kind, snap.position["epoch"]) for kind, snap in saved][-1] == ("last", 5)  # the end always saves
    assert len(saved) <= 2
    best, best_epoch = float("inf"), 0
    for record in summary["history"]:  # the last epoch that counted as an improvement
        if improves(record["loss"], best):
            best, best_epoch = record["loss"], record["epoch"]
    assert [snap.position["epoch"] for kind, snap in saved if kind == "best"] == [best_epoch]

    mid, _ = _engine(epochs=3, min_save_seconds=3600, checkpoint_every=StreamBatches(data, 3, 5).num_windows + 1)
    saved_mid = []
    mid.fit(StreamBatches(data, 3, 5), save=lambda kind, snap: saved_mid.append((kind, dict(snap.position))))
    kinds = [kind for kind, _ in saved_mid]
    assert kinds[:2] == ["best", "last"] and saved_mid[0][1]["epoch"] == 1 and saved_mid[1][1]["window"] == 1


@pytest.mark.parametrize("state_reset", [0, 2])
def test_a_resumed_run_with_dropout_draws_the_same_masks_as_an_uninterrupted_one(state_reset):
    """The dropout seed-generator states travel in the snapshot, and state resets follow the window
    index, so stopping and resuming changes nothing."""
    import keras

    def engine_with_dropout():
        keras.utils.set_random_seed(3)
        return _engine(dropout=0.3, min_save_seconds=0, state_reset=state_reset)

    data = np.arange(200) % 20
    whole, whole_model = engine_with_dropout()
    reference = whole.fit(StreamBatches(data, 3, 5))
    assert whole.snapshot(whole.zero_states(3), {}, []).seeds, "the model has dropout: it must have seed states"

    stopped, _ = engine_with_dropout()
    saved, steps = [], iter(range(10**6))
    stopped.fit(StreamBatches(data, 3, 5), save=lambda kind, snap: saved.append(snap), should_stop=lambda: next(steps) == 6)
    resumed, resumed_model = engine_with_dropout()
    summary = resumed.fit(StreamBatches(data, 3, 5), resume=saved[-1])
    assert [h["loss"] for h in summary["history"]] == pytest.approx([h["loss"] for h in reference["history"]], rel=1e-6)
    for a, b in zip(resumed_model.weights, whole_model.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
