"""The weights a running ``wordrnn train`` checkpoints, kept with the wall time each appeared, and validated afterwards.

``bench_time_to_quality.py`` validates plain ``fit`` after every chunk (``--chunk-seconds``), off the clock.
``wordrnn train`` validates itself only at its epochs' ends (about two minutes apart on Brown), so
its time to quality would be known to two minutes only. To give both methods the same treatment, the
run is asked for a resumable checkpoint every few seconds (``--checkpoint-minutes``: the writing is
on the run's clock), ``SnapshotWatcher`` hard-links each checkpoint's weights as it lands (the run
removes them once the next one is written), and ``validate_snapshots`` validates every one after the
run, off the clock, exactly as ``wordrnn train`` validates (same streams, window and loss).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np

POLL_SECONDS = 0.2


class SnapshotWatcher(threading.Thread):
    """Keeps every checkpoint ``wordrnn train`` writes into ``model_dir`` as ``keep/NNN.npz``.

    ``found`` lists ``(seconds since launched, path)``; ``launched`` is the run's ``time.perf_counter()`` start.
    """

    def __init__(self, model_dir: Path, keep: Path, launched: float) -> None:
        super().__init__(daemon=True)
        self.model_dir, self.keep, self.launched = model_dir, keep, launched
        self.found: list[tuple[float, Path]] = []
        self._last: str | None = None
        self._done = threading.Event()
        keep.mkdir(parents=True, exist_ok=True)

    def run(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            self.poll()

    def stop(self) -> list[tuple[float, Path]]:
        """Stop watching (after one last look) and return what was kept."""
        self._done.set()
        self.join()
        self.poll()
        return self.found

    def poll(self) -> None:
        """Keep the checkpoint's weights if its manifest changed since the last look."""
        try:
            text = (self.model_dir / "checkpoint.json").read_text(encoding="utf-8")
            name = json.loads(text)["files"]["weights"]
        except (OSError, ValueError, KeyError):
            return  # not written yet, or being replaced: the next look sees it
        if text == self._last:
            return
        seconds = time.perf_counter() - self.launched
        target = self.keep / f"{len(self.found):03d}.npz"
        try:
            os.link(self.model_dir / name, target)
        except OSError:
            return  # already replaced by a newer checkpoint: the next look keeps that one
        self._last = text
        self.found.append((round(seconds, 1), target))


def validate_snapshots(model_dir: Path, valid: Path, found: list[tuple[float, Path]]) -> list[dict]:
    """Each kept checkpoint's validation perplexity, validated as ``wordrnn train`` validates it."""
    if not found:
        return []
    from wordrnn.nn.model import build_model, set_weight_arrays
    from wordrnn.store.saved import SavedModel
    from wordrnn.text.encode import encode_corpus
    from wordrnn.text.tokenizer import Tokenizer
    from wordrnn.train.batching import validation_batches
    from wordrnn.train.engine import Engine, engine_arguments

    saved = SavedModel.load(model_dir)
    config, train_config = saved.model_config, saved.train_config
    valid_ids = encode_corpus([valid], Tokenizer(saved.tokenizer_config), saved.vocab).astype(np.int32)
    batches = validation_batches(valid_ids, train_config.batch_size, train_config.window)
    model = build_model(config)
    judge = Engine(*engine_arguments(model, config, train_config))
    rows = []
    for seconds, path in found:
        with np.load(path, allow_pickle=False) as arrays:  # the run's own file: arrays only, no code
            set_weight_arrays(model, dict(arrays))
        rows.append({"seconds": seconds, "valid_ppl": round(float(np.exp(judge.evaluate(batches))), 1)})
    return rows
