"""CSV columns -> float series, every bad input as a clear SeriesError, and the saved normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wordrnn.errors import SeriesError
from wordrnn.text.series import Scaler, mse, read_csv, sine_series


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_a_column_by_name(tmp_path):
    path = write(tmp_path, "day,temp,note\n1,20.5,a\n2,21,b\n3,-1e1,c\n")
    series = read_csv(path, ["temp"])
    assert series.columns == ("temp",)
    assert series.values.shape == (3, 1)
    assert series.values[:, 0].tolist() == [20.5, 21.0, -10.0]
    assert len(series) == 3


def test_reads_several_columns_in_the_order_asked(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n4,5,6\n7,8,9\n")
    series = read_csv(path, ["c", "a"])
    assert series.columns == ("c", "a")
    assert series.values.tolist() == [[3, 1], [6, 4], [9, 7]]


def test_single_column_file_needs_no_column_name_and_blank_lines_are_skipped(tmp_path):
    path = write(tmp_path, "\ufeffvalue\n1\n\n2\n3\n")  # BOM from spreadsheet exports
    series = read_csv(path)
    assert series.columns == ("value",)
    assert series.values[:, 0].tolist() == [1, 2, 3]


def test_headerless_file_names_columns_by_position(tmp_path):
    path = write(tmp_path, "1,10\n2,20\n3,30\n")
    assert read_csv(path, ["2"]).values[:, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize("text, columns, needle", [
    ("a,b\n1,2\n3,4\n5,6\n", ["z"], "no column named 'z' (the columns are: a, b)"),
    ("a,b\n1,2\n3,4\n5,6\n", None, "has 2 columns (a, b); choose one or more with columns"),
    ("a\n1\nabc\n3\n", ["a"], "line 3, column 'a' is not a number ('abc')"),
    ("a\n1\nnan\n3\n", ["a"], "line 3, column 'a' is 'nan'; remove or fill in NaN"),
    ("a\n1\n-inf\n3\n", ["a"], "is '-inf'; remove or fill in NaN and infinite values"),
    ("a,b\n1,2\n3,\n5,6\n", ["b"], "line 3, column 'b' is empty"),
    ("a,b\n1,2\n3\n5,6\n", ["b"], "line 3, column 'b' is missing (the row has only 1 fields)"),
    ("a\n1\n2\n", ["a"], "has 2 values but at least 3 are needed"),
    ("a\n", ["a"], "has 0 values"),
    ("", None, "the file is empty"),
])
def test_bad_input_is_a_clear_series_error(tmp_path, text, columns, needle):
    with pytest.raises(SeriesError) as info:
        read_csv(write(tmp_path, text), columns)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_errors_name_the_line_of_the_file_after_blank_lines(tmp_path):
    with pytest.raises(SeriesError, match="line 6, column 'a' is not a number"):
        read_csv(write(tmp_path, "\na\n\n1\n\nabc\n3\n"), ["a"])
    with pytest.raises(SeriesError, match="line 5, column '1' is empty"):
        read_csv(write(tmp_path, "1,2\n\n3,4\n\n,6\n"), ["1"])


@pytest.mark.parametrize("columns", [["nope"], None])
def test_a_file_of_many_columns_gives_a_short_error(tmp_path, columns):
    header = ",".join(f"column_{i}" for i in range(20_000))
    with pytest.raises(SeriesError) as info:
        read_csv(write(tmp_path, f"{header}\n" + ",".join(["1"] * 20_000) + "\n"), columns)
    message = str(info.value)
    assert len(message) < 600 and "column_0, column_1" in message and "and 19,990 more" in message


def test_column_names_are_shown_on_one_line(tmp_path):
    with pytest.raises(SeriesError) as info:
        read_csv(write(tmp_path, '"a\nb",c\n1,2\n3,4\n5,6\n'), ["x"])
    assert "\n" not in str(info.value) and "'a\\nb', c" in str(info.value)


def test_unreadable_paths_are_series_errors(tmp_path):
    with pytest.raises(SeriesError, match="no such file"):
        read_csv(tmp_path / "missing.csv")
    with pytest.raises(SeriesError, match="is a directory"):
        read_csv(tmp_path)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(SeriesError, match="not a utf-8-sig text file"):
        read_csv(binary)


def test_min_steps_can_be_lowered_for_priming_files(tmp_path):
    assert len(read_csv(write(tmp_path, "a\n5\n"), ["a"], min_steps=1)) == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=2), min_size=2, max_size=30))
def test_scaler_round_trips_and_z_scores(rows):
    values = np.asarray(rows)
    scaler = Scaler.fit(values)
    scaled = scaler.transform(values)
    assert scaled.dtype == np.float32
    assert np.allclose(scaler.inverse(scaled), values, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(values).max()))
    assert np.all(np.abs(scaled.mean(axis=0)) < 1e-3)
    again = Scaler.from_json(scaler.to_json(), 2)
    assert again == scaler


def test_constant_column_gets_unit_scale():
    scaler = Scaler.fit(np.array([[3.0, 1.0], [3.0, 2.0], [3.0, 3.0]]))
    assert scaler.scale[0] == 1.0
    assert np.isfinite(scaler.transform(np.array([[3.0, 2.0]]))).all()


@pytest.mark.parametrize("data", [None, {}, {"mean": [0.0], "scale": [0.0]}, {"mean": [0.0], "scale": ["x"]},
                                  {"mean": [0.0, 1.0], "scale": [1.0]}])
def test_damaged_scaler_is_refused(data):
    with pytest.raises(SeriesError, match="normalisation parameters"):
        Scaler.from_json(data, 1)


@pytest.mark.parametrize("value", ["1e200", "-1e200", "1e308", "-1.7e308", "1e151"])
def test_values_near_the_float_limits_are_refused(tmp_path, value):
    """Their squares overflow: the scaler's variance would be infinite and forecasts all null."""
    with pytest.raises(SeriesError, match=rf"line 3, column 'v' is '{value}', beyond ±1e\+150; divide the column"):
        read_csv(write(tmp_path, f"v\n1\n{value}\n3\n"), ["v"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e150, 1e150), min_size=2, max_size=30), st.sampled_from([1.0, 1e-300, 1e100, 1e150]))
def test_the_scaler_stays_finite_up_to_the_limit(column, unit):
    values = np.clip(np.asarray(column)[:, None] * unit, -1e150, 1e150)
    scaler = Scaler.fit(values)
    assert all(np.isfinite(scaler.mean)) and all(np.isfinite(scaler.scale)) and min(scaler.scale) > 0
    assert np.isfinite(scaler.transform(values)).all()
    assert Scaler.from_json(scaler.to_json(), 1) == scaler


def test_sine_series_is_the_classic_data():
    data = sine_series(36)
    assert data.shape == (36, 1) and data.dtype == np.float32
    assert np.allclose(data[:, 0], np.sin(np.arange(36)), atol=1e-7)
    assert np.allclose(sine_series(3, start=36)[:, 0], np.sin([36, 37, 38]), atol=1e-7)


def test_mse():
    assert mse(np.array([[1.0], [2.0]]), np.array([1.0, 4.0]).reshape(2, 1)) == 2.0
    assert mse(np.zeros(3), np.zeros((3, 1))) == 0.0


def _read_limited(path: str, seconds: int = 20) -> str:
    """``read_csv(path)`` in a child process capped at 1 GB and ``seconds``: its outcome, as text.

    /dev/zero once grew ``train-series`` to 5 GB in 16 s; a regression must fail here, not take the machine.
    """
    import subprocess
    import sys

    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from wordrnn.text.series import read_csv\n"
            "from wordrnn.errors import SeriesError\n"
            "try:\n    read_csv(sys.argv[1], ['a'])\nexcept SeriesError as exc:\n    print('SeriesError:', exc)\n")
    try:
        done = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return "timed out"
    return done.stdout + done.stderr


def test_devices_and_fifos_are_refused_without_reading_them(tmp_path):
    """Issue 18 item 6: ``train-series /dev/zero`` grew without bound and a FIFO hung."""
    import os

    assert _read_limited("/dev/zero").startswith("SeriesError: /dev/zero: not a regular file")
    os.mkfifo(tmp_path / "fifo.csv")
    assert _read_limited(str(tmp_path / "fifo.csv")).startswith("SeriesError:")


def test_a_line_too_long_for_a_csv_is_refused(tmp_path):
    from wordrnn.text import series

    path = tmp_path / "long.csv"
    path.write_text("a\n1\n2\n" + "3" * (series.MAX_LINE_CHARS + 10) + "\n4\n")
    with pytest.raises(SeriesError, match="line 4 is longer than"):
        read_csv(path, ["a"])
    path.write_text("a\n1\n2\n" + "3" * 100_000 + "\n")  # long, but a line still: read, and an infinity
    with pytest.raises(SeriesError, match="line 4, column 'a'") as info:
        read_csv(path, ["a"])
    assert len(str(info.value)) < 300
