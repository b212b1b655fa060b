"""Which process of a training run writes the model directory, known before TensorFlow starts.

A multi-worker run (``--strategy multiworker``) starts one process per machine, all given the same
output directory, and only the chief writes it (and holds its training lock). ``TF_CONFIG`` says
which process that is, so the lock can be taken before the corpus is read, long before the
cluster is joined; ``distributed.is_chief`` asks the same question of a running strategy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any


def is_chief_task(cluster: Mapping[str, Any], task_type: str | None, task_id: int | str | None) -> bool:
    """Whether a task writes: the ``chief`` task when the cluster names one, else worker 0, else the only process."""
    if not cluster:
        return True
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and int(task_id or 0) == 0


def writes_model(strategy: str) -> bool:
    """Whether this process will write the model directory under ``strategy`` (every process but a
    multi-worker run's other workers). A malformed ``TF_CONFIG`` counts as writing: joining the
    cluster refuses it with its own message."""
    if strategy != "multiworker":
        return True
    try:
        config = json.loads(os.environ.get("TF_CONFIG", ""))
        return is_chief_task(config["cluster"], config["task"]["type"], config["task"]["index"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return True
