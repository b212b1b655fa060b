"""tf.distribute training: windows fed by tf.data, replicas with their own streams, and two real workers.

The two-worker tests start ``wordrnn train --strategy multiworker`` twice on 127.0.0.1 (free
ports, TF_CONFIG per process), bounded by timeouts, and compare the result with a
single-process run on the same data: the maths is the same, so losses and predictions agree
up to float rounding.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import make_text
from wordrnn.train.batching import StreamBatches
from wordrnn.config import ModelConfig, TrainConfig
from wordrnn.train.distributed import DistributedEngine, WindowFeed, create_strategy, is_chief
from wordrnn.train.engine import Engine, engine_arguments
from wordrnn.errors import ConfigError
from wordrnn.nn.model import build_model
from wordrnn.text.prepare import prepare
from wordrnn.store.saved import SavedModel

TIMEOUT = 300
TINY = ["--units", "16", "--embedding", "8", "--dropout", "0", "--batch-size", "8", "--window", "10", "--seed", "1",
        "--lr", "0.01", "--early-stopping", "0", "-q", "--no-export",
        "--layers", "1", "--untied", "--lr-decay", "1", "--sampled-softmax", "0", "--min-count", "1"]  # as tiny_configs


def tiny_configs(epochs: int = 2, batch_size: int = 8):
    model = ModelConfig(vocab_size=1, units=16, embedding=8, dropout=0.0)
    train = TrainConfig(epochs=epochs, batch_size=batch_size, window=10, seed=1, learning_rate=0.01, early_stopping=0)
    return model, train


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dist")
    (root / "text.txt").write_text(make_text(500, seed=4))
    prepare([root / "text.txt"], root / "ds", workers=1, max_vocab=200, shard_tokens=1500)
    return root / "ds"


@pytest.mark.parametrize("rows", [slice(None), slice(2, 4)])
def test_window_feed_gives_the_windows_of_stream_batches(rows):
    data = (np.arange(503) % 17).astype(np.uint16)
    batches = StreamBatches(data, 4, 7, 1)
    feed = WindowFeed(batches, rows)
    assert (feed.num_windows, feed.batch_size, feed.num_targets) == (batches.num_windows, 4, batches.num_targets)
    order = list(range(batches.num_windows)) + [5, 6, 0, 1, 9]  # in order, then jumps (resume, new epoch)
    for k in order:
        for got, want in zip(feed.batch(k), batches.batch(k, rows)):
            assert got.dtype == want.dtype and np.array_equal(got, want)


def _fit(engine, data, epochs_losses=True):
    summary = engine.fit(WindowFeed(StreamBatches(data, 4, 6)), StreamBatches(data[:200], 4, 6))
    return [(h["loss"], h["val_loss"]) for h in summary["history"]]


@pytest.mark.parametrize("settings", [{}, {"adaptive_softmax": 8, "state_reset": 2}])
def test_a_one_replica_strategy_trains_exactly_like_the_plain_engine(settings):
    """Also with the recipe's short-run choices: an adaptive softmax and staggered state resets."""
    import keras

    config = ModelConfig(vocab_size=20, units=8, embedding=4, adaptive_softmax=settings.get("adaptive_softmax", 0))
    train = TrainConfig(epochs=2, batch_size=4, window=6, early_stopping=0, learning_rate=0.02,
                        state_reset=settings.get("state_reset", 0))
    data = (np.arange(900) * 7 % 20).astype(np.int32)
    keras.utils.set_random_seed(3)
    plain = Engine(*engine_arguments(build_model(config), config, train))
    strategy = create_strategy("mirrored")
    keras.utils.set_random_seed(3)
    with strategy.scope():
        mirrored = DistributedEngine(strategy, *engine_arguments(build_model(config), config, train))
    assert mirrored.replicas == 1 and mirrored.is_chief and mirrored.rows(4) == slice(0, 4)
    np.testing.assert_allclose(_fit(mirrored, data), _fit(plain, data), rtol=1e-5)
    for a, b in zip(plain.model.get_weights(), mirrored.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_strategy_errors(monkeypatch):
    with pytest.raises(ConfigError, match="^strategy must be one of"):
        create_strategy("parameter-server")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        create_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        create_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {}, "task": {"type": "worker", "index": 0}}))
    with pytest.raises(ConfigError, match="no workers"):
        create_strategy("multiworker")
    assert create_strategy("default") is None and is_chief(None)


def test_two_replicas_on_one_machine_train_like_one_device(dataset, tmp_path):
    """MirroredStrategy over two logical CPUs (set up before TensorFlow starts, so in a fresh process)."""
    script = textwrap.dedent(f"""
        import json, sys
        from wordrnn.train.distributed import tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_distributed import tiny_configs
        from wordrnn.errors import ConfigError
        from wordrnn.store.saved import SavedModel
        from wordrnn.train.jobs import train_text
        model, train = tiny_configs()
        results = {{}}
        for strategy in ("mirrored", "default"):
            out = {str(tmp_path)!r} + "/" + strategy
            summary = train_text([{str(dataset)!r}], out, model_config=model, train_config=train, strategy=strategy)
            results[strategy] = [[h["loss"], h["val_loss"]] for h in summary["history"]]
            results[strategy + "_replicas"] = SavedModel.load(out).manifest["strategy"]["replicas"]
        try:
            train_text([{str(dataset)!r}], {str(tmp_path)!r} + "/odd", model_config=model,
                       train_config=tiny_configs(batch_size=7)[1], strategy="mirrored")
        except ConfigError as exc:
            results["odd"] = str(exc)
        print(json.dumps(results))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["mirrored_replicas"] == 2 and results["default_replicas"] == 1
    np.testing.assert_allclose(results["mirrored"], results["default"], rtol=1e-4)
    assert "multiple of the 2 replicas" in results["odd"]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_workers(args: list[str], count: int = 2) -> list[subprocess.Popen]:
    """``wordrnn train ARGS --strategy multiworker`` once per worker, each with its own TF_CONFIG."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(count)]}
    procs = []
    for index in range(count):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = {**os.environ, "TF_CONFIG": config, "TF_CPP_MIN_LOG_LEVEL": "2"}
        procs.append(subprocess.Popen([sys.executable, "-m", "wordrnn", "train", *args, "--strategy", "multiworker"],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def finish(procs: list[subprocess.Popen], timeout: float = TIMEOUT) -> list[tuple[int, str]]:
    """Wait for every worker (killing them all past ``timeout``); their exit codes and stderr."""
    deadline = time.monotonic() + timeout
    results = []
    for proc in procs:
        try:
            _, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            pytest.fail(f"a worker did not finish within {timeout}s")
        results.append((proc.returncode, stderr))
    return results


def _history(model: Path) -> list[tuple[float, float]]:
    return [(h["loss"], h["val_loss"]) for h in SavedModel.load(model).history]


def _predict(model: Path, context: list[int]) -> np.ndarray:
    from wordrnn.predict.generator import prime
    from wordrnn.runtime.keras import KerasStep

    output, _, _ = prime(KerasStep(SavedModel.load(model)), [0, *context])
    return output


def test_two_workers_train_like_one_process(dataset, tmp_path):
    from wordrnn.train.jobs import train_text

    model_dir = tmp_path / "two"
    procs = start_workers([str(dataset), "-o", str(model_dir), *TINY, "--epochs", "2"])
    single = tmp_path / "one"
    train_text([dataset], single, model_config=tiny_configs()[0], train_config=tiny_configs()[1])
    for code, stderr in finish(procs):
        assert code == 0, stderr[-3000:]
    saved = SavedModel.load(model_dir)
    assert saved.manifest["strategy"] == {"name": "multiworker", "replicas": 2}
    assert not (model_dir / "train.lock").exists()
    np.testing.assert_allclose(_history(model_dir), _history(single), atol=1e-3)
    context = SavedModel.load(single).vocab.encode("the cat sees".split())
    np.testing.assert_allclose(_predict(model_dir, context), _predict(single, context), atol=1e-3)


def test_a_stop_on_one_worker_stops_both_and_resume_continues(dataset, tmp_path):
    """Ctrl-C on worker 1 only: both stop after the same step, the chief saves, and --resume ends where one run would."""
    model_dir, single = tmp_path / "two", tmp_path / "one"
    args = [str(dataset), "-o", str(model_dir), *TINY, "--epochs", "3", "--window", "3"]
    procs = start_workers(args)
    deadline = time.monotonic() + TIMEOUT
    while not (model_dir / "checkpoint.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # the first checkpoint: training runs on both workers
    procs[1].send_signal(signal.SIGINT)
    for code, stderr in finish(procs):
        assert code == 0 and "--resume" in stderr, stderr[-3000:]
    position = json.loads((model_dir / "checkpoint.json").read_text())["position"]
    assert position["epoch"] < 3
    for code, stderr in finish(start_workers([*args, "--resume"])):
        assert code == 0, stderr[-3000:]
    from wordrnn.train.jobs import train_text

    model, train = tiny_configs(epochs=3)
    train_text([dataset], single, model_config=model, train_config=TrainConfig(**{**train.__dict__, "window": 3}))
    np.testing.assert_allclose(_history(model_dir), _history(single), atol=1e-3)


def test_a_lost_worker_ends_the_others_with_one_clean_error(dataset, tmp_path):
    procs = start_workers([str(dataset), "-o", str(tmp_path / "m"), *TINY, "--epochs", "500"])
    deadline = time.monotonic() + TIMEOUT
    while not (tmp_path / "m" / "checkpoint.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    procs[1].kill()
    (code, stderr), _ = finish(procs, timeout=180)
    assert code != 0 and "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--resume" in errors[0], stderr[-3000:]
