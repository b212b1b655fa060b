"""The stateful training engine: truncated BPTT with explicit recurrent state.

The engine knows nothing about text. It trains any Keras model of the form
``[inputs, *states] -> [outputs, *states]`` on windows from ``StreamBatches``
with a per-position loss function; token and series models differ only in the
model and the loss they pass in. The state at the end of window k is the
initial state of window k+1; it is reset to zeros at every epoch start, so
training, validation and prediction all begin from the same start state.

Progress goes to callbacks; checkpoints go to a ``save`` callable the caller
supplies (it knows the model directory, the engine does not).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from wordrnn.nn.tfimport import tensorflow

tf = tensorflow()
import keras  # noqa: E402  (after the quiet TensorFlow import)

from wordrnn.train.batching import StreamBatches
from wordrnn.config import TrainConfig
from wordrnn.nn.model import get_weight_arrays, set_weight_arrays


class Callback(Protocol):
    """What the engine reports; every method is optional."""

    def on_train_begin(self, info: dict[str, Any]) -> None: ...
    def on_step(self, info: dict[str, Any]) -> None: ...
    def on_epoch_end(self, record: dict[str, Any]) -> None: ...
    def on_train_end(self, summary: dict[str, Any]) -> None: ...


@dataclass
class Snapshot:
    """Everything needed to continue training exactly where it stopped."""

    weights: dict[str, np.ndarray]
    optimizer: list[np.ndarray]
    states: list[np.ndarray]
    position: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    seeds: list[np.ndarray] = field(default_factory=list)  # dropout's random-stream positions


SaveFn = Callable[[str, Snapshot], None]


def _improves(value: float, best: float) -> bool:
    """A relative improvement of at least 0.01%: fair to word losses (~5) and series MSEs (~1e-5) alike."""
    if not math.isfinite(best):
        return math.isfinite(value)
    return value < best - 1e-4 * abs(best)


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    clip = {"global_clipnorm": config.clipnorm} if config.clipnorm else {}
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=config.learning_rate, **clip)
    if config.weight_decay:
        return keras.optimizers.AdamW(learning_rate=config.learning_rate, weight_decay=config.weight_decay, **clip)
    return keras.optimizers.Adam(learning_rate=config.learning_rate, **clip)


class Engine:
    """Trains and evaluates one model with explicit state.

    Args:
        model: ``[inputs, *states] -> [outputs, *states]`` (see ``model.build_model``).
        loss_fn: ``(targets, outputs) -> per-position loss (B, T)``.
        config: batch, window, optimizer and schedule settings.
        state_sizes: width of each state tensor, in model order.
        train_model, train_loss_fn: optionally what the train step runs instead of ``model`` and
            ``loss_fn``: a model sharing ``model``'s weights and its own loss (e.g. a sampled
            softmax over hidden states). Validation always uses ``model`` and ``loss_fn``.
    """

    def __init__(self, model: keras.Model, loss_fn: Callable, config: TrainConfig, state_sizes: Sequence[int],
                 train_model: keras.Model | None = None, train_loss_fn: Callable | None = None) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.train_model = train_model or model
        self.train_loss_fn = train_loss_fn or loss_fn
        self.config = config
        self.state_sizes = list(state_sizes)
        self.optimizer = make_optimizer(config)
        self.optimizer.build(model.trainable_variables)
        input_spec = model.inputs[0]
        x_spec = tf.TensorSpec((None, None, *input_spec.shape[2:]), input_spec.dtype)
        y_spec = tf.TensorSpec((None, None, *input_spec.shape[2:]), "int32" if input_spec.dtype == "int32" else "float32")
        w_spec = tf.TensorSpec((None, None), tf.float32)
        s_specs = [tf.TensorSpec((None, size), tf.float32) for size in self.state_sizes]
        self._x_dtype, self._y_dtype = x_spec.dtype.as_numpy_dtype, y_spec.dtype.as_numpy_dtype
        signature = [x_spec, y_spec, w_spec, s_specs]
        self._train_step = tf.function(self._train_step_impl, input_signature=signature, reduce_retracing=True,
                                       jit_compile=config.xla or None)
        self._eval_step = tf.function(self._eval_step_impl, input_signature=signature, reduce_retracing=True)

    def zero_states(self, batch_size: int) -> list[tf.Tensor]:
        return [tf.zeros((batch_size, size), tf.float32) for size in self.state_sizes]

    def _weighted_loss(self, y, w, outputs, loss_fn=None):
        per_position = (loss_fn or self.loss_fn)(y, outputs)
        total = tf.reduce_sum(per_position * w)
        count = tf.reduce_sum(w)
        return total, count

    def _normalizer(self, count):
        """Weighted positions a step's loss is averaged over (all replicas' under tf.distribute)."""
        return count

    def _train_step_impl(self, x, y, w, states):
        with tf.GradientTape() as tape:
            outputs, *new_states = self.train_model([x, *states], training=True)
            total, count = self._weighted_loss(y, w, outputs, self.train_loss_fn)
            loss = total / tf.maximum(self._normalizer(count), 1.0)
        grads = tape.gradient(loss, self.model.trainable_variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        self.optimizer.apply(grads, self.model.trainable_variables)
        return total, count, [tf.stop_gradient(s) for s in new_states]

    def _eval_step_impl(self, x, y, w, states):
        outputs, *new_states = self.model([x, *states], training=False)
        total, count = self._weighted_loss(y, w, outputs)
        return total, count, new_states

    def _cast(self, batch: tuple[np.ndarray, np.ndarray, np.ndarray]):
        x, y, w = batch
        return x.astype(self._x_dtype, copy=False), y.astype(self._y_dtype, copy=False), w

    def train_window(self, x, y, w, states):
        """One truncated-BPTT step: returns (loss sum, target count, state for the next window)."""
        return self._train_step(*self._cast((x, y, w)), states)

    def evaluate(self, batches: StreamBatches, on_window: Callable[[int], None] | None = None) -> float:
        """Mean loss over every weighted position, from a freshly reset state."""
        states = self.zero_states(batches.batch_size)
        total = count = 0.0
        for k in range(batches.num_windows):
            x, y, w = self._cast(batches.batch(k))
            t, c, states = self._eval_step(x, y, w, states)
            total += float(t)
            count += float(c)
            if on_window:
                on_window(k)
        return total / max(count, 1.0)

    @property
    def learning_rate(self) -> float:
        return float(np.asarray(self.optimizer.learning_rate))

    def _seed_variables(self) -> list[Any]:
        """Keras' seed-generator states (dropout): variables of the model that are not weights.

        Saving them makes a resumed run draw the same dropout masks as an uninterrupted one.
        """
        weights = {id(w) for w in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def snapshot(self, states, position: dict[str, Any], history: list[dict[str, Any]]) -> Snapshot:
        return Snapshot(
            weights=get_weight_arrays(self.model),
            optimizer=[np.asarray(v) for v in self.optimizer.variables],
            states=[np.asarray(s) for s in states],
            position=dict(position, learning_rate=self.learning_rate),
            history=list(history),
            seeds=[np.asarray(v) for v in self._seed_variables()],
        )

    def restore(self, snapshot: Snapshot) -> None:
        set_weight_arrays(self.model, snapshot.weights, "checkpoint weights")
        variables = self.optimizer.variables
        if len(variables) != len(snapshot.optimizer):
            from wordrnn.errors import ModelFormatError

            raise ModelFormatError("the checkpoint's optimizer state does not match --optimizer; resume with the same settings")
        for variable, value in zip(variables, snapshot.optimizer):
            variable.assign(value)
        self.optimizer.learning_rate.assign(snapshot.position.get("learning_rate", self.config.learning_rate))
        seeds = self._seed_variables()
        if len(snapshot.seeds) == len(seeds):  # older checkpoints have none: training goes on with fresh draws
            for variable, value in zip(seeds, snapshot.seeds):
                if tuple(variable.shape) == value.shape:
                    variable.assign(value)

    def fit(
        self,
        train: StreamBatches,
        valid: StreamBatches | None = None,
        callbacks: Sequence[Any] = (),
        save: SaveFn | None = None,
        resume: Snapshot | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> dict[str, Any]:
        """Train for ``config.epochs`` epochs (or until early stopping, ``until_loss``, ``max_steps`` or ``should_stop``).

        ``save("best" | "last", snapshot)`` is called when validation improves, at epoch ends at
        most every ``min_save_seconds`` (a skipped one is written with the next save), every
        ``checkpoint_every`` steps or ``checkpoint_minutes`` minutes, and when training ends or stops.
        A snapshot holds the epoch's running loss too, so a resumed epoch reports what an
        uninterrupted one would (and learning-rate decisions based on it stay the same).
        """
        cfg = self.config
        history: list[dict[str, Any]] = []
        epoch, window, step = 0, 0, 0
        best, bad_epochs = math.inf, 0
        total = count = 0.0
        states = self.zero_states(train.batch_size)
        if resume is not None:
            self.restore(resume)
            pos = resume.position
            epoch, window, step = pos["epoch"], pos["window"], pos["step"]
            best, bad_epochs = pos.get("best", math.inf), pos.get("bad_epochs", 0)
            history = list(resume.history)
            if window:
                states = [tf.constant(s) for s in resume.states]
                total, count = float(pos.get("epoch_loss_sum", 0.0)), float(pos.get("epoch_targets", 0.0))

        def emit(name: str, payload: dict[str, Any]) -> None:
            for callback in callbacks:
                method = getattr(callback, name, None)
                if method:
                    method(payload)

        def position() -> dict[str, Any]:
            return {"epoch": epoch, "window": window, "step": step, "best": best, "bad_epochs": bad_epochs,
                    "epoch_loss_sum": total, "epoch_targets": count}

        emit("on_train_begin", {"epochs": cfg.epochs, "windows": train.num_windows, "epoch": epoch,
                                "window": window, "step": step, "targets_per_epoch": train.num_targets})
        stopped = None
        started = last_save = time.perf_counter()
        pending: dict[str, Snapshot] = {}  # epoch-end saves not yet written (min_save_seconds)

        def flush(snapshot: Snapshot | None = None) -> None:
            nonlocal last_save
            if snapshot is not None:
                pending["last"] = snapshot
            for kind in ("best", "last"):
                if kind in pending and save:
                    save(kind, pending.pop(kind))
            last_save = time.perf_counter()

        while epoch < cfg.epochs and stopped is None:
            epoch_start = time.perf_counter()
            if window == 0:
                total = count = 0.0
            while window < train.num_windows:
                x, y, w = self._cast(train.batch(window))
                t, c, states = self._train_step(x, y, w, states)
                window += 1
                step += 1
                total += float(t)
                count += float(c)
                emit("on_step", {"epoch": epoch, "window": window, "step": step, "loss": float(t) / max(float(c), 1.0),
                                 "targets": float(c)})
                due = cfg.checkpoint_every and step % cfg.checkpoint_every == 0
                if cfg.checkpoint_minutes and time.perf_counter() - last_save >= 60 * cfg.checkpoint_minutes:
                    due = True
                if save and due:
                    flush(self.snapshot(states, position(), history))
                if should_stop():
                    stopped = "interrupted"
                    break
                if cfg.max_steps and step >= cfg.max_steps:
                    stopped = "max_steps"
                    break
            if stopped == "interrupted" and window < train.num_windows:
                if save:
                    flush(self.snapshot(states, position(), history))
                break
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "loss": total / max(count, 1.0),
                "learning_rate": self.learning_rate,
                "seconds": round(time.perf_counter() - epoch_start, 3),
                "targets": int(count),
                "step": step,
            }
            monitored = record["loss"]
            if valid is not None:
                record["val_loss"] = monitored = self.evaluate(valid)
            improved = _improves(monitored, best)
            if improved:
                best, bad_epochs = monitored, 0
            else:
                bad_epochs += 1
            history.append(record)
            epoch, window = epoch + 1, 0
            states = self.zero_states(train.batch_size)
            emit("on_epoch_end", record)
            if cfg.until_loss and monitored <= cfg.until_loss:
                stopped = "until_loss"
            elif cfg.early_stopping and bad_epochs >= cfg.early_stopping and valid is not None:
                stopped = "early_stopping"
            elif cfg.lr_patience and bad_epochs and bad_epochs % cfg.lr_patience == 0:
                self.optimizer.learning_rate.assign(self.learning_rate * cfg.lr_factor)
            if cfg.lr_decay != 1.0:
                self.optimizer.learning_rate.assign(self.learning_rate * cfg.lr_decay)
            if save:  # after the schedule: the rate saved is the next epoch's, as a resume must use it
                snapshot = self.snapshot(states, position(), history)
                if improved:
                    pending["best"] = snapshot
                pending["last"] = snapshot
                if time.perf_counter() - last_save >= cfg.min_save_seconds:
                    flush()
        if pending:
            flush()
        summary = {
            "stopped": stopped or "completed",
            "epochs": epoch,
            "steps": step,
            "best": best,
            "seconds": round(time.perf_counter() - started, 3),
            "history": history,
        }
        emit("on_train_end", summary)
        return summary
