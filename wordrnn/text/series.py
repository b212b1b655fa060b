"""Numeric series: CSV columns -> a (steps, features) float array, and its normalisation.

NumPy and the standard library only. A series model sees z-scored values (each column minus its
mean, divided by its standard deviation) so one learning rate suits any units; the ``Scaler``
that did it is saved in the model's manifest and undoes it for forecasts. Every problem with the
input (missing file or column, empty cells, text, NaN, infinity or values whose squares overflow, too
few rows) is a ``SeriesError`` naming the file, line and column.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.errors import SeriesError, option

MIN_STEPS = 3  # two (input, target) pairs: the least that trains anything
MAX_LINE_CHARS = 1 << 20  # a CSV row longer than this is not a series (csv bounds each field at 128 KiB)
# Beyond this a value's square overflows float64 (1.8e308): the scaler's variance would be infinite and
# a trained model's forecasts all null. No measured series comes near it; a rescaled column fits.
MAX_MAGNITUDE = 1e150


@dataclass(frozen=True)
class Series:
    """Columns read from a CSV file.

    Args:
        values: float array (steps, features), in file order.
        columns: the column names, one per feature.
        source: where it came from (for messages and the model manifest).
    """

    values: np.ndarray
    columns: tuple[str, ...]
    source: str = ""

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Scaler:
    """Per-column z-scoring, stored in the model manifest so forecasts are read back in the data's units."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        values = np.asarray(values, np.float64)
        std = values.std(axis=0)
        scale = np.where(std > 1e-12 * np.maximum(np.abs(values).max(axis=0), 1.0), std, 1.0)  # constant column: 1
        return cls(tuple(float(m) for m in values.mean(axis=0)), tuple(float(s) for s in scale))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((np.asarray(values, np.float64) - self.mean) / self.scale).astype(np.float32)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, np.float64) * self.scale + self.mean

    def to_json(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "scale": list(self.scale)}

    @classmethod
    def from_json(cls, data: Any, features: int) -> Scaler:
        """The saved scaler, checked (a damaged manifest must not silently mis-scale forecasts)."""
        try:
            mean, scale = tuple(float(v) for v in data["mean"]), tuple(float(v) for v in data["scale"])
        except (TypeError, KeyError, ValueError):
            raise SeriesError("the model's normalisation parameters are missing or damaged; retrain it") from None
        if len(mean) != features or len(scale) != features or not all(math.isfinite(v) and v > 0 for v in scale):
            raise SeriesError("the model's normalisation parameters do not fit its features; retrain it")
        return cls(mean, scale)


def _parse(text: str, where: str) -> float:
    cell = text.strip()
    if not cell:
        raise SeriesError(f"{where} is empty; fill in or remove the missing value")
    try:
        value = float(cell)
    except ValueError:
        raise SeriesError(f"{where} is not a number ({cell[:40]!r}); choose a numeric {option('columns')}") from None
    if not math.isfinite(value):
        raise SeriesError(f"{where} is {cell[:40]!r}; remove or fill in NaN and infinite values")
    if abs(value) > MAX_MAGNITUDE:
        raise SeriesError(f"{where} is {cell[:40]!r}, beyond ±{MAX_MAGNITUDE:g}; divide the column by a power "
                          "of ten so its values fit")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _open_regular(path: Path, encoding: str) -> Any:
    """``path`` opened as text, if it is a regular file: a device (/dev/zero) would be read forever
    and a FIFO would block, so neither is opened for reading as such."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "is a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise SeriesError(f"{path}: {what}; give the path of a CSV file")
    return open(fd, newline="", encoding=encoding)


def _bounded_lines(handle: Any, path: Path) -> Iterator[str]:
    """The file's lines, each read at most ``MAX_LINE_CHARS`` at a time: a file with no line breaks
    must not be read whole into memory to find where its first line ends."""
    for number in itertools.count(1):
        line = handle.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_LINE_CHARS:
            raise SeriesError(f"{path}: line {number} is longer than {MAX_LINE_CHARS:,} characters; "
                              "give a CSV file with one row per line")
        yield line


def _read_rows(path: Path, encoding: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file, each with the line of the file it ends on (for messages:
    blank lines are skipped, so a row's index is not its line); every way the file cannot be read
    is a ``SeriesError``."""
    try:
        with _open_regular(path, encoding) as handle:
            reader = csv.reader(_bounded_lines(handle, path))
            return [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except FileNotFoundError:
        raise SeriesError(f"{path}: no such file; give the path of a CSV file") from None
    except IsADirectoryError:
        raise SeriesError(f"{path}: is a directory; give the path of a CSV file") from None
    except UnicodeDecodeError:
        raise SeriesError(f"{path}: not a {encoding} text file; give a CSV file") from None
    except (OSError, csv.Error) as exc:
        raise SeriesError(f"{path}: cannot read it as CSV ({exc})") from None


def _names(names: list[str], most: int = 10) -> str:
    """Column names for a one-line message: the first ``most``, each cut to 40 characters and quoted
    when it holds a line break or another unprintable character (a 20,000-column header is not
    worth a 149 KB error line)."""
    shown = [name[:40] if name[:40].isprintable() else repr(name[:40]) for name in names[:most]]
    return ", ".join(shown) + (f", and {len(names) - most:,} more" if len(names) > most else "")


def read_csv(path: str | Path, columns: list[str] | tuple[str, ...] | None = None, min_steps: int = MIN_STEPS,
             encoding: str = "utf-8-sig") -> Series:
    """Read numeric columns of a CSV file.

    Args:
        columns: column names from the header row; None picks the only column of a one-column file.
            A file whose first row is all numbers has no header: its columns are named "1", "2"...
        min_steps: fewer rows than this is an error (a model needs some pairs to learn from).
    """
    path = Path(path)
    rows = _read_rows(path, encoding)
    if not rows:
        raise SeriesError(f"{path}: the file is empty; give a CSV with a header row and numeric values")

    first = rows[0][1]
    has_header = not all(_is_number(cell) for cell in first)
    header = [cell.strip() for cell in first] if has_header else [str(i + 1) for i in range(len(first))]
    body = rows[1:] if has_header else rows
    if columns is None:
        if len(header) != 1:
            raise SeriesError(f"{path}: has {len(header):,} columns ({_names(header)}); choose one or more with "
                              f"{option('columns')}")
        columns = header
    index = []
    for name in columns:
        if name not in header:
            raise SeriesError(f"{path}: no column named {name[:40]!r} (the columns are: {_names(header)})")
        index.append(header.index(name))

    values = np.empty((len(body), len(index)), np.float64)
    for r, (line, row) in enumerate(body):
        for c, column in enumerate(index):
            where = f"{path}: line {line}, column {columns[c][:40]!r}"
            if column >= len(row):
                raise SeriesError(f"{where} is missing (the row has only {len(row)} fields)")
            values[r, c] = _parse(row[column], where)
    if len(values) < min_steps:
        raise SeriesError(f"{path}: the series has {len(values)} values but at least {min_steps} are needed; "
                          "give a longer series")
    return Series(values, tuple(columns), str(path))


def sine_series(points: int = 36, start: int = 0) -> np.ndarray:
    """sin(x) for x = start, start+1, ... (the classic demo's data), as (points, 1) float32."""
    return np.sin(np.arange(start, start + points, dtype=np.float64)).astype(np.float32)[:, None]


def mse(predicted: np.ndarray, expected: np.ndarray) -> float:
    """Mean squared error over every point and feature."""
    predicted, expected = np.asarray(predicted, np.float64), np.asarray(expected, np.float64)
    return float(np.mean((predicted.reshape(expected.shape) - expected) ** 2))
