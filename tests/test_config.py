"""``config.py``: records refuse values no training can use, whoever builds them."""

from __future__ import annotations

import math

import pytest

from wordrnn.cli.app import cli_text
from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.errors import ConfigError


@pytest.mark.parametrize("record, field, flag", [
    (TrainConfig, "learning_rate", "--learning-rate"), (TrainConfig, "clipnorm", "--clipnorm"),
    (TrainConfig, "weight_decay", "--weight-decay"), (TrainConfig, "checkpoint_minutes", "--checkpoint-minutes"),
    (TrainConfig, "until_loss", "--until-mse"), (TrainConfig, "time_budget", "--time-budget"),
    (ModelConfig, "dropout", "--dropout"),
])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_float_fields_refuse_nan_and_infinity(record, field, flag, value):
    with pytest.raises(ConfigError, match=f"{field} must be a finite number") as caught:
        record(**{field: value})
    assert cli_text(caught.value).startswith(f"{flag} must be a finite number")
