"""``wordrnn/store/npz.py``: an archive's declared arrays, checked from their headers alone."""

from __future__ import annotations

import io

import numpy as np
import pytest

from wordrnn.store.npz import ArrayLimits, DeclarationError, check_declared


def archive(compressed: bool = False, **arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("compressed", [False, True])
def test_what_numpy_writes_passes_within_its_limits(compressed):
    data = archive(compressed, w=np.zeros((4, 8), np.float16), b=np.arange(8), s=np.float32(1))
    check_declared(data)
    check_declared(data, ArrayLimits(max_dim=8, max_elements=41))


def test_arrays_beyond_the_limits_are_refused_before_they_are_read():
    data = archive(True, w=np.zeros((1000, 1000), np.float32))  # 4 MB declared, a few KB stored
    with pytest.raises(DeclarationError, match="'w' declares shape"):
        check_declared(data, ArrayLimits(max_dim=999, max_elements=10**9))
    with pytest.raises(DeclarationError, match="more values than"):
        check_declared(data, ArrayLimits(max_dim=1000, max_elements=999_999))
    with pytest.raises(DeclarationError, match="declares shape"):
        check_declared(archive(w=np.zeros((2, 2, 2))), ArrayLimits(max_dim=10, max_elements=100))


def test_object_arrays_are_refused_from_the_header():
    with pytest.raises(DeclarationError, match="not a numeric array"):
        check_declared(archive(w=np.array([None], dtype=object)))


def test_without_limits_a_compression_bomb_is_refused_but_real_tables_pass():
    bomb = archive(True, counts=np.zeros(16 << 20, np.uint8))  # 16 MB of zeros in ~16 KB
    with pytest.raises(DeclarationError, match="far more data than"):
        check_declared(bomb)
    words = "\n".join(f"word{i}" for i in range(200_000)).encode()
    check_declared(archive(True, words=np.frombuffer(words, np.uint8), probs=np.random.default_rng(0).random(200_000)))
