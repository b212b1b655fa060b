"""Training on several devices or machines with ``tf.distribute``, and windows fed by ``tf.data``.

``--strategy`` picks how ``wordrnn train`` runs:

- ``default``: the plain ``Engine`` on one device (no ``tf.distribute`` at all: the fastest path);
- ``mirrored``: ``MirroredStrategy`` over this machine's GPUs (its CPU devices when it has none);
- ``multiworker``: ``MultiWorkerMirroredStrategy``; the cluster and this process's place in it
  come from the ``TF_CONFIG`` environment variable, one process per machine.

Training stays stateful and synchronous. The B contiguous streams are split into R blocks of
B/R, one per replica: each replica reads only its own streams' windows and carries their
recurrent state. A replica's loss is divided by the number of weighted positions over *all*
replicas, so the gradients Keras' optimizer sums across replicas are exactly the
single-device gradient of the same B streams (except that ``--clipnorm`` clips each
replica's part before the sum). After every step the states of all B streams are all-reduced
(each replica contributes its block, zero-padded), so every worker holds the whole state:
checkpoints have the single-device layout, need no collective to write (only the chief writes
them), and a run can be resumed with another number of workers or none.

MultiWorkerMirroredStrategy must configure collective ops before TensorFlow runs its first op,
so this module imports TensorFlow without the warm-up op ``tfimport.tensorflow`` runs; import
it before anything else that uses TensorFlow.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from wordrnn.nn.tfimport import quiet_stderr

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with quiet_stderr():
    import keras  # noqa: F401  (Keras 3 picks the TensorFlow backend)
    import tensorflow as tf

from wordrnn.train.batching import StreamBatches  # noqa: E402
from wordrnn.train.cluster import is_chief_task  # noqa: E402
from wordrnn.train.engine import Engine  # noqa: E402  (finds TensorFlow imported: runs no op)
from wordrnn.config import STRATEGIES  # noqa: E402
from wordrnn.errors import ConfigError, DistributedError, option  # noqa: E402

_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
                tf.errors.AbortedError)


def create_strategy(name: str) -> tf.distribute.Strategy | None:
    """The ``tf.distribute`` strategy for ``--strategy`` (None for ``default``).

    For ``multiworker`` this blocks until every worker named in TF_CONFIG has started.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"{option('strategy')} must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "default":
        return None
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raw = os.environ.get("TF_CONFIG", "")
    try:
        config = json.loads(raw)
        workers = config["cluster"].get("worker", []) + config["cluster"].get("chief", [])
        task = config["task"]["type"], int(config["task"]["index"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"{option('strategy', 'multiworker')} needs "
                          "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:port\", ...]}, "
                          "\"task\": {\"type\": \"worker\", \"index\": N}}' in every worker's environment") from None
    if not workers:
        raise ConfigError("TF_CONFIG names no workers; list every worker's host:port under cluster.worker")
    try:
        with quiet_stderr():  # gRPC and coordination-service start-up chatter
            return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as exc:
        if "startup" in str(exc):
            raise DistributedError(f"{option('strategy', 'multiworker')} must start before TensorFlow runs anything; "
                                   "run each worker as a fresh `wordrnn train` process") from None
        raise DistributedError(f"cannot join the cluster as {task[0]} {task[1]} ({exc}); check TF_CONFIG") from None
    except (ValueError, tf.errors.OpError) as exc:
        raise DistributedError(f"cannot join the cluster as {task[0]} {task[1]} ({str(exc).splitlines()[0]}); "
                               "check TF_CONFIG's addresses and that every worker is started") from None


def is_chief(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether this process writes checkpoints: the ``chief`` task, else worker 0, else the only process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return is_chief_task(cluster, getattr(resolver, "task_type", None), getattr(resolver, "task_id", None))


def strategy_scope(strategy: tf.distribute.Strategy | None) -> contextlib.AbstractContextManager:
    """Where the model and optimizer must be built so their variables are mirrored."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def engine_for(strategy: tf.distribute.Strategy | None, *args: Any, **kwargs: Any) -> Engine:
    """An ``Engine`` (no strategy) or a ``DistributedEngine``; call inside ``strategy_scope``."""
    return Engine(*args, **kwargs) if strategy is None else DistributedEngine(strategy, *args, **kwargs)


class DistributedEngine(Engine):
    """An ``Engine`` whose train and eval steps run on every replica of a strategy.

    ``Engine.fit`` drives it unchanged: it gets this worker's streams from a ``WindowFeed``
    and full-batch states, and the figures it sees are summed over all replicas. A stop
    request (Ctrl-C) on any worker stops every worker after the same step.

    Args:
        strategy: a ``tf.distribute`` strategy; build the engine inside its scope.
        *args, **kwargs: as for ``Engine``.
    """

    def __init__(self, strategy: tf.distribute.Strategy, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strategy = strategy
        self.replicas = strategy.num_replicas_in_sync
        if self.config.batch_size % self.replicas:
            raise ConfigError(f"{option('batch_size', self.config.batch_size)} must be a multiple of the {self.replicas} "
                              "replicas, so each trains the same number of streams")
        ids = strategy.experimental_distribute_values_from_function(lambda ctx: ctx.replica_id_in_sync_group)
        self.local_replicas = [int(i) for i in strategy.experimental_local_results(ids)]
        self.is_chief = is_chief(strategy)
        self._stop_requested: Callable[[], bool] = lambda: False
        self._stop_agreed = False
        self._train_step = self._distributed_train  # what Engine.fit calls
        self._run_train = tf.function(self._run_train_impl, reduce_retracing=True)
        self._run_eval = tf.function(self._run_eval_impl, reduce_retracing=True)

    def rows(self, batch_size: int) -> slice:
        """This worker's streams out of ``batch_size``: the blocks of its replicas."""
        per = batch_size // self.replicas
        return slice(self.local_replicas[0] * per, (self.local_replicas[-1] + 1) * per)

    def _normalizer(self, count):
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, count)

    def _replica_step(self, step: Callable, x, y, w, states, flag):
        """On one replica: run ``step`` on its block of streams, then all-reduce figures and full states."""
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group
        per = tf.shape(states[0])[0] // self.replicas
        first = (replica - self.local_replicas[0]) * per  # this worker's rows start at its first replica's block
        own = [s[replica * per:(replica + 1) * per] for s in states]
        total, count, new_states = step(x[first:first + per], y[first:first + per], w[first:first + per], own)
        padding = [[replica * per, (self.replicas - 1 - replica) * per], [0, 0]]
        figures = tf.stack([total, count, flag])
        return context.all_reduce(tf.distribute.ReduceOp.SUM, [figures, *[tf.pad(s, padding) for s in new_states]])

    def _local(self, values):
        return [self.strategy.experimental_local_results(v)[0] for v in values]

    def _run_train_impl(self, x, y, w, states, flag):
        step = functools.partial(self._replica_step, self._train_step_impl)
        return self._local(self.strategy.run(step, args=(x, y, w, states, flag)))

    def _run_eval_impl(self, x, y, w, states):
        flag = tf.constant(0.0)
        step = functools.partial(self._replica_step, self._eval_step_impl)
        return self._local(self.strategy.run(step, args=(x, y, w, states, flag)))

    def _distributed_train(self, x, y, w, states):
        flag = tf.constant(1.0 if self._stop_requested() else 0.0)
        figures, *states = self._run_train(x, y, w, list(states), flag)
        self._stop_agreed = bool(figures[2] > 0)
        return figures[0], figures[1], states

    def evaluate(self, batches: StreamBatches, on_window: Callable[[int], None] | None = None) -> float:
        """Mean loss over every weighted position; each replica evaluates its own block of streams."""
        if batches.batch_size % self.replicas:
            size = batches.batch_size // self.replicas * self.replicas
            if not size:
                raise ConfigError(f"the validation text is too short to give each of the {self.replicas} replicas "
                                  f"a stream; give a longer {option('valid')} text or a larger {option('valid_fraction')}")
            batches = StreamBatches(batches.data, size, batches.window, batches.warmup_steps)
        rows = self.rows(batches.batch_size)
        states = self.zero_states(batches.batch_size)
        total = count = 0.0
        for k in range(batches.num_windows):
            x, y, w = self._cast(batches.batch(k, rows))
            figures, *states = self._run_eval(x, y, w, states)
            total += float(figures[0])
            count += float(figures[1])
            if on_window:
                on_window(k)
        return total / max(count, 1.0)

    def fit(self, train: Any, valid: StreamBatches | None = None, callbacks: Sequence[Any] = (), *args: Any,
            should_stop: Callable[[], bool] = lambda: False, **kwargs: Any) -> dict[str, Any]:
        """``Engine.fit``, stopping where every worker agrees; a lost worker becomes a ``DistributedError``."""
        self._stop_requested, self._stop_agreed = should_stop, False
        try:
            return super().fit(train, valid, callbacks, *args, should_stop=lambda: self._stop_agreed, **kwargs)
        except _PEER_ERRORS as exc:
            raise DistributedError(f"a worker failed or became unreachable ({_reason(exc)}); "
                                   f"restart every worker with {option('resume', True)} to continue from the last checkpoint") from None


def _reason(exc: tf.errors.OpError) -> str:
    """The telling line of a collective's error (TensorFlow's first line is often just "Graph execution error")."""
    lines = [line.strip() for line in str(exc.message).splitlines() if line.strip()]
    telling = [line for line in lines if any(w in line for w in ("unhealthy", "Error reported", "onnect", "ocket"))]
    plain = [line for line in lines if not line.startswith(("Graph execution error", "Detected at node"))]
    return (telling or plain or ["no details"])[0][:200]


class WindowFeed:
    """The windows of ``StreamBatches`` read ahead by a ``tf.data`` pipeline, optionally only some streams.

    ``Engine.fit`` asks for windows in order; a jump (a new epoch, a resumed position) starts a
    new pipeline there. Windows are read on tf.data's thread while the step computes, so page
    faults on memory-mapped shards (``shards.ShardedTokens``) overlap with training.

    Args:
        batches: the stream layout over the whole batch (the same on every worker).
        rows: the streams this process reads (a worker's share under a strategy).
        prefetch: windows read ahead.
    """

    def __init__(self, batches: StreamBatches, rows: slice = slice(None), prefetch: int = 2) -> None:
        self.batches, self.rows, self.prefetch = batches, rows, prefetch
        self.batch_size, self.window = batches.batch_size, batches.window
        self.num_windows, self.num_targets = batches.num_windows, batches.num_targets
        x, y, _ = batches.batch(0, rows)
        self._types = (tf.as_dtype(x.dtype), tf.as_dtype(y.dtype), tf.float32)
        self._iterator: Any = None
        self._next = -1

    def _read(self, k: np.int64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.batches.batch(int(k), self.rows)

    def batch(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._iterator is None or k != self._next:
            windows = tf.data.Dataset.range(k, self.num_windows)
            read = windows.map(lambda i: tf.numpy_function(self._read, [i], self._types, stateful=False))
            self._iterator = iter(read.prefetch(self.prefetch))
        self._next = k + 1
        x, y, w = next(self._iterator)
        return x.numpy(), y.numpy(), w.numpy()


def window_feed(engine: Engine, batches: StreamBatches, streamed: bool) -> Any:
    """What ``Engine.fit`` reads: in-memory batches as they are on one device, else a ``WindowFeed``
    (of only this worker's streams under a strategy)."""
    if isinstance(engine, DistributedEngine):
        return WindowFeed(batches, engine.rows(batches.batch_size))
    return WindowFeed(batches) if streamed else batches
