"""Shards: a memory-mapped, multi-file token stream that batches exactly like one array."""

from __future__ import annotations

import json
import mmap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import make_text
from wordrnn.text import shards
from wordrnn.train.batching import StreamBatches, split_tail
from wordrnn.errors import CorpusError
from wordrnn.text.prepare import prepare
from wordrnn.text.shards import MANIFEST, ShardedTokens, is_dataset, open_dataset


def split(data: np.ndarray, sizes: list[int]) -> ShardedTokens:
    cuts = np.cumsum(sizes)[:-1]
    return ShardedTokens([part for part in np.split(data, cuts)])


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6), data=st.data())
def test_indexing_matches_the_concatenated_array(sizes, data):
    whole = np.arange(sum(sizes), dtype=np.uint16) * 3
    view = split(whole, sizes)
    assert len(view) == len(whole)
    index = np.asarray(data.draw(st.lists(st.integers(0, len(whole) - 1), max_size=30)), dtype=np.int64)
    assert np.array_equal(view[index], whole[index])
    start = data.draw(st.integers(0, len(whole)))
    stop = data.draw(st.integers(start, len(whole)))
    part = view[start:stop]
    assert len(part) == stop - start and np.array_equal(part.read(), whole[start:stop])
    if len(part):
        assert part[-1] == whole[stop - 1] and part[0] == whole[start]
        inner = part[1:]
        assert np.array_equal(np.asarray(inner), whole[start + 1:stop])


def test_out_of_range_and_strided_access_fail():
    view = split(np.arange(10, dtype=np.uint16), [4, 6])
    with pytest.raises(IndexError):
        view[np.asarray([10])]
    with pytest.raises(IndexError):
        view[10]
    with pytest.raises(IndexError):
        view[::2]


@pytest.mark.parametrize("rows", [slice(None), slice(0, 2), slice(3, 5)])
def test_stream_batches_over_shards_equal_batches_over_the_array(rows):
    whole = (np.arange(997) * 7 % 50).astype(np.uint16)
    train_view, _ = split_tail(split(whole, [100, 400, 1, 496]), 0.1, min_steps=5)
    train_array, _ = split_tail(whole, 0.1, min_steps=5)
    on_view, on_array = StreamBatches(train_view, 5, 12, 2), StreamBatches(train_array, 5, 12, 2)
    assert on_view.num_windows == on_array.num_windows
    for k in range(on_view.num_windows):
        for a, b in zip(on_view.batch(k, rows), on_array.batch(k, rows)):
            assert np.array_equal(a, b)


def _rss_file_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    pytest.skip("no RssFile in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists() or not hasattr(mmap, "MADV_DONTNEED"), reason="Linux only")
def test_release_unmaps_pages_read_so_far(tmp_path):
    path = tmp_path / "big.bin"
    np.arange(8 << 20, dtype=np.uint16).tofile(path)  # 16 MB
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    view = ShardedTokens([np.frombuffer(mapped, dtype=np.uint16)], [mapped])
    before = _rss_file_kb()
    assert int(view[np.arange(0, len(view), 2048)].astype(np.int64).sum()) > 0  # touch every page
    touched = _rss_file_kb()
    view.release()
    assert touched - before > 12_000 and _rss_file_kb() < touched - 12_000
    assert view[(8 << 20) - 1] == ((8 << 20) - 1) % 65536  # still readable
    view.close()


def test_reading_releases_pages_every_so_often(monkeypatch):
    monkeypatch.setattr(shards, "RELEASE_EVERY", 4)

    class Map:
        closed, released = False, 0

        def madvise(self, option):
            Map.released += 1

    view = ShardedTokens([np.arange(100, dtype=np.uint16)], [Map()])[10:]  # views keep the maps
    for _ in range(12):
        view[np.arange(5)]
    assert Map.released == 3


@pytest.fixture()
def dataset(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(make_text(400))
    out = tmp_path / "ds"
    prepare([path], out, workers=1, max_vocab=50, shard_tokens=1000)  # the least allowed: several shards
    return out


def test_open_dataset(dataset):
    data = open_dataset(dataset)
    assert is_dataset(dataset) and not is_dataset(dataset / MANIFEST) and not is_dataset(dataset.parent)
    assert len(data.manifest["shards"]) > 2 and len(data.tokens) == data.manifest["tokens"]
    assert data.tokens.dtype == np.dtype("<u2") and len(data.vocab) == 35  # the whole small grammar
    ids = data.tokens.read()
    assert ids.max() < len(data.vocab) and ids[-1] == 0  # the text ends with a sentence end
    data.tokens.close()


def test_damaged_datasets_are_refused(dataset):
    shard = dataset / "shard-00001.bin"
    raw = bytearray(shard.read_bytes())
    raw[10] ^= 1
    shard.write_bytes(bytes(raw))
    with pytest.raises(CorpusError, match="checksum"):
        open_dataset(dataset)
    open_dataset(dataset, verify=False)  # sizes still agree
    shard.write_bytes(bytes(raw[:-2]))
    with pytest.raises(CorpusError, match="not the"):
        open_dataset(dataset, verify=False)
    shard.unlink()
    with pytest.raises(CorpusError, match="missing"):
        open_dataset(dataset, verify=False)


@pytest.mark.parametrize("change, needle", [
    (lambda m: "{broken", "not valid JSON"),
    (lambda m: "[" * 100_000 + "]" * 100_000, "not valid JSON"),  # nested too deep for the parser
    (lambda m: json.dumps({**m, "format_version": 99}), "version 99"),
    (lambda m: json.dumps({**m, "format": "other"}), "not a wordrnn dataset"),
    (lambda m: json.dumps({**m, "shards": []}), "no shards"),
    (lambda m: json.dumps({**m, "tokens": m["tokens"] + 1}), "manifest says"),
    (lambda m: json.dumps({**m, "vocab": {**m["vocab"], "file": "../vocab.json"}}), "no valid vocabulary"),
])
def test_bad_manifests_are_refused(dataset, change, needle):
    manifest = json.loads((dataset / MANIFEST).read_text())
    (dataset / MANIFEST).write_text(change(manifest))
    with pytest.raises(CorpusError, match=needle):
        open_dataset(dataset)


def test_a_directory_without_manifest(tmp_path, dataset):
    with pytest.raises(CorpusError, match="not a prepared dataset"):
        open_dataset(tmp_path)
    (dataset / MANIFEST).unlink()
    with pytest.raises(CorpusError, match="unfinished"):
        open_dataset(dataset)
