"""Every way a training run ends leaves the best weights in the model and a LiteRT export beside them.

Finishing, early stopping, the time budget running out and Ctrl-C (a stop request) each end with
``wordrnn train``'s own after-save hook (``cli.export.export_after_training``).
"""

from __future__ import annotations

import json
import time

from conftest import make_text
from wordrnn.config import ModelConfig, TrainConfig


def _train(tmp_path, should_stop=lambda: False, resume=False, options=None, **train):
    from wordrnn.cli.export import export_after_training
    from wordrnn.train.jobs import train_text

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(400), encoding="utf-8")
    settings = {"epochs": 2, "batch_size": 8, "window": 10, "seed": 1, "learning_rate": 0.01, "early_stopping": 0,
                "valid_fraction": 0.2, **train}
    out = tmp_path / "m"
    summary = train_text([corpus], out, model_config=ModelConfig(vocab_size=1, units=16, embedding=8),
                         train_config=TrainConfig(**settings), max_vocab=200, should_stop=should_stop,
                         after_save=export_after_training(), resume=resume, options=options)
    return out, summary


def _assert_best_and_exported(out, summary) -> None:
    manifest = json.loads((out / "wordrnn.json").read_text(encoding="utf-8"))
    assert "litert" in manifest and (out / manifest["files"]["litert"]).is_file()
    checkpoint = json.loads((out / "checkpoint.json").read_text(encoding="utf-8"))
    history = json.loads((out / checkpoint["files"]["history"]).read_text(encoding="utf-8"))
    losses = [record["val_loss"] for record in history]
    stop = summary.get("val_loss_at_stop", float("inf"))
    if stop < min(losses):  # stopped in mid-epoch with better weights than any epoch's: they are the model
        assert manifest["position"]["val_loss"] == stop and manifest["position"]["window"] > 0
    else:  # the model is the best epoch's end (best: improved on every earlier one by at least 0.01 %)
        assert manifest["position"]["window"] == 0 and manifest["position"]["best"] == summary["best"]
        assert losses[manifest["position"]["epoch"] - 1] == summary["best"] <= min(losses) * (1 + 1e-4)
    from wordrnn.store.saved import SavedModel

    assert SavedModel.load(out).describe()["litert"]  # loads, and its export is the current one


def test_finishing(tmp_path):
    out, summary = _train(tmp_path)
    assert summary["stopped"] == "completed"
    _assert_best_and_exported(out, summary)


def test_early_stopping_keeps_the_best_epoch(tmp_path):
    out, summary = _train(tmp_path, epochs=60, early_stopping=1, learning_rate=0.05)
    assert summary["stopped"] == "early_stopping" and summary["epochs"] < 60
    losses = [r["val_loss"] for r in summary["history"]]
    assert losses[-1] > min(losses)  # the last epoch is not the model: the best one is
    _assert_best_and_exported(out, summary)


def test_resuming_a_run_that_early_stopping_ended_trains_nothing_unless_the_patience_grows(tmp_path):
    out, summary = _train(tmp_path, epochs=60, early_stopping=1, learning_rate=0.05)
    assert summary["stopped"] == "early_stopping"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _, again = _train(tmp_path, resume=True, options=set(), epochs=60, early_stopping=1, learning_rate=0.05)
    assert again["stopped"] == "early_stopping" and again["new_steps"] == 0  # not one more epoch past the stop
    assert len(again["history"]) == len(summary["history"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing rewritten
    _, longer = _train(tmp_path, resume=True, options={"early_stopping"}, epochs=60, early_stopping=3,
                       learning_rate=0.05)
    assert longer["new_steps"] > 0 and len(longer["history"]) > len(summary["history"])
    _assert_best_and_exported(out, longer)


def test_the_budget_running_out(tmp_path):
    started = time.perf_counter()
    out, summary = _train(tmp_path, time_budget=0.25)
    elapsed = time.perf_counter() - started
    assert summary["stopped"] == "time_budget" and summary["epochs"] > 2  # longer than the epoch count
    assert elapsed <= 15.0 * 1.15, elapsed  # the export included; 15 % for a loaded machine
    _assert_best_and_exported(out, summary)


def test_a_stop_request_in_mid_epoch(tmp_path):
    steps = iter(range(10_000))
    out, summary = _train(tmp_path, should_stop=lambda: next(steps) >= 40, epochs=5)  # in the second epoch
    assert summary["stopped"] == "interrupted"
    _assert_best_and_exported(out, summary)
