"""Rich progress display for training (CLI layer: it prints)."""

from __future__ import annotations

import math
import signal
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table


class RichProgress:
    """Engine callback: a bar per epoch with loss, perplexity (or MSE), targets/s and ETA.

    Args:
        console: where to draw (stderr, so stdout stays clean for results).
        metric: "ppl" for token models (shows exp(loss)), "mse" for series.
        quiet: print nothing at all.
    """

    def __init__(self, console: Console, metric: str = "ppl", quiet: bool = False) -> None:
        self.console = console
        self.metric = metric
        self.quiet = quiet
        self.progress: Progress | None = None
        self.task = None
        self.epochs = 1
        self.windows = 1
        self._rate_targets = 0.0
        self._rate_start = time.perf_counter()
        self._smoothed: float | None = None
        self._planned: float | None = None

    def _figure(self, loss: float) -> str:
        if self.metric == "ppl":
            return f"ppl {math.exp(min(loss, 50)):8.1f}"
        return f"mse {loss:.5f}"

    def on_train_begin(self, info: dict[str, Any]) -> None:
        """Start the bar; a run with a time budget (``seconds_left``) shows the time left instead of an epoch ETA."""
        self.epochs, self.windows = info["epochs"], info["windows"]
        if self.quiet:
            return
        budgeted = info.get("seconds_left") is not None
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  {task.fields[figure]}  {task.fields[rate]} tok/s"),
            TextColumn("{task.fields[left]} left") if budgeted else TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=self.windows, completed=info["window"],
                                           epoch=info["epoch"] + 1, epochs=self.epochs or "?", loss="-", figure="",
                                           rate="-", left=_clock(info.get("seconds_left")))

    def on_plan(self, plan: dict[str, Any]) -> None:
        """A time budget's plan, made after a few timed steps: one line, and the epoch count in the bar."""
        if self.progress is None:
            return
        self._planned = plan["epochs"]
        self.progress.update(self.task, epochs=f"~{plan['epochs']:.3g}")
        rate = (f", learning rate decaying to {plan['final_learning_rate']:.1e}"
                if plan.get("final_learning_rate") is not None else "")
        self.progress.console.print(f"plan: about {plan['epochs']:.3g} epochs ({plan['steps']:,} steps of "
                                    f"{plan['seconds_per_step'] * 1000:.0f} ms) in {plan['train_seconds'] / 60:.1f} "
                                    f"minutes of training{rate}", highlight=False)

    def on_step(self, info: dict[str, Any]) -> None:
        self._smoothed = info["loss"] if self._smoothed is None else 0.95 * self._smoothed + 0.05 * info["loss"]
        self._rate_targets += info["targets"]
        if self.progress is None:
            return
        elapsed = time.perf_counter() - self._rate_start
        rate = f"{self._rate_targets / elapsed:,.0f}" if elapsed > 0 else "-"
        self.progress.update(self.task, completed=info["window"], epoch=info["epoch"] + 1,
                             loss=f"{self._smoothed:.4f}", figure=self._figure(self._smoothed), rate=rate,
                             left=_clock(info.get("seconds_left")))

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        self._smoothed = None
        if self.progress is None:
            return
        valid = f", valid {self._figure(record['val_loss'])}" if "val_loss" in record else ""
        part = f" ({record['windows']}/{self.windows} windows)" if "windows" in record else ""
        self.progress.console.print(
            f"epoch {record['epoch']}{part}: train {self._figure(record['loss'])}{valid}, "
            f"lr {record['learning_rate']:.2e}, {record['seconds']:.1f}s"
        )
        if self.epochs is None or record["epoch"] < self.epochs:
            self.progress.reset(self.task, total=self.windows)
            self.progress.update(self.task, epoch=record["epoch"] + 1)
            if self._planned is not None:  # a plan is an estimate: never show fewer epochs than are running
                self.progress.update(self.task, epochs=f"~{max(self._planned, record['epoch'] + 1):.3g}")
        self._rate_targets, self._rate_start = 0.0, time.perf_counter()

    def on_train_end(self, summary: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress.stop()

    def summary_table(self, summary: dict[str, Any], extra: dict[str, Any]) -> Table:
        table = Table(title="training summary", show_header=False)
        table.add_column("what", style="bold")
        table.add_column("value")
        history = summary["history"]
        rows = {**extra, "stopped": summary["stopped"], "epochs": summary["epochs"], "steps": summary["steps"],
                "seconds": f"{summary['seconds']:.1f}", "parameters": f"{summary.get('parameters', 0):,}"}
        if history:
            rows["final train loss"] = f"{history[-1]['loss']:.4f} ({self._figure(history[-1]['loss'])})"
            if "val_loss" in history[-1]:  # a stop in mid-epoch may have validated better than every epoch
                best = min([h["val_loss"] for h in history if "val_loss" in h] + [summary.get("val_loss_at_stop", math.inf)])
                rows["best valid loss"] = f"{best:.4f} ({self._figure(best)})"
        for key, value in rows.items():
            table.add_row(key, str(value))
        return table


def _clock(seconds: float | None) -> str:
    """Seconds as m:ss (or h:mm:ss), for the time left of a budget."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StopFlag:
    """First Ctrl-C asks training to stop after the current step and save; a second aborts."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.requested = False
        self._previous = None

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:  # noqa: ANN001
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.console.print("[yellow]stopping after this step and saving (Ctrl-C again to abort)…[/]")

    def __enter__(self) -> StopFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C as it is
            self._previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
