"""Where one fit stands (``Run``) and what happens at an epoch's end: its record, validation, and the
schedule's decisions (stop, cut or decay the learning rate).

``loop.py`` runs the windows and asks this module at each epoch's end. Like the loop it never imports
the engine, so it works with anything offering the same few methods (``distributed.DistributedEngine``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wordrnn.config import TrainConfig
    from wordrnn.train.batching import StreamBatches
    from wordrnn.train.budget import Budget
    from wordrnn.train.engine import Engine, Snapshot


def improves(value: float, best: float) -> bool:
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


def awaiting_averages(cfg: TrainConfig, run: Run) -> bool:
    """Whether ``ema_start`` has yet to begin the averages (until then they are not the model's)."""
    return bool(cfg.ema_start) and run.averaging_from is None


def progress(cfg: TrainConfig, run: Run, windows: int, budget: Budget | None) -> float:
    """How far the training is, 0 to 1: of a budget's time, else of its ``epochs`` x ``windows`` steps
    (when ``fresh_state`` ends and ``ema_start`` begins)."""
    return budget.progress() if budget is not None else run.step / max(cfg.epochs * windows, 1)


def close_epoch(engine: Engine, run: Run, epoch_start: float, valid: StreamBatches | None,
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
        monitored, figures = validate(engine, run, valid)
        record.update(figures)
    improved = improves(monitored, run.best)
    if improved:
        run.best, run.bad_epochs = monitored, 0
    else:
        run.bad_epochs += 1
    run.history.append(record)
    run.epoch, run.window = run.epoch + 1, 0
    return record, improved


def validate(engine: Engine, run: Run, valid: StreamBatches) -> tuple[float, dict[str, float]]:
    """The validation loss that counts, and the figures an epoch's record shows.

    With ``ema`` both the trained and the averaged weights are measured and the better counts
    (``run.averaged_better`` says which, so a snapshot saves those): early in a run the average
    lags behind weights that improve fast, later it is usually the better. Before ``ema_start``
    the averages are not yet the model's, and only the trained weights are measured.
    """
    trained = engine.evaluate(valid)
    if not engine.config.ema or awaiting_averages(engine.config, run):
        return trained, {"val_loss": trained}
    with engine.averaged():
        averaged = engine.evaluate(valid)
    run.averaged_better = averaged < trained
    best = min(trained, averaged)
    return best, {"val_loss": best, "val_loss_trained": trained, "val_loss_averaged": averaged}


def patience_spent(cfg: TrainConfig, run: Run, has_valid: bool) -> bool:
    """Early stopping's patience is used up: ``cfg.early_stopping`` epochs in a row without improvement.

    Asked at each epoch's end, and once when a run resumes at an epoch boundary, so resuming a run
    that early stopping ended trains nothing (``--early-stopping`` given larger lets it go on).
    """
    return bool(cfg.early_stopping) and run.bad_epochs >= cfg.early_stopping and has_valid


def schedule(engine: Engine, run: Run, monitored: float, has_valid: bool, budget: Budget | None = None) -> str | None:
    """The epoch-end decisions: stop (``until_loss``, early stopping) or cut/decay the learning rate.

    Made before the epoch's checkpoint is saved, so a resume from it keeps the schedule. Under a
    budget that decays the rate itself, a plateau cut multiplies the budget's rate from now on.
    """
    cfg = engine.config
    stopped = None
    if cfg.until_loss and monitored <= cfg.until_loss:
        stopped = "until_loss"
    elif patience_spent(cfg, run, has_valid):
        stopped = "early_stopping"
    elif cfg.lr_patience and run.bad_epochs and run.bad_epochs % cfg.lr_patience == 0:
        engine.scale_learning_rate(cfg.lr_factor)
        if budget is not None:
            budget.cuts *= cfg.lr_factor
    if cfg.lr_decay != 1.0:
        engine.scale_learning_rate(cfg.lr_decay)
    return stopped
