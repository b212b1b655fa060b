"""``train/saving.py``: what a training job writes, and what it refuses to write."""

from __future__ import annotations

import numpy as np
import pytest

from wordrnn.errors import ConfigError
from wordrnn.store import checkpoint as ckpt
from wordrnn.train.snapshot import Snapshot
from wordrnn.train.saving import saver


def _snapshot(value: float) -> Snapshot:
    weights = {"embedding": np.ones((4, 2), np.float32), "output/kernel": np.full((2, 4), value, np.float32)}
    return Snapshot(weights, [], [], {"epoch": 1, "window": 0, "step": 7})


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_never_saved(tmp_path, value):
    save = saver(tmp_path, {}, {"kind": "tokens"}, has_valid=False)
    save("last", _snapshot(0.5))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ConfigError, match=r"diverged: after step 7 the weights \(output/kernel\) are no longer finite"):
        save("last", _snapshot(value))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # the last good save is untouched
    weights = ckpt.read_arrays(tmp_path, ckpt.read_manifest(tmp_path), "weights")
    assert np.isfinite(weights["output/kernel"]).all()
