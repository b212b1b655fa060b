import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wordrnn.train.batching import StreamBatches, split_tail
from wordrnn.errors import CorpusError


@given(st.integers(2, 400), st.integers(1, 9), st.integers(1, 13))
def test_every_pair_is_covered_once_in_order_within_each_stream(n, batch, window):
    if n - 1 < batch:
        return
    data = np.arange(n)
    batches = StreamBatches(data, batch, window)
    seen_inputs: list[list[int]] = [[] for _ in range(batch)]
    for x, y, w in batches:
        assert x.shape == y.shape == w.shape == (batch, window)
        assert np.all(y[w > 0] == x[w > 0] + 1)  # target is the next step
        for b in range(batch):
            seen_inputs[b].extend(x[b][w[b] > 0].tolist())
    flat = [i for stream in seen_inputs for i in stream]
    assert flat == list(range(n - 1))  # every input exactly once, streams contiguous and in order


def test_windows_continue_each_stream():
    batches = StreamBatches(np.arange(41), batch_size=2, window=5)
    first, second = batches.batch(0)[0], batches.batch(1)[0]
    assert np.all(second[:, 0] == first[:, -1] + 1)


def test_warmup_removes_loss_from_first_outputs_only():
    batches = StreamBatches(np.arange(101), batch_size=2, window=4, warmup_steps=6)
    weights = np.concatenate([w for _, _, w in batches], axis=1)
    assert np.all(weights[:, :6] == 0) and np.all(weights[:, 6:50] == 1)
    assert batches.num_targets == 2 * (50 - 6)


def test_series_with_features_keep_their_columns():
    data = np.stack([np.arange(20.0), -np.arange(20.0)], axis=1)
    x, y, _ = StreamBatches(data, batch_size=2, window=3).batch(0)
    assert x.shape == (2, 3, 2) and np.all(y[..., 1] == -(x[..., 0] + 1))


def test_too_short_for_streams_is_a_corpus_error():
    with pytest.raises(CorpusError, match="at least"):
        StreamBatches(np.arange(3), batch_size=8, window=2)


def test_split_tail():
    train, valid = split_tail(np.arange(100), 0.1, min_steps=5)
    assert len(train) == 90 and valid.tolist() == list(range(90, 100))
    assert split_tail(np.arange(10), 0.1, min_steps=5)[1] is None
