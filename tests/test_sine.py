"""The sine demo and series prediction: priming, one-step vs free-running, and a forecast from a saved model."""

from __future__ import annotations

import time

import numpy as np
import pytest

from wordrnn.errors import ConfigError, SeriesError
from wordrnn.predict.forecast import predict_series, run_sine


class Doubler:
    """A stand-in runner: predicts 2 x input + the number of steps seen so far (the state)."""

    input_kind = "series"
    state_sizes = [1]

    def __init__(self) -> None:
        self.calls: list[float] = []

    def zero_state(self, batch: int = 1):
        return [np.zeros((batch, 1), np.float32)]

    def step(self, inputs, state):
        inputs = np.asarray(inputs, np.float32)
        self.calls.append(float(inputs[0, 0]))
        return 2 * inputs + state[0], [state[0] + 1]


def test_predict_series_primes_on_observed_then_feeds_predictions_back():
    runner = Doubler()
    observed = np.array([[1.0], [2.0], [3.0]])
    truth = np.array([[10.0], [20.0], [30.0]])
    result = predict_series(runner, observed, steps=3, truth=truth)
    # fitted[i] predicts observed[i + 1] from observed[i]: 2x + i
    assert result.fitted[:, 0].tolist() == [2, 5, 8]
    # free-running: start from the last primed output (8), then feed each prediction back
    assert result.free_running[:, 0].tolist() == [8, 19, 42]
    # one-step: same first point, then each from the TRUE previous value, continuing the state
    assert result.one_step[:, 0].tolist() == [8, 23, 44]
    assert runner.calls[:5] == [1, 2, 3, 8, 19]  # primed inputs, then fed-back predictions


def test_predict_series_rejects_empty_priming_and_bad_steps():
    with pytest.raises(SeriesError, match="at least one observed value"):
        predict_series(Doubler(), np.zeros((0, 1)), 3)
    with pytest.raises(ConfigError, match="steps to generate"):
        predict_series(Doubler(), np.ones((2, 1)), 0)


class FitClock:
    """An engine callback noting when training began and ended."""

    def on_train_begin(self, info: dict) -> None:
        self.began = time.perf_counter()

    def on_train_end(self, summary: dict) -> None:
        self.ended = time.perf_counter()


@pytest.fixture(scope="module")
def timed_sine():
    """The demo's result, the engine's own start and end, and the wall-clock time around the call."""
    clock = FitClock()
    called = time.perf_counter()
    result = run_sine(epochs=400, until_mse=3e-5, learning_rate=0.03, seed=0, callbacks=[clock])
    return result, clock, time.perf_counter() - called


@pytest.fixture(scope="module")
def sine_result(timed_sine):
    return timed_sine[0]


def test_sine_demo_learns_the_continuation(sine_result):
    result = sine_result
    assert result.mse < 0.01
    assert result.mse_one_step < 0.01
    assert result.generated_x.tolist() == list(range(36, 72))
    assert np.allclose(result.expected, np.sin(np.arange(36, 72)), atol=1e-6)
    assert result.stopped == "until_loss" and result.epochs < 400
    assert result.final_loss <= 3e-5


def test_training_time_covers_the_training_and_no_more_than_the_call(timed_sine):
    result, clock, call_seconds = timed_sine
    assert clock.ended - clock.began - 1e-3 <= result.train_seconds <= call_seconds + 1e-3  # rounded to ms


def test_one_step_and_free_running_differ_as_they_should(sine_result):
    result = sine_result
    # both start from the same primed state, so the first prediction is the same one
    assert result.one_step[0] == pytest.approx(result.free_running[0])
    # afterwards free-running errors compound; one-step predictions always see the true value
    assert not np.allclose(result.one_step[1:], result.free_running[1:])
    assert result.mse_one_step < result.mse
    late_free = np.abs(result.free_running[18:] - result.expected[18:]).mean()
    late_one = np.abs(result.one_step[18:] - result.expected[18:]).mean()
    assert late_one < late_free


def test_fitted_values_cover_the_primed_region(sine_result):
    result = sine_result
    assert len(result.fitted) == 36
    assert np.abs(result.fitted[:-1] - np.sin(np.arange(1, 36))).mean() < 0.05
    assert result.fitted[-1] == pytest.approx(result.free_running[0])


def test_result_json_has_the_figures(sine_result):
    data = sine_result.to_json()
    for key in ("mse", "mse_one_step", "train_seconds", "epochs", "cell", "units", "stopped"):
        assert key in data
    assert len(data["predictions"]) == 36
    assert data["predictions"][0]["x"] == 36
    assert data["predictions"][0]["expected"] == pytest.approx(np.sin(36), abs=1e-6)


def test_same_seed_same_run():
    a = run_sine(points=12, generate=4, epochs=5, until_mse=0, seed=7)
    b = run_sine(points=12, generate=4, epochs=5, until_mse=0, seed=7)
    assert a.epochs == b.epochs == 5 and a.stopped == "completed"
    assert np.array_equal(a.free_running, b.free_running)


@pytest.mark.parametrize("kwargs, needle", [
    ({"points": 2}, "points must be between 3 and 100001"),
    ({"points": 10_000_000}, "points must be between 3 and 100001"),
    ({"generate": 0}, "generate must be between"),
    ({"until_mse": -1.0}, "until_mse must be 0 or more"),
    ({"cell": "tcn"}, "cell must be one of"),
    ({"units": 0}, "units must be a positive number"),
    ({"epochs": 0}, "epochs must be a positive number"),
])
def test_bad_settings_fail_before_training(kwargs, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        run_sine(**kwargs)


def test_diverged_result_gives_valid_json(sine_result):
    import dataclasses
    import json

    nan = float("nan")
    diverged = dataclasses.replace(sine_result, mse=nan, mse_one_step=float("inf"), final_loss=nan,
                                   free_running=np.full(36, nan))
    data = json.loads(json.dumps(diverged.to_json(), allow_nan=False))
    assert data["mse"] is None and data["mse_one_step"] is None and data["final_loss"] is None
    assert data["predictions"][0]["predicted"] is None
