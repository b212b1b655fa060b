"""The epoch loop behind ``Engine.fit``: windows, epoch ends, schedule, stopping and checkpoint cadence.

The engine knows how to run one window and how to snapshot itself; this module decides when:
which window comes next and with which state, what an epoch's record says, when the learning
rate is cut or decayed, when training stops, and when a snapshot goes to the caller's ``save``.
It never imports the engine (the engine imports it), so it works with anything that offers the
same few methods, such as ``distributed.DistributedEngine``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from wordrnn.config import TrainConfig
    from wordrnn.train.batching import StreamBatches
    from wordrnn.train.budget import Budget
    from wordrnn.train.engine import Engine, SaveFn, Snapshot

Emit = Callable[[str, dict[str, Any]], None]


class Callback(Protocol):
    """What the engine reports; every method is optional."""

    def on_train_begin(self, info: dict[str, Any]) -> None: ...
    def on_step(self, info: dict[str, Any]) -> None: ...
    def on_epoch_end(self, record: dict[str, Any]) -> None: ...
    def on_train_end(self, summary: dict[str, Any]) -> None: ...


def _improves(value: float, best: float) -> bool:
    """A relative improvement of at least 0.01%: fair to word losses (~5) and series MSEs (~1e-5) alike."""
    if not math.isfinite(best):
        return math.isfinite(value)
    return value < best - 1e-4 * abs(best)


@dataclass
class Run:
    """Where one fit stands; ``position()`` is what a snapshot records to continue it exactly."""

    states: list[Any]
    epoch: int = 0
    window: int = 0
    step: int = 0
    best: float = math.inf
    bad_epochs: int = 0
    loss_sum: float = 0.0  # the running epoch's, so a resumed epoch reports what an uninterrupted one would
    targets: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    averaged_better: bool = False  # the last validation preferred the averaged weights (``ema``)
    averaging_from: int | None = None  # the step ``ema_start`` restarted the averages at (None: not yet)

    def position(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "window": self.window, "step": self.step, "best": self.best,
                "bad_epochs": self.bad_epochs, "epoch_loss_sum": self.loss_sum, "epoch_targets": self.targets,
                "averaging_from": self.averaging_from}

    @classmethod
    def resumed(cls, snapshot: Snapshot, states: list[Any]) -> Run:
        """The run a snapshot stopped in. The recurrent state (``states``, built by the engine from the
        snapshot) and the epoch's running loss only count mid-epoch: an epoch boundary starts from zeros."""
        pos = snapshot.position
        run = cls(states, pos["epoch"], pos["window"], pos["step"], pos.get("best", math.inf),
                  pos.get("bad_epochs", 0), history=list(snapshot.history), averaging_from=pos.get("averaging_from"))
        if run.window:
            run.loss_sum, run.targets = float(pos.get("epoch_loss_sum", 0.0)), float(pos.get("epoch_targets", 0.0))
        return run


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
    if resume is not None and run.window == 0 and _patience_spent(engine.config, run, valid is not None):
        stopped = "early_stopping"  # the resumed run had already ended so: not one more epoch past it
    while (budget is not None or run.epoch < engine.config.epochs) and stopped is None:
        epoch_start = time.perf_counter()
        stopped = _train_epoch(engine, train, run, saves, emit, should_stop, budget)
        if stopped == "interrupted" and run.window < train.num_windows:
            stop_loss = _keep_if_best(engine, run, valid, saves)
            break
        record, improved = _close_epoch(engine, run, epoch_start, valid, partial_windows=train.num_windows)
        run.states = engine.zero_states(train.batch_size)
        emit("on_epoch_end", record)
        stopped = _schedule(engine, run, record.get("val_loss", record["loss"]), valid is not None, budget) or stopped
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
    from wordrnn.train.batching import StreamBatches

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
    monitored = _validate(engine, run, valid)[0] if valid is not None else None
    if saves.save is None:
        return monitored
    if monitored is not None and _improves(monitored, run.best):
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
        if cfg.fresh_state or _awaiting_averages(cfg, run):  # the only settings that ask how far training is
            done = _progress(cfg, run, train.num_windows, budget)
            if done < cfg.fresh_state:
                run.states = engine.zero_states(train.batch_size)
            if _awaiting_averages(cfg, run) and done >= cfg.ema_start:
                engine.restart_averages()
                run.averaging_from = run.step
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


def _awaiting_averages(cfg: TrainConfig, run: Run) -> bool:
    """Whether ``ema_start`` has yet to begin the averages (until then they are not the model's)."""
    return bool(cfg.ema_start) and run.averaging_from is None


def _progress(cfg: TrainConfig, run: Run, windows: int, budget: Budget | None) -> float:
    """How far the training is, 0 to 1: of a budget's time, else of its ``epochs`` x ``windows`` steps
    (when ``fresh_state`` ends and ``ema_start`` begins)."""
    return budget.progress() if budget is not None else run.step / max(cfg.epochs * windows, 1)


def _close_epoch(engine: Engine, run: Run, epoch_start: float, valid: StreamBatches | None,
                 partial_windows: int = 0) -> tuple[dict[str, Any], bool]:
    """The finished epoch's history record (validated on ``valid``) and whether it improved on the best.

    The monitored figure is the validation loss when there is validation text, else the
    training loss, so learning-rate cuts and ``until_loss`` work without held-out text too.
    An epoch that a step limit or the time budget ended before its ``partial_windows`` windows
    says how many it trained (``windows``), so its figures are not mistaken for a full epoch's.
    """
    record: dict[str, Any] = {
        "epoch": run.epoch + 1,
        "loss": run.loss_sum / max(run.targets, 1.0),
        "learning_rate": engine.learning_rate,
        "seconds": round(time.perf_counter() - epoch_start, 3),
        "targets": int(run.targets),
        "step": run.step,
    }
    if run.window < partial_windows:
        record["windows"] = run.window
    monitored = record["loss"]
    if valid is not None:
        monitored, figures = _validate(engine, run, valid)
        record.update(figures)
    improved = _improves(monitored, run.best)
    if improved:
        run.best, run.bad_epochs = monitored, 0
    else:
        run.bad_epochs += 1
    run.history.append(record)
    run.epoch, run.window = run.epoch + 1, 0
    return record, improved


def _validate(engine: Engine, run: Run, valid: StreamBatches) -> tuple[float, dict[str, float]]:
    """The validation loss that counts, and the figures an epoch's record shows.

    With ``ema`` both the trained and the averaged weights are measured and the better counts
    (``run.averaged_better`` says which, so a snapshot saves those): early in a run the average
    lags behind weights that improve fast, later it is usually the better. Before ``ema_start``
    the averages are not yet the model's, and only the trained weights are measured.
    """
    trained = engine.evaluate(valid)
    if not engine.config.ema or _awaiting_averages(engine.config, run):
        return trained, {"val_loss": trained}
    with engine.averaged():
        averaged = engine.evaluate(valid)
    run.averaged_better = averaged < trained
    best = min(trained, averaged)
    return best, {"val_loss": best, "val_loss_trained": trained, "val_loss_averaged": averaged}


def _patience_spent(cfg: TrainConfig, run: Run, has_valid: bool) -> bool:
    """Early stopping's patience is used up: ``cfg.early_stopping`` epochs in a row without improvement.

    Asked at each epoch's end, and once when a run resumes at an epoch boundary, so resuming a run
    that early stopping ended trains nothing (``--early-stopping`` given larger lets it go on).
    """
    return bool(cfg.early_stopping) and run.bad_epochs >= cfg.early_stopping and has_valid


def _schedule(engine: Engine, run: Run, monitored: float, has_valid: bool, budget: Budget | None = None) -> str | None:
    """The epoch-end decisions: stop (``until_loss``, early stopping) or cut/decay the learning rate.

    Made before the epoch's checkpoint is saved, so a resume from it keeps the schedule. Under a
    budget that decays the rate itself, a plateau cut multiplies the budget's rate from now on.
    """
    cfg = engine.config
    stopped = None
    if cfg.until_loss and monitored <= cfg.until_loss:
        stopped = "until_loss"
    elif _patience_spent(cfg, run, has_valid):
        stopped = "early_stopping"
    elif cfg.lr_patience and run.bad_epochs and run.bad_epochs % cfg.lr_patience == 0:
        engine.scale_learning_rate(cfg.lr_factor)
        if budget is not None:
            budget.cuts *= cfg.lr_factor
    if cfg.lr_decay != 1.0:
        engine.scale_learning_rate(cfg.lr_decay)
    return stopped
