"""The stateful training engine: truncated BPTT with explicit recurrent state.

The engine knows nothing about text. It trains any Keras model of the form
``[inputs, *states] -> [outputs, *states]`` on windows from ``StreamBatches``
with a per-position loss function; token and series models differ only in the
model and the loss they pass in. The state at the end of window k is the
initial state of window k+1; it is reset to zeros at every epoch start, so
training, validation and prediction all begin from the same start state.

Progress goes to callbacks; checkpoints go to a ``save`` callable the caller
supplies (it knows the model directory, the engine does not). A ``Snapshot`` is the
engine's whole training state; ``loop.py`` decides when epochs end, training stops and
snapshots are saved, and ``run.py`` what an epoch's end records and changes (the learning rate).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from wordrnn.nn.tfimport import tensorflow

tf = tensorflow()
import keras  # noqa: E402  (after the quiet TensorFlow import)

from wordrnn.train import loop
from wordrnn.train.batching import StreamBatches
from wordrnn.train.budget import Budget
from wordrnn.train.run import Run
from wordrnn.train.snapshot import Snapshot
from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.nn.model import get_weight_arrays, loss_function, set_weight_arrays, state_sizes, training_head


SaveFn = Callable[[str, Snapshot], None]


def engine_arguments(model: keras.Model, model_config: ModelConfig, train_config: TrainConfig) -> tuple:
    """``Engine``'s arguments for training ``model`` as ``wordrnn train`` does (``DistributedEngine``
    takes the same after its strategy): its loss, its state sizes, and what the train step runs
    instead of the full output, if anything (``model.training_head``)."""
    return (model, loss_function(model_config), train_config, state_sizes(model_config),
            *training_head(model, model_config, train_config))


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    clip: dict[str, Any] = {"global_clipnorm": config.clipnorm} if config.clipnorm else {}
    if config.ema:  # Keras keeps the average as optimizer variables: checkpointed, so a resume is exact
        clip.update(use_ema=True, ema_momentum=config.ema)
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
            softmax over hidden states). Validation uses ``model`` and ``loss_fn``, unless the
            training loss is exact (``train_loss_fn.exact``: the adaptive softmax's, the same values
            as the full output's at a fraction of the cost); a sampled loss is only an estimate.
    """

    def __init__(self, model: keras.Model, loss_fn: Callable, config: TrainConfig, state_sizes: Sequence[int],
                 train_model: keras.Model | None = None, train_loss_fn: Callable | None = None) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.train_model = train_model or model
        self.train_loss_fn = train_loss_fn or loss_fn
        exact = getattr(self.train_loss_fn, "exact", False)
        self._eval_model, self._eval_loss_fn = (self.train_model, self.train_loss_fn) if exact else (model, loss_fn)
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
        # a loss that draws random samples with ops XLA cannot compile (the sampled softmax) draws
        # them outside the compiled step, into variables the step reads (``before_step``)
        draws_outside = getattr(self.train_loss_fn, "draw_outside", None)
        self._before_step = draws_outside() if config.xla and draws_outside else None
        self._train_step = tf.function(self._train_step_impl, input_signature=signature, reduce_retracing=True,
                                       jit_compile=config.xla or None)
        self._eval_step = tf.function(self._eval_step_impl, input_signature=signature, reduce_retracing=True)

    def zero_states(self, batch_size: int) -> list[tf.Tensor]:
        return [tf.zeros((batch_size, size), tf.float32) for size in self.state_sizes]

    def reset_streams(self, states: list, rows: np.ndarray) -> list[tf.Tensor]:
        """``states`` with the streams (rows) flagged in ``rows`` set to zero: they start afresh."""
        keep = tf.constant((~rows).astype(np.float32)[:, None])
        return [tf.convert_to_tensor(s) * keep for s in states]

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
        outputs, *new_states = self._eval_model([x, *states], training=False)
        total, count = self._weighted_loss(y, w, outputs, self._eval_loss_fn)
        return total, count, new_states

    def _cast(self, batch: tuple[np.ndarray, np.ndarray, np.ndarray]):
        x, y, w = batch
        return x.astype(self._x_dtype, copy=False), y.astype(self._y_dtype, copy=False), w

    def train_window(self, x, y, w, states):
        """One truncated-BPTT step: returns (loss sum, target count, state for the next window)."""
        if self._before_step is not None:
            self._before_step()
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

    def _averages(self) -> list[Any]:
        """The optimizer's moving averages, one per trainable variable (empty without ``ema``).

        Keras keeps them in a private list aligned with the variables its ``build`` was given (the
        model's trainable variables); ``tests/test_ema.py`` checks they are the average.
        """
        return list(self.optimizer._model_variables_moving_average) if self.optimizer.use_ema else []

    def averaged_weights(self) -> dict[str, np.ndarray] | None:
        """Every weight by path with the trainable ones averaged (None without ``ema``)."""
        averages = self._averages()
        if not averages:
            return None
        arrays = get_weight_arrays(self.model)
        for variable, average in zip(self.model.trainable_variables, averages):
            arrays[variable.path] = keras.ops.convert_to_numpy(average)
        return arrays

    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        """The averaged weights in the model for the block (a validation), the trained ones back after."""
        averages = self._averages()
        trained = [keras.ops.convert_to_numpy(v) for v in self.model.trainable_variables] if averages else []
        for variable, average in zip(self.model.trainable_variables, averages):
            variable.assign(average)
        try:
            yield
        finally:
            for variable, value in zip(self.model.trainable_variables, trained):
                variable.assign(value)

    @property
    def learning_rate(self) -> float:
        return float(np.asarray(self.optimizer.learning_rate))

    def _seed_variables(self) -> list[Any]:
        """Keras' seed-generator states (dropout): variables of the model that are not weights.

        Saving them makes a resumed run draw the same dropout masks as an uninterrupted one.
        """
        weights = {id(w) for w in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def snapshot(self, states, position: dict[str, Any], history: list[dict[str, Any]],
                 averaged: bool = False) -> Snapshot:
        """Where training stands; ``averaged``: the model to save is the averaged weights."""
        return Snapshot(
            weights=get_weight_arrays(self.model),
            optimizer=[np.asarray(v) for v in self.optimizer.variables],
            states=[np.asarray(s) for s in states],
            position=dict(position, learning_rate=self.learning_rate),
            history=list(history),
            seeds=[np.asarray(v) for v in self._seed_variables()],
            model_weights=self.averaged_weights() if averaged else None,
        )

    def restart_averages(self) -> None:
        """Begin the weight averages anew at the current weights (``ema_start``, or averaging turned on
        when a run is resumed): what came before no longer counts."""
        for variable, average in zip(self.model.trainable_variables, self._averages()):
            average.assign(variable)

    def _restore_optimizer(self, saved: list[np.ndarray]) -> None:
        """Put a checkpoint's optimizer state back, starting the averages if the checkpoint had none.

        ``--ema`` may be turned on when a run is resumed (averaging late in a run, as averaged SGD
        does): the checkpoint then lacks the averages, and they begin at the weights just restored
        (Keras' own first step does the same at iteration 0). Every other variable keeps its order.
        """
        variables = self.optimizer.variables
        averages = {id(v) for v in self._averages()}
        if len(saved) == len(variables) - len(averages) and averages:
            for variable, value in zip([v for v in variables if id(v) not in averages], saved):
                variable.assign(value)
            self.restart_averages()
            return
        if len(variables) != len(saved):
            from wordrnn.errors import ModelFormatError, option

            raise ModelFormatError(f"the checkpoint's optimizer state does not match {option('optimizer')}; "
                                   "resume with the same settings")
        for variable, value in zip(variables, saved):
            variable.assign(value)

    def restore(self, snapshot: Snapshot) -> None:
        set_weight_arrays(self.model, snapshot.weights, "checkpoint weights")
        self._restore_optimizer(snapshot.optimizer)
        self.optimizer.learning_rate.assign(snapshot.position.get("learning_rate", self.config.learning_rate))
        seeds = self._seed_variables()
        if len(snapshot.seeds) == len(seeds):  # older checkpoints have none: training goes on with fresh draws
            for variable, value in zip(seeds, snapshot.seeds):
                if tuple(variable.shape) == value.shape:
                    variable.assign(value)

    def set_learning_rate(self, value: float) -> None:
        """Set the learning rate in place (a time budget's schedule); the optimizer keeps its moments."""
        self.optimizer.learning_rate.assign(value)

    def scale_learning_rate(self, factor: float) -> None:
        """Multiply the learning rate in place: the optimizer keeps its moments, as a schedule needs."""
        self.optimizer.learning_rate.assign(self.learning_rate * factor)

    def start(self, batch_size: int, resume: Snapshot | None) -> Run:
        """Where a fit begins: at zero, or (weights and optimizer restored) where ``resume`` stopped."""
        if resume is None:
            return Run(self.zero_states(batch_size))
        self.restore(resume)
        states = [tf.constant(s) for s in resume.states] if resume.position["window"] else self.zero_states(batch_size)
        return Run.resumed(resume, states)

    def snapshot_of(self, run: Run) -> Snapshot:
        """A snapshot of this engine at the point ``run`` stands (what a checkpoint of a fit saves)."""
        return self.snapshot(run.states, run.position(), run.history, run.averaged_better)

    def fit(
        self,
        train: StreamBatches,
        valid: StreamBatches | None = None,
        callbacks: Sequence[Any] = (),
        save: SaveFn | None = None,
        resume: Snapshot | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        budget: Budget | None = None,
    ) -> dict[str, Any]:
        """Train for ``config.epochs`` epochs (or until early stopping, ``until_loss``, ``max_steps`` or ``should_stop``).

        ``save("best" | "last", snapshot)`` is called when validation improves, at epoch ends at
        most every ``min_save_seconds`` (a skipped one is written with the next save), every
        ``checkpoint_every`` steps or ``checkpoint_minutes`` minutes, and when training ends or stops.
        A snapshot holds the epoch's running loss too, so a resumed epoch reports what an
        uninterrupted one would (and learning-rate decisions based on it stay the same).
        ``callbacks`` implement any of ``loop.Callback``'s methods. The loop itself is ``loop.fit``.
        With a ``budget`` (``budget.Budget``) the run lasts as long as the budget allows instead of
        ``config.epochs``, and the budget sets the learning rate.
        """
        return loop.fit(self, train, valid, callbacks, save, resume, should_stop, budget)
