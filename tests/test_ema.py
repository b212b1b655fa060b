"""Weight averaging (``--ema``): validation measures both weight sets, the better is saved, a resume is exact."""

import numpy as np
import pytest

from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.errors import ConfigError
from wordrnn.nn.model import build_model, get_weight_arrays, loss_function, state_sizes
from wordrnn.train.batching import StreamBatches
from wordrnn.train.engine import Engine

DATA = np.tile(np.arange(10), 30) % 20
VALID = np.tile(np.arange(10), 6) % 20


def _engine(**train):
    import keras

    keras.utils.set_random_seed(5)
    config = ModelConfig(vocab_size=20, units=8, embedding=4)
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 3, "window": 5, "early_stopping": 0, "lr_patience": 0,
                         "learning_rate": 0.02, "min_save_seconds": 0, "ema": 0.9, **train})
    model = build_model(config)
    return Engine(model, loss_function(config), cfg, state_sizes(config)), model


def test_ema_must_be_a_momentum_below_one():
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ConfigError, match="--ema|ema"):
            TrainConfig(ema=bad)


def test_validation_measures_both_weight_sets_and_counts_the_better():
    engine, _ = _engine()
    summary = engine.fit(StreamBatches(DATA, 3, 5), StreamBatches(VALID, 3, 5))
    for record in summary["history"]:
        assert record["val_loss"] == min(record["val_loss_trained"], record["val_loss_averaged"])
        assert record["val_loss_trained"] != record["val_loss_averaged"]


def test_the_averaged_weights_are_a_moving_average_and_validation_leaves_the_trained_ones_in_place():
    engine, model = _engine()
    before = get_weight_arrays(model)
    engine.fit(StreamBatches(DATA, 3, 5), StreamBatches(VALID, 3, 5))
    trained, averaged = get_weight_arrays(model), engine.averaged_weights()
    moved = [k for k in trained if not np.allclose(trained[k], averaged[k])]
    assert moved, "the average must differ from the last weights"
    for name in moved:  # an average of the path from the start: between the start and the end, roughly
        assert np.abs(averaged[name] - before[name]).mean() <= np.abs(trained[name] - before[name]).mean() * 1.5
    with engine.averaged():
        inside = get_weight_arrays(model)
    assert all(np.array_equal(inside[k], averaged[k]) for k in averaged)
    assert all(np.array_equal(v, trained[k]) for k, v in get_weight_arrays(model).items())


def test_the_best_snapshot_saves_the_weights_that_validated_better():
    engine, _ = _engine()
    saved = []
    summary = engine.fit(StreamBatches(DATA, 3, 5), StreamBatches(VALID, 3, 5),
                         save=lambda kind, snap: saved.append((kind, snap)))
    best = [snap for kind, snap in saved if kind == "best"][-1]
    record = summary["history"][best.position["epoch"] - 1]
    if record["val_loss_averaged"] < record["val_loss_trained"]:
        assert best.model_weights is not None
        assert not all(np.array_equal(best.model_weights[k], best.weights[k]) for k in best.weights)
    else:
        assert best.model_weights is None


def test_without_ema_nothing_changes():
    engine, _ = _engine(ema=0.0)
    summary = engine.fit(StreamBatches(DATA, 3, 5), StreamBatches(VALID, 3, 5))
    assert engine.averaged_weights() is None
    assert all("val_loss_averaged" not in r for r in summary["history"])


def test_a_resumed_run_continues_the_same_average():
    whole, whole_model = _engine()
    whole.fit(StreamBatches(DATA, 3, 5))
    stopped, _ = _engine()
    saved, steps = [], iter(range(10**6))
    stopped.fit(StreamBatches(DATA, 3, 5), save=lambda kind, snap: saved.append(snap), should_stop=lambda: next(steps) == 7)
    resumed, _ = _engine()
    resumed.fit(StreamBatches(DATA, 3, 5), resume=saved[-1])
    reference, got = whole.averaged_weights(), resumed.averaged_weights()
    for name in reference:
        np.testing.assert_allclose(got[name], reference[name], rtol=1e-5, atol=1e-6)


def test_averaging_can_start_when_a_run_is_resumed():
    plain, _ = _engine(ema=0.0)
    saved, steps = [], iter(range(10**6))
    plain.fit(StreamBatches(DATA, 3, 5), save=lambda kind, snap: saved.append(snap), should_stop=lambda: next(steps) == 7)
    resumed, model = _engine()
    resumed.restore(saved[-1])
    trained, averaged = get_weight_arrays(model), resumed.averaged_weights()
    assert all(np.array_equal(averaged[k], trained[k]) for k in trained), "the averages begin at the restored weights"
    kept = [v for v in resumed.optimizer.variables if id(v) not in {id(a) for a in resumed._averages()}]
    for variable, value in zip(kept, saved[-1].optimizer, strict=True):  # iteration, moments: the checkpoint's
        np.testing.assert_array_equal(np.asarray(variable), value)
    resumed.fit(StreamBatches(DATA, 3, 5), resume=saved[-1])
    assert not all(np.allclose(resumed.averaged_weights()[k], v) for k, v in get_weight_arrays(model).items())


def test_ema_start_is_a_fraction_below_one_and_needs_ema():
    for bad in (-0.1, 1.0, 2.0):
        with pytest.raises(ConfigError, match="ema.start"):
            TrainConfig(ema=0.9, ema_start=bad)
    with pytest.raises(ConfigError, match="ema.start.*ema"):
        TrainConfig(ema_start=0.5)


def _fit_with_start(stop_at: int | None = None, resume=None):
    """3 epochs of 20 windows, averaging from half-way (step 30); stopped after step ``stop_at``."""
    engine, model = _engine(ema_start=0.5)
    saved, steps = [], iter(range(1, 10**6))
    summary = engine.fit(StreamBatches(DATA, 3, 5), StreamBatches(VALID, 3, 5), resume=resume,
                         save=lambda kind, snap: saved.append(snap),
                         should_stop=(lambda: next(steps) == stop_at) if stop_at else (lambda: False))
    return engine, summary, saved


def test_averaging_begins_at_ema_start_and_only_then_is_validated():
    engine, summary, saved = _fit_with_start()
    windows = StreamBatches(DATA, 3, 5).num_windows
    start = round(0.5 * 3 * windows)
    assert saved[-1].position["averaging_from"] == start
    for record in summary["history"]:
        assert ("val_loss_averaged" in record) == (record["step"] > start), record


@pytest.mark.parametrize("stop_at", [10, 40])  # before averaging began, and after
def test_a_resumed_run_with_ema_start_averages_as_an_uninterrupted_one(stop_at):
    whole, _, _ = _fit_with_start()
    _, _, saved = _fit_with_start(stop_at)
    resumed, _, _ = _fit_with_start(resume=saved[-1])
    reference, got = whole.averaged_weights(), resumed.averaged_weights()
    for name in reference:
        np.testing.assert_allclose(got[name], reference[name], rtol=1e-5, atol=1e-6)
