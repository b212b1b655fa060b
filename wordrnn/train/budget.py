"""A training run with a time budget: when to stop, the learning rate at each moment, and the plan.

A user who says "five minutes" wants the best model five minutes can make, not a long schedule cut
short: a run stopped half-way through a per-epoch decay still has a high learning rate and noisy
weights. So the budget's run decays the learning rate over the time it has, from its start value
to ``FINAL_LR`` of it (exponentially in elapsed time, which is the same as over the planned steps
while the step time holds, and stays right when a shared machine slows down), and stops when the
time left is what the last validation pass, the save and the export need. Time, not a step count,
is what is planned against, so the run ends inside the budget whatever the machine does.

``Budget`` only reads a clock; ``loop.fit`` asks it each step whether to stop and which rate to
use, and reports its ``plan`` (steps and epochs expected, measured after ``CALIBRATION`` steps).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FINAL_LR = 0.1  # the budget's learning rate ends at this fraction of its start
CALIBRATION = 10  # steps timed (after the first, traced one) before the plan is made
EXPORT_SECONDS = 5.0  # a LiteRT conversion of a small model, with room to spare (``reserve_seconds``)


@dataclass
class Budget:
    """The clock of one budgeted fit.

    Args:
        deadline: ``clock()`` time by which the whole run, export included, must be done.
        reserve: seconds kept after training for saving and exporting the model.
        decay: decay the learning rate to ``FINAL_LR`` over the training time (off when the caller
            asked for a per-epoch decay instead).
        clock: the time source (``time.perf_counter``; tests pass a fake one).
    """

    deadline: float
    reserve: float = 0.0
    decay: bool = True
    clock: Callable[[], float] = time.perf_counter
    validation_seconds: float = 0.0
    start: float = 0.0
    lr_start: float = 0.0
    cuts: float = 1.0  # plateau cuts (``lr_patience``) multiply the decayed rate
    _first_step: tuple[int, float] | None = None
    _planned: bool = False

    def begin(self, learning_rate: float, validation_seconds: float) -> None:
        """Start the clock of training, knowing what one validation pass costs."""
        self.start, self.lr_start, self.validation_seconds = self.clock(), learning_rate, validation_seconds

    @property
    def train_end(self) -> float:
        """When training must stop: the deadline less the last validation, the save and the export."""
        return self.deadline - self.reserve - self.validation_seconds

    def seconds_left(self) -> float:
        """Seconds until the deadline (what the progress display shows)."""
        return max(0.0, self.deadline - self.clock())

    def out_of_time(self) -> bool:
        return self.clock() >= self.train_end

    def room_for_another_epoch(self) -> bool:
        """At an epoch end: is there time for more training and its own validation pass?

        Stopping here rather than a moment into the next epoch saves a second validation pass.
        """
        return self.train_end - self.clock() > self.validation_seconds

    def learning_rate(self) -> float | None:
        """The rate for the next step (None: leave the optimizer's rate alone)."""
        if not self.decay:
            return None
        return self.lr_start * FINAL_LR**self.progress() * self.cuts

    def progress(self) -> float:
        """The fraction of the training time spent (0 to 1)."""
        span = max(self.train_end - self.start, 1e-9)
        return min(max((self.clock() - self.start) / span, 0.0), 1.0)

    def after_step(self, step: int, windows: int) -> dict[str, Any] | None:
        """Called after every step; once, after ``CALIBRATION`` timed steps, returns the plan.

        The plan solves steps x step time + (steps / windows) x validation time = training time left,
        since every epoch end costs one validation pass.
        """
        now = self.clock()
        if self._first_step is None:
            self._first_step = (step, now)
            return None
        first, at = self._first_step
        if self._planned or step - first < CALIBRATION:
            return None
        self._planned = True
        per_step = (now - at) / (step - first)
        left = max(self.train_end - now, 0.0)
        more = int(left / (per_step + self.validation_seconds / max(windows, 1)))
        return {"steps": step + more, "epochs": round((step + more) / max(windows, 1), 2),
                "seconds_per_step": round(per_step, 4), "train_seconds": round(self.train_end - self.start, 1),
                "final_learning_rate": self.lr_start * FINAL_LR * self.cuts if self.decay else None}


def budget_for(minutes: float, started: float, reserve: float, decay: bool) -> Budget:
    """The budget of a run that started at ``started`` (``time.perf_counter()``) and may last ``minutes``."""
    if not math.isfinite(minutes) or minutes <= 0:
        raise ValueError(f"a time budget must be a positive number of minutes, got {minutes!r}")
    return Budget(deadline=started + 60.0 * minutes, reserve=reserve, decay=decay)


def reserve_seconds(parameters: int, export: bool) -> float:
    """Seconds to keep after training for writing the model (and converting it for LiteRT when ``export``).

    Measured on 2 shared CPU cores: a LiteRT conversion takes about 1-3 s for a small model plus up to
    2 s per million parameters (tracing, conversion, the agreement check); writing the weights
    takes well under a second. The margin is generous because overrunning is the failure that matters.
    """
    save = 1.0 + parameters * 4 / 100e6  # float32 weights at ~100 MB/s, fsynced
    return save + (EXPORT_SECONDS + 2.0 * parameters / 1e6 if export else 0.0)

