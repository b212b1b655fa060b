"""The epoch loop behind ``Engine.fit``: windows, epoch ends, schedule, stopping and checkpoint cadence.

The engine knows how to run one window and how to snapshot itself; this module decides when:
which window comes next and with which state, when training stops, and when a snapshot goes to the
caller's ``save``. What an epoch's end records and decides (validation, learning-rate cuts, early
stopping) is in ``run.py``. It never imports the engine (the engine imports it), so it works with
anything that offers the same few methods, such as ``distributed.DistributedEngine``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from wordrnn.train.batching import StreamBatches, fresh_streams
from wordrnn.train.run import Run, awaiting_averages, close_epoch, improves, patience_spent, progress, schedule, validate

if TYPE_CHECKING:
    from wordrnn.train.budget import Budget
    from wordrnn.train.engine import Engine, SaveFn, Snapshot

Emit = Callable[[str, dict[str, Any]], None]


class Callback(Protocol):
    """What the engine reports; every method is optional."""

    def on_train_begin(self, info: dict[str, Any]) -> None: ...
    def on_step(self, info: dict[str, Any]) -> None: ...
    def on_epoch_end(self, record: dict[str, Any]) -> None: ...
    def on_train_end(self, summary: dict[str, Any]) -> None: ...


class _Saves:
    """The checkpoint writes of one fit: epoch-end saves at most every ``min_seconds``.

    Many tiny epochs (a short series) would otherwise spend most of their time writing; a
    skipped epoch-end save stays pending and goes out with the next save, and the fit always
    flushes at its end, so throttling never loses the last or the best model.
    """

    def __init__(self, save: SaveFn | None, min_seconds: float) -> None:
        self.save, self.min_seconds = save, min_seconds
        self.pending: dict[str, Snapshot] = {}
        self.last = time.perf_counter()

    def seconds_since_save(self) -> float:
        return time.perf_counter() - self.last

    def flush(self, snapshot: Snapshot | None = None) -> None:
        """Write what is pending (with ``snapshot`` as the latest), best before last."""
        if snapshot is not None:
            self.pending["last"] = snapshot
        for kind in ("best", "last"):
            if kind in self.pending and self.save:
                self.save(kind, self.pending.pop(kind))
        self.last = time.perf_counter()

    def epoch_end(self, snapshot: Snapshot, improved: bool) -> None:
        if improved:
            self.pending["best"] = snapshot
        self.pending["last"] = snapshot
        if self.seconds_since_save() >= self.min_seconds:
            self.flush()


def _emit(callbacks: Sequence[Any], name: str, payload: dict[str, Any]) -> None:
    """Call ``name`` on every callback that has it: a callback implements only what it needs."""
    for callback in callbacks:
        method = getattr(callback, name, None)
        if method:
            method(payload)


def fit(engine: Engine, train: StreamBatches, valid: StreamBatches | None, callbacks: Sequence[Any],
        save: SaveFn | None, resume: Snapshot | None, should_stop: Callable[[], bool],
        budget: Budget | None = None) -> dict[str, Any]:
    """``Engine.fit`` (see there): epochs until the configured end, a stop condition or a stop request.

    With a ``budget`` the budget, not ``config.epochs``, decides the length (see ``budget.py``).
    """
    run = engine.start(train.batch_size, resume)
    emit = functools.partial(_emit, callbacks)
    if budget is not None:
        doubled = 1.0 - engine.config.ema_start if engine.config.ema else 0.0  # validations that measure both weight sets
        budget.begin(engine.learning_rate, _validation_seconds(engine, valid) * (1.0 + doubled))
    emit("on_train_begin", {"epochs": None if budget else engine.config.epochs, "windows": train.num_windows,
                            "epoch": run.epoch, "window": run.window, "step": run.step,
                            "targets_per_epoch": train.num_targets,
                            "seconds_left": budget.seconds_left() if budget else None})
    saves = _Saves(save, engine.config.min_save_seconds)
    started, first_step = time.perf_counter(), run.step
    stopped = stop_loss = None
    if resume is not None and run.window == 0 and patience_spent(engine.config, run, valid is not None):
        stopped = "early_stopping"  # the resumed run had already ended so: not one more epoch past it
    while (budget is not None or run.epoch < engine.config.epochs) and stopped is None:
        epoch_start = time.perf_counter()
        stopped = _train_epoch(engine, train, run, saves, emit, should_stop, budget)
        if stopped == "interrupted" and run.window < train.num_windows:
            stop_loss = _keep_if_best(engine, run, valid, saves)
            break
        record, improved = close_epoch(engine, run, epoch_start, valid, partial_windows=train.num_windows)
        run.states = engine.zero_states(train.batch_size)
        emit("on_epoch_end", record)
        stopped = schedule(engine, run, record.get("val_loss", record["loss"]), valid is not None, budget) or stopped
        if stopped is None and budget is not None and not budget.room_for_another_epoch():
            stopped = "time_budget"
        if save:  # after the schedule: the rate saved is the next epoch's, as a resume must use it
            saves.epoch_end(engine.snapshot_of(run), improved)
    if saves.pending:
        saves.flush()
    summary = {"stopped": stopped or "completed", "epochs": run.epoch, "steps": run.step,
               "new_steps": run.step - first_step, "best": run.best,
               "seconds": round(time.perf_counter() - started, 3), "history": run.history}
    if stop_loss is not None:
        summary["val_loss_at_stop"] = stop_loss
    emit("on_train_end", summary)
    return summary


def _validation_seconds(engine: Engine, valid: StreamBatches | None, windows: int = 2) -> float:
    """What one validation pass costs, timed on its first ``windows`` windows (after tracing them once)."""
    if valid is None:
        return 0.0
    needed = valid.batch_size * valid.window * windows + 1
    sample = StreamBatches(valid.data[:needed], valid.batch_size, valid.window) if len(valid.data) > needed else valid
    engine.evaluate(sample)
    began = time.perf_counter()
    engine.evaluate(sample)
    return (time.perf_counter() - began) * valid.num_windows / max(sample.num_windows, 1)


def _keep_if_best(engine: Engine, run: Run, valid: StreamBatches | None, saves: _Saves) -> float | None:
    """A stop in mid-epoch: checkpoint where the run stands, and keep its weights as the model's if
    they validate better than the best epoch's (a long epoch stopped near its end usually does).

    Returns that validation loss. The schedule's record (``run.best``) is left alone, so a resumed
    run makes the decisions an uninterrupted one would. Every worker of a strategy validates
    (the pass is collective); only the chief, which has ``saves.save``, writes.
    """
    monitored = validate(engine, run, valid)[0] if valid is not None else None
    if saves.save is None:
        return monitored
    if monitored is not None and improves(monitored, run.best):
        saves.pending["best"] = engine.snapshot(run.states, {**run.position(), "val_loss": monitored}, run.history,
                                                run.averaged_better)
    saves.flush(engine.snapshot_of(run))
    return monitored


def _train_epoch(engine: Engine, train: StreamBatches, run: Run, saves: _Saves, emit: Emit,
                 should_stop: Callable[[], bool], budget: Budget | None = None) -> str | None:
    """The windows of one epoch from ``run.window`` on; returns why it stopped early, if it did.

    Mid-epoch checkpoints (every ``checkpoint_every`` steps or ``checkpoint_minutes``) are
    written here, since a long epoch is where a crash costs the most.
    """
    cfg = engine.config
    if run.window == 0:
        run.loss_sum = run.targets = 0.0
    while run.window < train.num_windows:
        if budget is not None and (rate := budget.learning_rate()) is not None:
            engine.set_learning_rate(rate)
        if cfg.fresh_state or awaiting_averages(cfg, run):  # the only settings that ask how far training is
            done = progress(cfg, run, train.num_windows, budget)
            if done < cfg.fresh_state:
                run.states = engine.zero_states(train.batch_size)
            if awaiting_averages(cfg, run) and done >= cfg.ema_start:
                engine.restart_averages()
                run.averaging_from = run.step
        if cfg.state_reset and (rows := fresh_streams(run.window, train.batch_size, cfg.state_reset)).any():
            run.states = engine.reset_streams(run.states, rows)
        t, c, run.states = engine.train_window(*train.batch(run.window), run.states)
        run.window += 1
        run.step += 1
        run.loss_sum += float(t)
        run.targets += float(c)
        emit("on_step", {"epoch": run.epoch, "window": run.window, "step": run.step,
                         "loss": float(t) / max(float(c), 1.0), "targets": float(c),
                         "seconds_left": budget.seconds_left() if budget else None})
        if budget is not None and (plan := budget.after_step(run.step, train.num_windows)) is not None:
            emit("on_plan", plan)
        due = cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0
        if cfg.checkpoint_minutes and saves.seconds_since_save() >= 60 * cfg.checkpoint_minutes:
            due = True
        if saves.save and due:
            saves.flush(engine.snapshot_of(run))
        if should_stop():
            return "interrupted"
        if cfg.max_steps and run.step >= cfg.max_steps:
            return "max_steps"
        if budget is not None and budget.out_of_time():
            return "time_budget"
    return None

