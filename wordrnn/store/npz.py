"""What an ``.npz`` archive declares, checked before any array is read.

``np.load`` allocates each array at the shape its ``.npy`` header declares before it reads a byte
of data, and deflate turns 4 GB of zeros into 4 MB: a small archive with a matching checksum can
therefore make a command allocate gigabytes. So the headers are read first (a few hundred bytes
each, streamed out of the zip), and each array is checked against what a model of its config can
hold (``ArrayLimits``) and against the size its zip member really has.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass

import numpy as np

NUMERIC_KINDS = "biuf"
# Without a config to check against (an n-gram table, a lexicon), the declared data may be at most
# this many times the archive's size: what numpy's deflate achieves on real tables is ~3x; a bomb ~1000x.
MAX_RATIO = 32
SLACK_BYTES = 1 << 20


@dataclass(frozen=True)
class ArrayLimits:
    """The largest arrays a file may declare.

    Args:
        max_dim: the largest length of any one axis.
        max_elements: the most elements of all arrays together.
        max_ndim: the most axes of one array.
    """

    max_dim: int
    max_elements: int
    max_ndim: int = 2


class DeclarationError(ValueError):
    """An archive member declares an array it may not hold (the caller words it for its file)."""


def _header(member: io.BufferedIOBase) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a ``.npy`` member declares (its header only)."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise DeclarationError(f".npy format version {version} is not one numpy writes for numbers")
    return tuple(int(n) for n in shape), dtype


def check_declared(data: bytes, limits: ArrayLimits | None = None) -> None:
    """Refuse an archive whose arrays are not numeric, exceed ``limits`` or do not fit their member.

    Raises:
        DeclarationError: which array declares what, for the message.
        zipfile.BadZipFile, ValueError, OSError: the archive is not readable as one.
    """
    total = declared_bytes = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue  # np.load returns such members as bytes: refused as "not a numeric array"
            key = info.filename[:-4]
            with archive.open(info) as member:
                shape, dtype = _header(member)  # type: ignore[arg-type]
                offset = member.tell()
            if dtype.kind not in NUMERIC_KINDS or dtype.hasobject:
                raise DeclarationError(f"{key!r} declares {dtype}, not a numeric array")
            elements = math.prod(shape)
            if limits is not None:
                if len(shape) > limits.max_ndim or any(n > limits.max_dim for n in shape):
                    raise DeclarationError(f"{key!r} declares shape {shape}, larger than its config allows")
                total += elements
                if total > limits.max_elements:
                    raise DeclarationError(f"{key!r} declares shape {shape}: more values than its config allows")
            declared_bytes += elements * dtype.itemsize
            if declared_bytes > MAX_RATIO * len(data) + SLACK_BYTES:
                raise DeclarationError(f"{key!r} declares shape {shape}: far more data than the archive's "
                                       f"{len(data):,} bytes can hold")
            if info.file_size != offset + elements * dtype.itemsize:
                raise DeclarationError(f"{key!r} declares shape {shape} but its member holds "
                                       f"{info.file_size - offset} bytes of data")


__all__ = ["ArrayLimits", "DeclarationError", "check_declared"]
