"""Where a training job's model directory comes in: the checkpoint a resume reads, and the save calls.

``saver`` is the ``save`` callable ``Engine.fit`` calls (the engine never knows the directory);
``read_checkpoint`` turns a checkpoint back into the engine's ``Snapshot``, refusing one that does
not fit the corpus and config it would continue on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.errors import ConfigError, ModelFormatError, option
from wordrnn.store import checkpoint as ckpt
from wordrnn.train.batching import StreamBatches

if TYPE_CHECKING:
    from wordrnn.train.snapshot import Snapshot


def read_checkpoint(out_dir: Path, batches: StreamBatches, model_config: ModelConfig, train_config: TrainConfig) -> Snapshot:
    """The ``snapshot.Snapshot`` in ``out_dir``'s checkpoint, refused unless it fits this corpus and config.

    A position past the corpus's windows, or a mid-epoch state of another shape, means the files or
    settings changed since the run was interrupted; resuming would silently train on something else.
    """
    from wordrnn.train.snapshot import Snapshot
    from wordrnn.nn.model import state_sizes

    # A run killed inside a save leaves files no manifest names; a resume that has nothing left to
    # train would save nothing and so never clean them up: clean up now, under the training lock.
    ckpt.collect_garbage(out_dir)
    previous = ckpt.read_manifest(out_dir, ckpt.CHECKPOINT_MANIFEST)
    snapshot = Snapshot.from_arrays(ckpt.read_arrays(out_dir, previous, "weights"),
                                    ckpt.read_arrays(out_dir, previous, "state"), previous.get("position"),
                                    ckpt.read_json(out_dir, previous, "history"))
    position = snapshot.position
    fits = isinstance(position, dict) and all(
        isinstance(position.get(k), int) and position[k] >= 0 for k in ("epoch", "window", "step"))
    if not fits or position["window"] > batches.num_windows or (position["window"] and [
            s.shape for s in snapshot.states] != [(train_config.batch_size, n) for n in state_sizes(model_config)]):
        raise ModelFormatError(f"{out_dir}: the checkpoint's stream position or state does not fit this corpus "
                               f"and config; resume with the same files, or start anew with {option('force', True)}")
    return snapshot


def check_finite(snap: Snapshot) -> None:
    """Refuse to save weights that are NaN or infinite: training diverged, and such a model would load
    and then suggest ``</s>`` and ``<unk>`` for every context. The last good save stays as it is."""
    bad = [name for name, array in snap.weights.items() if not np.isfinite(array).all()]
    if bad:
        raise ConfigError(f"training diverged: after step {snap.position.get('step', '?')} the weights ({bad[0]}"
                          f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}) are no longer finite numbers, so "
                          f"they were not saved; lower {option('learning_rate')} or set {option('clipnorm')}, "
                          "then train again")


def saver(out_dir: Path, files: dict[str, Any], meta: dict[str, Any], has_valid: bool) -> Callable[[str, Snapshot], None]:
    """The ``save`` callable ``Engine.fit`` calls: "last" goes to the resumable checkpoint, the model
    manifest gets "best" (every save without validation text, and the first one in any case, so an
    interrupted run always leaves a loadable model)."""

    def save(kind: str, snap: Snapshot) -> None:
        check_finite(snap)
        common = {**files, "weights.npz": snap.weights, "history.json": snap.history}
        if kind == "last":
            ckpt.write_manifest(out_dir, ckpt.CHECKPOINT_MANIFEST, {**meta, "position": snap.position},
                                {**common, "state.npz": snap.state_arrays()})
        if kind == "best" or not has_valid or not (out_dir / ckpt.MODEL_MANIFEST).is_file():
            model = {**common, "weights.npz": snap.model_weights} if snap.model_weights is not None else common
            ckpt.write_manifest(out_dir, ckpt.MODEL_MANIFEST, {**meta, "position": snap.position}, model)

    return save
